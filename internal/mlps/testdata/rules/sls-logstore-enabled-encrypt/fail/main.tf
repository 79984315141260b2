resource "alicloud_log_store" "s" {
  project_name     = "gatehouse"
  logstore_name    = "audit"
  retention_period = 180
}
