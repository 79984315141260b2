resource "alicloud_vpc" "main" {
  vpc_name        = "gatehouse"
  mlps_compliance = true
}
