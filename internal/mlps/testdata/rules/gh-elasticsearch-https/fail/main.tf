resource "alicloud_elasticsearch_instance" "rag" {
  version    = "7.10_with_X-Pack"
  vswitch_id = "vsw-search"

}
