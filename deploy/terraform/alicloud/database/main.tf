# The database: RDS for PostgreSQL, high-availability edition with the
# standby in another zone, reachable only from the application vSwitches,
# SSL on, cloud disks encrypted with the stack's KMS key, SQL audit kept at
# least 180 days, deletion protection. Gatehouse connects with
# sslmode=verify-full (or require) and migrates the schema itself.

resource "alicloud_db_instance" "this" {
  instance_name              = "${var.name}-pg"
  engine                     = "PostgreSQL"
  engine_version             = var.engine_version
  instance_type              = var.instance_type
  instance_storage           = var.storage_gb
  db_instance_storage_type   = "cloud_essd"
  category                   = "HighAvailability"
  instance_charge_type       = "Postpaid"
  zone_id                    = var.zone_ids[0]
  zone_id_slave_a            = var.zone_ids[1]
  vswitch_id                 = join(",", slice(var.vswitch_ids, 0, 2))
  security_ips               = var.allowed_cidrs
  security_ip_mode           = "safety"
  whitelist_network_type     = "VPC"
  ssl_action                 = "Open"
  ca_type                    = "aliyun"
  encryption_key             = var.kms_key_id
  tde_status                 = var.enable_tde ? "Enabled" : null
  tde_encryption_key         = var.enable_tde ? var.kms_key_id : null
  sql_collector_status       = "Enabled"
  sql_collector_config_value = var.sql_audit_days
  deletion_protection        = true
  storage_auto_scale         = "Enable"
  storage_threshold          = 20
  storage_upper_bound        = var.storage_gb * 4
  auto_upgrade_minor_version = "Auto"
  monitoring_period          = 60
  tags                       = var.tags
}

resource "alicloud_db_database" "gatehouse" {
  instance_id   = alicloud_db_instance.this.id
  name          = var.database
  character_set = "UTF8,C,en_US.utf8"
  description   = "Gatehouse store"
}

resource "alicloud_rds_account" "gatehouse" {
  db_instance_id      = alicloud_db_instance.this.id
  account_name        = var.account
  account_password    = var.password
  account_type        = "Normal"
  account_description = "Gatehouse application"
}

resource "alicloud_db_account_privilege" "gatehouse" {
  instance_id  = alicloud_db_instance.this.id
  account_name = alicloud_rds_account.gatehouse.account_name
  privilege    = "DBOwner"
  db_names     = [alicloud_db_database.gatehouse.name]
}
