# Gatehouse in production on Alibaba Cloud, MLPS 2.0 level 3: the whole
# stack wired together. `gatehouse mlps check .` gives no finding for it;
# README.md says what each module implements and what is left to do after
# apply (DNS, the rag-docs index, the replicas' checkpoint keys).

module "audit" {
  source             = "../../audit"
  name               = var.name
  tags               = var.tags
  log_retention_days = var.log_retention_days
}

module "identity" {
  source = "../../identity"
}

module "network" {
  source            = "../../network"
  name              = var.name
  tags              = var.tags
  zone_ids          = var.zone_ids
  flow_log_project  = module.audit.log_project
  flow_log_logstore = module.audit.flow_log_logstore
}

module "storage" {
  source     = "../../storage"
  name       = var.name
  tags       = var.tags
  kms_key_id = module.audit.kms_key_id
}

module "database" {
  source        = "../../database"
  name          = var.name
  tags          = var.tags
  zone_ids      = var.zone_ids
  vswitch_ids   = module.network.data_vswitch_ids
  allowed_cidrs = module.network.app_cidrs
  kms_key_id    = module.audit.kms_key_id
  password      = var.db_password
}

module "compute" {
  source                 = "../../compute"
  name                   = var.name
  tags                   = var.tags
  instance_count         = var.instance_count
  vswitch_ids            = module.network.app_vswitch_ids
  security_group_id      = module.network.app_security_group_id
  kms_key_id             = module.audit.kms_key_id
  gatehouse_url          = var.gatehouse_url
  gatehouse_sha256       = var.gatehouse_sha256
  base_url               = var.base_url
  trusted_proxies        = module.network.lb_source_cidrs
  admin_token            = var.admin_token
  database_ca_pem        = var.database_ca_pem
  checkpoint_public_keys = var.checkpoint_public_keys
  database = {
    host     = module.database.host
    port     = module.database.port
    name     = module.database.database
    user     = module.database.account
    password = var.db_password
  }
}

module "edge" {
  source               = "../../edge"
  name                 = var.name
  tags                 = var.tags
  zone_ids             = var.zone_ids
  backend_instance_ids = module.compute.instance_ids
  cas_certificate_id   = var.cas_certificate_id
  cas_certificate_name = var.cas_certificate_name
  certificate_pem      = var.certificate_pem
  private_key_pem      = var.private_key_pem
}

module "search" {
  source        = "../../search"
  name          = var.name
  tags          = var.tags
  vswitch_id    = module.network.data_vswitch_ids[0]
  allowed_cidrs = concat(module.network.app_cidrs, var.es_admin_cidrs)
  password      = var.es_password
}

module "ci" {
  source             = "../../ci"
  name               = var.name
  tags               = var.tags
  trusted_principals = var.ci_trusted_principals
  oidc               = var.ci_oidc
}
