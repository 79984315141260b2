resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"
  server_side_encryption_rule {
    sse_algorithm = "AES256"
  }
}
