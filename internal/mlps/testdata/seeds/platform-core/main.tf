# platform-scenario.txt, step 2: "alicloud_vpc, alicloud_instance (Alinux3),
# alicloud_db_instance (RDS), and alicloud_oss_bucket. Enforce MLPS 2.0 by
# restricting security_group_rule ingress to tcp:443." Written as the seed
# describes it, with the provider's defaults for everything it leaves out.
resource "alicloud_vpc" "main" {
  vpc_name   = "platform"
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "app" {
  vpc_id     = alicloud_vpc.main.id
  cidr_block = "10.0.1.0/24"
  zone_id    = "cn-hangzhou-h"
}

resource "alicloud_security_group" "app" {
  vpc_id = alicloud_vpc.main.id
}

resource "alicloud_security_group_rule" "https" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "443/443"
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.app.id
}

data "alicloud_images" "alinux3" {
  name_regex = "^aliyun_3_x64"
  owners     = "system"
}

resource "alicloud_instance" "app" {
  instance_type   = "ecs.g7.large"
  image_id        = data.alicloud_images.alinux3.images[0].id
  vswitch_id      = alicloud_vswitch.app.id
  security_groups = [alicloud_security_group.app.id]
}

resource "alicloud_db_instance" "rds" {
  engine           = "PostgreSQL"
  engine_version   = "16.0"
  instance_type    = "pg.n2.2c.2m"
  instance_storage = 50
  vswitch_id       = alicloud_vswitch.app.id
}

resource "alicloud_oss_bucket" "data" {
  bucket = "platform-data"
}
