resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"

}

resource "alicloud_oss_bucket_policy" "b" {
  bucket = alicloud_oss_bucket.b.bucket
  policy = jsonencode({
    Version = "1"
    Statement = [{
      Effect    = "Deny"
      Action    = ["oss:*"]
      Principal = ["*"]
      Resource  = ["acs:oss:*:*:gatehouse-audit-archive", "acs:oss:*:*:gatehouse-audit-archive/*"]
      Condition = { Bool = { "acs:SecureTransport" = ["false"] } }
    }]
  })
}
