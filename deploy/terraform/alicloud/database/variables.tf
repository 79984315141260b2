variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "zone_ids" {
  description = "The primary's zone, then the standby's (a different one: high availability across zones)."
  type        = list(string)
  validation {
    condition     = length(var.zone_ids) >= 2 && var.zone_ids[0] != var.zone_ids[1]
    error_message = "Give two different zones: the standby runs in another zone than the primary."
  }
}

variable "vswitch_ids" {
  description = "The data vSwitches, in the order of zone_ids."
  type        = list(string)
}

variable "allowed_cidrs" {
  description = "The only sources the database admits (security_ips): the application vSwitches."
  type        = list(string)
  validation {
    condition     = length(var.allowed_cidrs) > 0 && alltrue([for c in var.allowed_cidrs : !contains(["0.0.0.0/0", "0.0.0.0"], c)])
    error_message = "Allow the application vSwitches only, never 0.0.0.0/0."
  }
}

variable "kms_key_id" {
  description = "KMS key of the cloud-disk encryption (the audit module's)."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "16.0"
}

variable "instance_type" {
  description = "RDS instance class (high-availability edition)."
  type        = string
  default     = "pg.n2.medium.2c"
}

variable "storage_gb" {
  description = "Storage (ESSD), in GB."
  type        = number
  default     = 50
}

variable "sql_audit_days" {
  description = "How long SQL audit (SQL Explorer) records are kept: 180, 365, 1095 or 1825 days."
  type        = number
  default     = 180
  validation {
    condition     = contains([180, 365, 1095, 1825], var.sql_audit_days)
    error_message = "RDS keeps SQL audit records for 30, 180, 365, 1095 or 1825 days; MLPS 2.0 level 3 asks for at least 180."
  }
}

variable "enable_tde" {
  description = "Also turn on transparent data encryption with the key (cannot be turned off again); cloud-disk encryption is always on."
  type        = bool
  default     = false
}

variable "database" {
  description = "Gatehouse's database."
  type        = string
  default     = "gatehouse"
}

variable "account" {
  description = "Gatehouse's database account (owner of its database)."
  type        = string
  default     = "gatehouse"
}

variable "password" {
  description = "The account's password (8-32 characters; letters, digits, !@#$%^&*()_+-=). It ends up in the Terraform state: keep the state encrypted and private."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.password) >= 8 && length(var.password) <= 32
    error_message = "The password must be 8 to 32 characters long."
  }
}
