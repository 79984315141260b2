output "mfa_operation_for_login" {
  description = "MFA at console logon: mandatory for every RAM user."
  value       = alicloud_ram_security_preference.this.mfa_operation_for_login
}

output "minimum_password_length" {
  description = "The shortest RAM user password."
  value       = alicloud_ram_password_policy.this.minimum_password_length
}
