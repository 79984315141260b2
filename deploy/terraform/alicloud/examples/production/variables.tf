variable "region" {
  description = "Region of the stack."
  type        = string
  default     = "cn-hangzhou"
}

variable "zone_ids" {
  description = "Two zones of the region (the database's primary and standby, the load balancer's, the instances')."
  type        = list(string)
  default     = ["cn-hangzhou-i", "cn-hangzhou-j"]
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "gatehouse-prod"
}

variable "tags" {
  description = "Tags on every resource."
  type        = map(string)
  default = {
    app         = "gatehouse"
    environment = "production"
    managed-by  = "terraform"
  }
}

variable "base_url" {
  description = "Gatehouse's external URL (its DNS name points at the load balancer's address)."
  type        = string
}

variable "gatehouse_url" {
  description = "HTTPS URL of the gatehouse binary (linux/amd64) to install."
  type        = string
}

variable "gatehouse_sha256" {
  description = "Its SHA-256."
  type        = string
}

variable "instance_count" {
  description = "Gatehouse replicas."
  type        = number
  default     = 2
}

variable "cas_certificate_id" {
  description = "The CAS certificate of base_url's host (an existing one; or give certificate_pem and private_key_pem)."
  type        = string
  default     = null
}

variable "cas_certificate_name" {
  description = "Its name in CAS."
  type        = string
  default     = null
}

variable "certificate_pem" {
  description = "Certificate chain to upload to CAS instead."
  type        = string
  default     = null
}

variable "private_key_pem" {
  description = "Its private key."
  type        = string
  default     = null
  sensitive   = true
}

variable "db_password" {
  description = "Gatehouse's PostgreSQL password (TF_VAR_db_password)."
  type        = string
  sensitive   = true
}

variable "database_ca_pem" {
  description = "The RDS CA certificate (PEM): Gatehouse then verifies the database server (sslmode=verify-full)."
  type        = string
  default     = null
}

variable "admin_token" {
  description = "The Gatehouse admin token on the first start (TF_VAR_admin_token); null: generated and printed to the first instance's journal."
  type        = string
  default     = null
  sensitive   = true
}

variable "es_password" {
  description = "The Elasticsearch elastic user's password (TF_VAR_es_password)."
  type        = string
  sensitive   = true
}

variable "es_admin_cidrs" {
  description = "Private ranges besides the application vSwitches that may reach Elasticsearch (where the rag-docs index is created from: a bastion, a VPN)."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the trail and the VPC flow logs (at least 180)."
  type        = number
  default     = 180
}

variable "ci_trusted_principals" {
  description = "RAM users or roles that may assume the CI role."
  type        = list(string)
  default     = []
}

variable "ci_oidc" {
  description = "Or the OIDC provider the CI's tokens come from."
  type = object({
    provider_arn = string
    issuer       = string
    audience     = string
    subjects     = list(string)
  })
  default = null
}

variable "checkpoint_public_keys" {
  description = "The replicas' audit checkpoint public keys (gatehouse audit key on each, after the first start)."
  type        = list(string)
  default     = []
}
