resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"

}

resource "alicloud_oss_bucket_versioning" "b" {
  bucket = alicloud_oss_bucket.b.id
  status = "Suspended"
}
