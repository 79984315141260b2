resource "alicloud_log_store" "audit" {
  project_name  = "gatehouse"
  logstore_name = "audit"
}
