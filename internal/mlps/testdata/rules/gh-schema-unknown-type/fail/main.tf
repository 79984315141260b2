resource "alicloud_ecs_instance" "app" {
  instance_type = "ecs.g7.large"
}
