resource "alicloud_vpc" "main" {
  vpc_name   = "gatehouse"
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vpc_flow_log" "main" {
  resource_id    = alicloud_vpc.main.id
  resource_type  = "VPC"
  traffic_type   = "All"
  project_name   = "gatehouse"
  log_store_name = "flowlog"
}
