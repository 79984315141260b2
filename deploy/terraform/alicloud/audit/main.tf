# Audit: the KMS key every other module encrypts with, an ActionTrail trail
# of every API call in every region (read and write) delivered to SLS (and
# to OSS when trail_oss_bucket is given), and the SLS logstores of the trail
# and of the VPC flow logs, encrypted and kept at least 180 days.

data "alicloud_account" "current" {}

data "alicloud_regions" "current" {
  current = true
}

locals {
  account_id = data.alicloud_account.current.id
  region     = data.alicloud_regions.current.regions[0].id
  trail_name = replace("${var.name}-trail", "-", "_")
  # SLS project names are unique in a region across accounts.
  project_name = "${var.name}-audit-${local.account_id}"
}

resource "alicloud_kms_key" "this" {
  description            = "Gatehouse ${var.name}: disks, RDS, OSS, Elasticsearch"
  key_spec               = "Aliyun_AES_256"
  key_usage              = "ENCRYPT/DECRYPT"
  protection_level       = "SOFTWARE"
  automatic_rotation     = "Enabled"
  rotation_interval      = var.kms_rotation_interval
  pending_window_in_days = 30
  deletion_protection    = "Enabled"
  dkms_instance_id       = var.kms_instance_id
  tags                   = var.tags
}

resource "alicloud_log_project" "audit" {
  project_name = local.project_name
  description  = "Gatehouse ${var.name}: ActionTrail and VPC flow logs"
  tags         = var.tags
}

# ActionTrail writes a trail delivered to SLS into the logstore
# actiontrail_<trail name> of the project; it is created here first so that
# its retention and encryption are ours.
resource "alicloud_log_store" "trail" {
  project_name     = alicloud_log_project.audit.project_name
  logstore_name    = "actiontrail_${local.trail_name}"
  retention_period = var.log_retention_days
  shard_count      = 2
  auto_split       = true
  encrypt_conf {
    enable       = true
    encrypt_type = "default"
  }
}

resource "alicloud_log_store" "flow" {
  project_name     = alicloud_log_project.audit.project_name
  logstore_name    = "vpc-flowlog"
  retention_period = var.log_retention_days
  shard_count      = 2
  auto_split       = true
  encrypt_conf {
    enable       = true
    encrypt_type = "default"
  }
}

resource "alicloud_actiontrail_trail" "this" {
  trail_name      = local.trail_name
  trail_region    = "All"
  event_rw        = "All"
  status          = "Enable"
  sls_project_arn = "acs:log:${local.region}:${local.account_id}:project/${alicloud_log_project.audit.project_name}"
  # ActionTrail's service-linked role (created with the first trail).
  sls_write_role_arn = "acs:ram::${local.account_id}:role/aliyunserviceroleforactiontrail"
  oss_bucket_name    = var.trail_oss_bucket
  oss_key_prefix     = var.trail_oss_bucket == null ? null : "actiontrail"
  depends_on         = [alicloud_log_store.trail]
}
