resource "alicloud_ram_role_policy_attachment" "ci" {
  role_name   = "gatehouse-ci"
  policy_name = "gatehouse-ci-deploy"
  policy_type = "Custom"
}
