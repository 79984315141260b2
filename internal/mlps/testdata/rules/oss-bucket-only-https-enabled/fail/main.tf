resource "alicloud_oss_bucket" "b" {
  bucket = "gatehouse-audit-archive"

}

resource "alicloud_oss_bucket_policy" "b" {
  bucket = alicloud_oss_bucket.b.bucket
  policy = jsonencode({
    Version   = "1"
    Statement = [{ Effect = "Allow", Action = ["oss:GetObject"], Principal = ["123"], Resource = ["acs:oss:*:*:gatehouse-audit-archive/*"] }]
  })
}
