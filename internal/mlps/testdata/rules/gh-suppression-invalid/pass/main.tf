# mlps:ignore vpc-flow-logs-enabled reason="flow logs are collected by the transit router of the landing zone"
resource "alicloud_vpc" "main" {
  vpc_name   = "gatehouse"
  cidr_block = "10.0.0.0/16"
}
