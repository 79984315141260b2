# Compute: Gatehouse instances on Alibaba Cloud Linux 3, no public IP,
# encrypted system disks, security hardening (Security Center agent) on,
# metadata only with a token. Cloud-init installs the binary (checked
# against its SHA-256) as the hardened systemd service of
# packaging/systemd/gatehouse.service, configured for PostgreSQL on RDS over
# TLS, base_url behind the load balancer, the load balancer as trusted
# proxy, and the data directory (/var/lib/gatehouse) for the audit
# checkpoint key.

data "alicloud_images" "alinux3" {
  owners       = "system"
  name_regex   = var.image_name_regex
  os_type      = "linux"
  architecture = "x86_64"
  most_recent  = true
}

locals {
  unit = file("${path.module}/../../../../packaging/systemd/gatehouse.service")

  sslmode = var.database_ca_pem == null ? "sslmode=require" : "sslmode=verify-full&sslrootcert=/etc/gatehouse/rds-ca.pem"
  database_url = format("postgres://%s:%s@%s:%s/%s?%s",
    urlencode(var.database.user), urlencode(var.database.password),
  var.database.host, var.database.port, urlencode(var.database.name), local.sslmode)

  config = {
    listen          = "0.0.0.0:${var.app_port}"
    base_url        = var.base_url
    trusted_proxies = var.trusted_proxies
    log             = { format = "json", level = "info" }
    audit = {
      retention              = var.audit_retention
      checkpoint_public_keys = var.checkpoint_public_keys
    }
    events = { source = var.events_source }
  }

  env = join("\n", compact([
    "GATEHOUSE_DATABASE_URL=${local.database_url}",
    var.admin_token == null ? "" : "GATEHOUSE_ADMIN_TOKEN=${var.admin_token}",
    "",
  ]))
}

resource "alicloud_instance" "gatehouse" {
  count                         = var.instance_count
  instance_name                 = "${var.name}-gatehouse-${count.index}"
  host_name                     = "${var.name}-gatehouse-${count.index}"
  description                   = "Gatehouse ${var.name}"
  image_id                      = data.alicloud_images.alinux3.images[0].id
  instance_type                 = var.instance_type
  instance_charge_type          = "PostPaid"
  vswitch_id                    = var.vswitch_ids[count.index % length(var.vswitch_ids)]
  security_groups               = [var.security_group_id]
  internet_max_bandwidth_out    = 0
  system_disk_category          = "cloud_essd"
  system_disk_size              = var.system_disk_gb
  system_disk_encrypted         = true
  system_disk_kms_key_id        = var.kms_key_id
  security_enhancement_strategy = "Active"
  http_endpoint                 = "enabled"
  http_tokens                   = "required"
  deletion_protection           = true
  user_data = base64encode(templatefile("${path.module}/cloud-init.yaml.tftpl", {
    unit_b64      = base64encode(local.unit)
    config_b64    = base64encode(yamlencode(local.config))
    env_b64       = base64encode(local.env)
    ca_b64        = var.database_ca_pem == null ? "" : base64encode(var.database_ca_pem)
    binary_url    = var.gatehouse_url
    binary_sha256 = var.gatehouse_sha256
  }))
  tags        = var.tags
  volume_tags = var.tags

  lifecycle {
    # A new image or binary replaces instances only when asked
    # (terraform apply -replace=…), one at a time behind the load balancer.
    # The metadata service may be turned off once cloud-init has run (the
    # user data holds the secrets, docs/deployment.md): not turned back on.
    ignore_changes = [image_id, user_data, http_endpoint]
  }
}
