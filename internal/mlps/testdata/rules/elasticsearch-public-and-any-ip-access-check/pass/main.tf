resource "alicloud_elasticsearch_instance" "rag" {
  version          = "7.10_with_X-Pack"
  vswitch_id       = "vsw-search"
  enable_public    = true
  public_whitelist = ["203.0.113.10/32"]
}
