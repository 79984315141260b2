# Buckets named after the account, which is known only at apply time: a
# for_each over a map whose keys are known and whose values are not, and a
# bucket policy written out with jsonencode that names the buckets. Both are
# decidable, as Terraform decides them: the instances by the keys, the
# policy's Deny by its structure.
data "alicloud_account" "current" {}

locals {
  buckets = {
    archive = "archive-${data.alicloud_account.current.id}"
    logs    = "logs-${data.alicloud_account.current.id}"
  }
}

resource "alicloud_oss_bucket" "this" {
  for_each        = local.buckets
  bucket          = each.value
  redundancy_type = "ZRS"

  server_side_encryption_rule {
    sse_algorithm = "KMS"
  }
  versioning {
    status = "Enabled"
  }
}

resource "alicloud_oss_bucket_acl" "this" {
  for_each = local.buckets
  bucket   = alicloud_oss_bucket.this[each.key].bucket
  acl      = "private"
}

resource "alicloud_oss_bucket_policy" "https_only" {
  for_each = local.buckets
  bucket   = alicloud_oss_bucket.this[each.key].bucket
  policy = jsonencode({
    Version = "1"
    Statement = [{
      Effect    = "Deny"
      Principal = ["*"]
      Action    = ["oss:*"]
      Resource  = ["acs:oss:*:*:${alicloud_oss_bucket.this[each.key].bucket}/*"]
      Condition = { Bool = { "acs:SecureTransport" = ["false"] } }
    }]
  })
}

resource "alicloud_oss_bucket_logging" "this" {
  for_each      = local.buckets
  bucket        = alicloud_oss_bucket.this[each.key].bucket
  target_bucket = alicloud_oss_bucket.this["logs"].bucket
  target_prefix = "${each.key}/"
}
