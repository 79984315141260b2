variable "minimum_password_length" {
  description = "Shortest RAM user password (MLPS 2.0 8.1.4.1 a: complex passwords)."
  type        = number
  default     = 14
  validation {
    condition     = var.minimum_password_length >= 12 && var.minimum_password_length <= 32
    error_message = "At least 12 characters."
  }
}

variable "max_password_age" {
  description = "Days before a RAM user password must be changed (1-1095)."
  type        = number
  default     = 90
}

variable "max_login_attempts" {
  description = "Failed logons before the account is locked for an hour (MLPS 2.0 8.1.4.1 b)."
  type        = number
  default     = 5
}

variable "login_session_hours" {
  description = "Console session lifetime, in hours (1-24): sessions time out (8.1.4.1 b)."
  type        = number
  default     = 6
}

variable "max_idle_days_for_users" {
  description = "Console logon is disabled for RAM users idle this long: 90, 180, 365 or 730."
  type        = number
  default     = 90
}

variable "max_idle_days_for_access_keys" {
  description = "AccessKeys idle this long are disabled: 90, 180, 365 or 730."
  type        = number
  default     = 90
}

variable "login_network_masks" {
  description = "Where RAM users may log on to the console from (CIDRs separated by ;); null: anywhere."
  type        = string
  default     = null
}
