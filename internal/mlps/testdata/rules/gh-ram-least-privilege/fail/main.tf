resource "alicloud_ram_role_policy_attachment" "vpc" {
  role_name   = "gatehouse-ci"
  policy_name = "AliyunVPCFullAccess"
  policy_type = "System"
}
