# A compliant stack that exercises the loader: variables set by
# terraform.tfvars, locals, for_each and count, a local module called twice,
# a dynamic block and references between resources.
variable "name" {
  type = string
}

variable "app_cidr" {
  type    = string
  default = "10.0.1.0/24"
}

variable "zones" {
  type    = list(string)
  default = ["cn-hangzhou-h", "cn-hangzhou-i"]
}

locals {
  tls_policy = "tls_cipher_policy_1_2_strict"
  retention  = 180
  buckets    = toset(["archive", "backup"])
}

resource "alicloud_vpc" "main" {
  vpc_name   = var.name
  cidr_block = "10.0.0.0/16"
}

resource "alicloud_vswitch" "app" {
  count      = length(var.zones)
  vpc_id     = alicloud_vpc.main.id
  cidr_block = cidrsubnet("10.0.0.0/16", 8, count.index + 1)
  zone_id    = var.zones[count.index]
}

resource "alicloud_vpc_flow_log" "main" {
  resource_id    = alicloud_vpc.main.id
  resource_type  = "VPC"
  traffic_type   = "All"
  project_name   = "${var.name}-logs"
  log_store_name = alicloud_log_store.flow.logstore_name
}

resource "alicloud_log_store" "flow" {
  project_name     = "${var.name}-logs"
  logstore_name    = "flowlog"
  retention_period = local.retention
  encrypt_conf {
    enable = true
  }
}

resource "alicloud_security_group" "app" {
  vpc_id = alicloud_vpc.main.id
}

resource "alicloud_security_group_rule" "ingress" {
  for_each          = { https = "443/443" }
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = each.value
  cidr_ip           = "0.0.0.0/0"
  security_group_id = alicloud_security_group.app.id
}

# The bastion's SSH comes from the operations network only.
resource "alicloud_security_group_rule" "ssh" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "22/22"
  cidr_ip           = "192.0.2.0/24"
  security_group_id = alicloud_security_group.app.id
}

resource "alicloud_instance" "app" {
  count                 = 2
  instance_type         = "ecs.g7.large"
  image_id              = "aliyun_3_x64_20G_alibase_20250101.vhd"
  vswitch_id            = alicloud_vswitch.app[count.index].id
  security_groups       = [alicloud_security_group.app.id]
  system_disk_encrypted = true
  dynamic "data_disks" {
    for_each = [100]
    content {
      size      = data_disks.value
      encrypted = true
    }
  }
}

resource "alicloud_kms_key" "data" {
  description = "${var.name} data"
}

resource "alicloud_db_instance" "pg" {
  engine                     = "PostgreSQL"
  engine_version             = "16.0"
  instance_type              = "pg.n4.2c.2m"
  instance_storage           = 100
  category                   = "HighAvailability"
  zone_id                    = var.zones[0]
  zone_id_slave_a            = var.zones[1]
  vswitch_id                 = join(",", alicloud_vswitch.app[*].id)
  security_ips               = [var.app_cidr]
  ssl_action                 = "Open"
  encryption_key             = alicloud_kms_key.data.id
  sql_collector_status       = "Enabled"
  sql_collector_config_value = local.retention
}

module "bucket" {
  source   = "./modules/bucket"
  for_each = local.buckets
  name     = "${var.name}-${each.key}"
  kms_key  = alicloud_kms_key.data.id
}

resource "alicloud_slb_listener" "https" {
  load_balancer_id      = "lb-edge"
  backend_port          = 8080
  frontend_port         = 443
  protocol              = "https"
  bandwidth             = -1
  server_certificate_id = "cas-cert-1"
  tls_cipher_policy     = local.tls_policy
}

resource "alicloud_actiontrail_trail" "all" {
  trail_name      = var.name
  event_rw        = "All"
  oss_bucket_name = module.bucket["archive"].name
}

resource "alicloud_elasticsearch_instance" "rag" {
  version           = "7.10_with_X-Pack"
  vswitch_id        = alicloud_vswitch.app[0].id
  zone_count        = 2
  protocol          = "HTTPS"
  private_whitelist = [var.app_cidr]
}

resource "alicloud_ram_role_policy_attachment" "ci" {
  role_name   = "${var.name}-ci"
  policy_name = "${var.name}-ci-deploy"
  policy_type = "Custom"
}
