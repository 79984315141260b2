output "role_arn" {
  description = "The CI role: the runner assumes it (aliyun sts AssumeRole / AssumeRoleWithOIDC) and exports ALICLOUD_ACCESS_KEY_ID, ALICLOUD_ACCESS_KEY_SECRET and ALICLOUD_SECURITY_TOKEN from the answer."
  value       = alicloud_ram_role.ci.arn
}

output "policy_names" {
  description = "The custom policies attached to it."
  value       = [for p in alicloud_ram_policy.ci : p.policy_name]
}
