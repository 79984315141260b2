variable "name" {
  type = string
}

variable "kms_key" {
  type = string
}

resource "alicloud_oss_bucket" "this" {
  bucket          = var.name
  redundancy_type = "ZRS"
}

resource "alicloud_oss_bucket_acl" "this" {
  bucket = alicloud_oss_bucket.this.id
  acl    = "private"
}

resource "alicloud_oss_bucket_server_side_encryption" "this" {
  bucket            = alicloud_oss_bucket.this.bucket
  sse_algorithm     = "KMS"
  kms_master_key_id = var.kms_key
}

resource "alicloud_oss_bucket_versioning" "this" {
  bucket = alicloud_oss_bucket.this.bucket
  status = "Enabled"
}

resource "alicloud_oss_bucket_logging" "this" {
  bucket        = alicloud_oss_bucket.this.id
  target_bucket = "${var.name}-logs"
}

resource "alicloud_oss_bucket_policy" "this" {
  bucket = alicloud_oss_bucket.this.bucket
  policy = jsonencode({
    Version = "1"
    Statement = [{
      Effect    = "Deny"
      Action    = ["oss:*"]
      Principal = ["*"]
      Resource  = ["acs:oss:*:*:${var.name}", "acs:oss:*:*:${var.name}/*"]
      Condition = { Bool = { "acs:SecureTransport" = ["false"] } }
    }]
  })
}

output "name" {
  value = alicloud_oss_bucket.this.bucket
}
