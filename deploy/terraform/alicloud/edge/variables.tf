variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "zone_ids" {
  description = "The load balancer's primary and standby zones."
  type        = list(string)
  validation {
    condition     = length(var.zone_ids) >= 2 && var.zone_ids[0] != var.zone_ids[1]
    error_message = "Give two different zones."
  }
}

variable "backend_instance_ids" {
  description = "The Gatehouse instances (compute module)."
  type        = list(string)
}

variable "backend_port" {
  description = "The port Gatehouse listens on."
  type        = number
  default     = 8080
}

variable "spec" {
  description = "CLB specification."
  type        = string
  default     = "slb.s2.small"
}

variable "cas_certificate_id" {
  description = "An existing Certificate Management Service (CAS) certificate id for the listener. Null: upload certificate_pem and private_key_pem to CAS here."
  type        = string
  default     = null
}

variable "cas_certificate_name" {
  description = "The name of that CAS certificate (or of the one uploaded here)."
  type        = string
  default     = null
}

variable "cas_region" {
  description = "Where CAS keeps certificates: cn-hangzhou (China site) or ap-southeast-1 (international site)."
  type        = string
  default     = "cn-hangzhou"
}

variable "certificate_pem" {
  description = "Certificate chain (PEM) to upload to CAS when cas_certificate_id is null."
  type        = string
  default     = null
}

variable "private_key_pem" {
  description = "Its private key (PEM). It ends up in the Terraform state: prefer an existing CAS certificate."
  type        = string
  default     = null
  sensitive   = true
}
