output "instance_id" {
  description = "The RDS instance."
  value       = alicloud_db_instance.this.id
}

output "host" {
  description = "The internal endpoint."
  value       = alicloud_db_instance.this.connection_string
}

output "port" {
  description = "The port."
  value       = alicloud_db_instance.this.port
}

output "database" {
  description = "Gatehouse's database."
  value       = alicloud_db_database.gatehouse.name
}

output "account" {
  description = "Gatehouse's account."
  value       = alicloud_rds_account.gatehouse.account_name
  depends_on  = [alicloud_db_account_privilege.gatehouse]
}
