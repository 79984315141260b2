# ml-search-scenario.txt, step 1: "Define alicloud_vpc, alicloud_ecs_instance
# (using alinux image), alicloud_db_instance, alicloud_oss_bucket, and
# alicloud_elasticsearch_instance with mlps_compliance = true."
resource "alicloud_vpc" "main" {
  vpc_name   = "ml-search"
  cidr_block = "10.1.0.0/16"
}

resource "alicloud_ecs_instance" "app" {
  instance_type = "ecs.g7.large"
  image_id      = "aliyun_3_x64_20G_alibase_20250101.vhd"
}

resource "alicloud_elasticsearch_instance" "rag" {
  version         = "7.10_with_X-Pack"
  vswitch_id      = "vsw-search"
  mlps_compliance = true
}
