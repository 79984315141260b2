resource "alicloud_nat_gateway" "nat" {
  vpc_id = "vpc-1"
}
