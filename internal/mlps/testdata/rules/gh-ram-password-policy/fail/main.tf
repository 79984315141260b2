resource "alicloud_ram_account_password_policy" "p" {
  minimum_password_length = 6
}
