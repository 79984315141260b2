resource "alicloud_db_instance" "pg" {
  engine           = "PostgreSQL"
  engine_version   = "16.0"
  instance_type    = "pg.n4.2c.2m"
  instance_storage = 100
  vswitch_id       = "vsw-db"
  ssl_action       = "Open"
}
