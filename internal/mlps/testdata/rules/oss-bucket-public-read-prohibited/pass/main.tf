resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"

}

resource "alicloud_oss_bucket_acl" "b" {
  bucket = alicloud_oss_bucket.b.id
  acl    = "private"
}
