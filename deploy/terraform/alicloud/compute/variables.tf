variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "vswitch_ids" {
  description = "Application vSwitches; instances are spread over them in order."
  type        = list(string)
}

variable "security_group_id" {
  description = "The application security group (network module)."
  type        = string
}

variable "kms_key_id" {
  description = "KMS key of the system disks' encryption (audit module)."
  type        = string
}

variable "instance_count" {
  description = "How many Gatehouse instances (replicas on one PostgreSQL database), spread over the vSwitches."
  type        = number
  default     = 2
  validation {
    condition     = var.instance_count >= 1
    error_message = "At least one instance."
  }
}

variable "instance_type" {
  description = "ECS instance type."
  type        = string
  default     = "ecs.g7.large"
}

variable "image_name_regex" {
  description = "Which system image: the newest Alibaba Cloud Linux 3 (x86_64) by default."
  type        = string
  default     = "^aliyun_3_.*x64_20G_alibase_"
}

variable "system_disk_gb" {
  description = "System disk size (ESSD), in GB."
  type        = number
  default     = 40
}

variable "gatehouse_url" {
  description = "HTTPS URL of the gatehouse binary (linux/amd64, static) the instances download at first boot, e.g. a release asset or a presigned URL of the archive bucket's internal endpoint."
  type        = string
  validation {
    condition     = startswith(var.gatehouse_url, "https://")
    error_message = "Download the binary over HTTPS."
  }
}

variable "gatehouse_sha256" {
  description = "SHA-256 of the binary: the instance refuses any other file."
  type        = string
  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.gatehouse_sha256))
    error_message = "Give the SHA-256 as 64 lower-case hexadecimal digits."
  }
}

variable "app_port" {
  description = "The port Gatehouse listens on (the load balancer's backend port)."
  type        = number
  default     = 8080
}

variable "base_url" {
  description = "Gatehouse's external URL behind the load balancer (https://gatehouse.example.com): resource locations and the OAuth issuer."
  type        = string
  validation {
    condition     = startswith(var.base_url, "https://")
    error_message = "The external URL is https://: TLS terminates at the load balancer."
  }
}

variable "trusted_proxies" {
  description = "Where the load balancer's requests come from (network module lb_source_cidrs): the client address is taken from X-Forwarded-For for them."
  type        = list(string)
}

variable "database" {
  description = "The PostgreSQL database (database module)."
  type = object({
    host     = string
    port     = string
    name     = string
    user     = string
    password = string
  })
  sensitive = true
}

variable "database_ca_pem" {
  description = "The RDS instance's CA certificate (PEM, from the RDS console's SSL page). Given: Gatehouse verifies the server (sslmode=verify-full). Null: the connection is encrypted but the server is not verified (sslmode=require)."
  type        = string
  default     = null
}

variable "admin_token" {
  description = "The admin application's token on the first start: a random value of at least 128 bits (openssl rand -hex 32); Gatehouse refuses placeholders and values easy to guess. Null: the first instance generates one and prints it once to its journal."
  type        = string
  default     = null
  sensitive   = true
}

variable "events_source" {
  description = "The CloudEvents source of Gatehouse's events (the seeds' rules match com.alibabacloud.idaas)."
  type        = string
  default     = "com.alibabacloud.idaas"
}

variable "audit_retention" {
  description = "How long Gatehouse keeps its own audit records (at least 180d)."
  type        = string
  default     = "180d"
}

variable "checkpoint_public_keys" {
  description = "Public keys (ed25519:…) of the replicas' audit checkpoint keys, from `gatehouse audit key` on each instance after its first start, so that `audit verify` on any replica trusts all of them."
  type        = list(string)
  default     = []
}
