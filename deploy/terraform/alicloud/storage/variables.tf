variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "kms_key_id" {
  description = "KMS key of the buckets' server-side encryption (the audit module's)."
  type        = string
}

variable "archive_retention_days" {
  description = "How long objects in the archive bucket (audit-log exports, checkpoint files, database dumps) are kept before they expire; at least 180 days."
  type        = number
  default     = 365
  validation {
    condition     = var.archive_retention_days >= 180
    error_message = "Keep archives at least 180 days (MLPS 2.0 level 3 log retention)."
  }
}

variable "access_log_retention_days" {
  description = "How long the buckets' access logs are kept; at least 180 days."
  type        = number
  default     = 180
  validation {
    condition     = var.access_log_retention_days >= 180
    error_message = "Keep access logs at least 180 days (MLPS 2.0 level 3)."
  }
}

variable "force_destroy" {
  description = "Let terraform destroy delete non-empty buckets (never in production)."
  type        = bool
  default     = false
}
