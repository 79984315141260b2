output "kms_key_id" {
  description = "The KMS key (disks, RDS, OSS, Elasticsearch)."
  value       = alicloud_kms_key.this.id
}

output "log_project" {
  description = "The SLS project of the audit logs."
  value       = alicloud_log_project.audit.project_name
}

output "flow_log_logstore" {
  description = "The logstore for the VPC flow logs."
  value       = alicloud_log_store.flow.logstore_name
}

output "trail_name" {
  description = "The ActionTrail trail."
  value       = alicloud_actiontrail_trail.this.trail_name
}

output "log_retention_days" {
  description = "How long the trail and the flow logs are kept."
  value       = var.log_retention_days
}
