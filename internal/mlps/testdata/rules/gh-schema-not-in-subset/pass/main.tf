resource "alicloud_vpc" "main" {
  vpc_name   = "gatehouse"
  cidr_block = "10.0.0.0/16"
}
