resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"

}

resource "alicloud_oss_bucket_server_side_encryption" "b" {
  bucket        = alicloud_oss_bucket.b.bucket
  sse_algorithm = "KMS"
}
