# Storage: a private archive bucket for audit-log exports, checkpoint files
# and database backups, and a private bucket for access logs. Both:
# zone-redundant, SSE-KMS with the stack's key, versioned, private ACL
# (standalone resource) with public access blocked, a bucket policy that
# refuses every request not made over HTTPS, and access logging.

data "alicloud_account" "current" {}

locals {
  # Bucket names are global: the account id keeps them unique.
  buckets = {
    archive = "${var.name}-archive-${data.alicloud_account.current.id}"
    logs    = "${var.name}-logs-${data.alicloud_account.current.id}"
  }
  retention = {
    archive = var.archive_retention_days
    logs    = var.access_log_retention_days
  }
}

resource "alicloud_oss_bucket" "this" {
  for_each        = local.buckets
  bucket          = each.value
  storage_class   = "Standard"
  redundancy_type = "ZRS"
  force_destroy   = var.force_destroy
  tags            = merge(var.tags, { purpose = each.key })

  server_side_encryption_rule {
    sse_algorithm     = "KMS"
    kms_master_key_id = var.kms_key_id
  }

  versioning {
    status = "Enabled"
  }

  lifecycle_rule {
    id      = "retention"
    enabled = true
    expiration {
      days = local.retention[each.key]
    }
    noncurrent_version_expiration {
      days = local.retention[each.key]
    }
    abort_multipart_upload {
      days = 7
    }
  }
}

resource "alicloud_oss_bucket_acl" "this" {
  for_each = local.buckets
  bucket   = alicloud_oss_bucket.this[each.key].bucket
  acl      = "private"
}

resource "alicloud_oss_bucket_public_access_block" "this" {
  for_each            = local.buckets
  bucket              = alicloud_oss_bucket.this[each.key].bucket
  block_public_access = true
}

# Deny every request that does not come over HTTPS.
resource "alicloud_oss_bucket_policy" "https_only" {
  for_each = local.buckets
  bucket   = alicloud_oss_bucket.this[each.key].bucket
  policy = jsonencode({
    Version = "1"
    Statement = [{
      Effect    = "Deny"
      Principal = ["*"]
      Action    = ["oss:*"]
      Resource = [
        "acs:oss:*:*:${alicloud_oss_bucket.this[each.key].bucket}",
        "acs:oss:*:*:${alicloud_oss_bucket.this[each.key].bucket}/*",
      ]
      Condition = {
        Bool = { "acs:SecureTransport" = ["false"] }
      }
    }]
  })
}

# Access logs of both buckets go to the logs bucket (its own under self/).
resource "alicloud_oss_bucket_logging" "this" {
  for_each      = local.buckets
  bucket        = alicloud_oss_bucket.this[each.key].bucket
  target_bucket = alicloud_oss_bucket.this["logs"].bucket
  target_prefix = each.key == "logs" ? "self/" : "${each.key}/"
}
