variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "log_retention_days" {
  description = "How long the trail and the VPC flow logs are kept in SLS. GB/T 22239-2019 8.1.4.3 with the Cybersecurity Law (art. 21) asks for at least 180 days."
  type        = number
  default     = 180
  validation {
    condition     = var.log_retention_days >= 180 && var.log_retention_days <= 3650
    error_message = "Keep logs for 180 to 3650 days: MLPS 2.0 level 3 asks for at least 180."
  }
}

variable "trail_oss_bucket" {
  description = "Also deliver the trail to this existing OSS bucket (private, SSE-KMS, versioned: the storage module's). Null: SLS only."
  type        = string
  default     = null
}

variable "kms_rotation_interval" {
  description = "How often the KMS key rotates (7d to 730d)."
  type        = string
  default     = "365d"
}

variable "kms_instance_id" {
  description = "KMS instance to create the key in (KMS 3.0); null for a default key."
  type        = string
  default     = null
}
