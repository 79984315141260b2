resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"

}

resource "alicloud_oss_bucket_logging" "b" {
  bucket        = alicloud_oss_bucket.b.id
  target_bucket = "gatehouse-access-logs"
  target_prefix = "audit-archive/"
}
