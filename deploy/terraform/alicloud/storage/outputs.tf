output "archive_bucket" {
  description = "The archive bucket: audit-log exports, checkpoint files, database dumps."
  value       = alicloud_oss_bucket.this["archive"].bucket
}

output "logs_bucket" {
  description = "The access-log bucket."
  value       = alicloud_oss_bucket.this["logs"].bucket
}

output "archive_intranet_endpoint" {
  description = "The archive bucket's internal endpoint (reachable from the VPC without the NAT gateway)."
  value       = alicloud_oss_bucket.this["archive"].intranet_endpoint
}
