resource "alicloud_instance" "app" {
  instance_type              = "ecs.g7.large"
  image_id                   = "aliyun_3_x64_20G_alibase_20250101.vhd"
  vswitch_id                 = "vsw-app"
  security_groups            = ["sg-app"]
  internet_max_bandwidth_out = 0
}
