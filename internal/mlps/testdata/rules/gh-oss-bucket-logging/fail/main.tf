resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"

}
