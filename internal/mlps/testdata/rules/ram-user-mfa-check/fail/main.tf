resource "alicloud_ram_login_profile" "alice" {
  user_name = "alice"
  password  = var.initial_password
}

variable "initial_password" {
  sensitive = true
}
