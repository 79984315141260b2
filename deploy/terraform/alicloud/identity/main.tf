# The account's RAM baseline: a strong password policy and MFA for every
# RAM user at console logon (GB/T 22239-2019 8.1.4.1: identification and
# authentication, two factors for administrators). Both are account-wide
# singletons: one stack per account manages them. Terraform cannot delete
# them; removing this module leaves the settings as they are.

resource "alicloud_ram_password_policy" "this" {
  minimum_password_length              = var.minimum_password_length
  require_lowercase_characters         = true
  require_uppercase_characters         = true
  require_numbers                      = true
  require_symbols                      = true
  minimum_password_different_character = 4
  password_not_contain_user_name       = true
  max_password_age                     = var.max_password_age
  password_reuse_prevention            = 5
  max_login_attemps                    = var.max_login_attempts
  hard_expiry                          = false
}

resource "alicloud_ram_security_preference" "this" {
  mfa_operation_for_login          = "mandatory"
  operation_for_risk_login         = "enforceVerify"
  verification_types               = ["sms", "email"]
  enable_save_mfa_ticket           = false
  allow_user_to_manage_mfa_devices = true
  allow_user_to_change_password    = true
  allow_user_to_manage_access_keys = false
  login_session_duration           = var.login_session_hours
  max_idle_days_for_users          = var.max_idle_days_for_users
  max_idle_days_for_access_keys    = var.max_idle_days_for_access_keys
  login_network_masks              = var.login_network_masks
}
