variable "name" {
  description = "Name prefix of the role and policies."
  type        = string
}

variable "tags" {
  description = "Tags put on the role."
  type        = map(string)
  default     = {}
}

variable "trusted_principals" {
  description = "RAM users or roles (ARNs, e.g. acs:ram::123456789012:user/ci-runner) allowed to assume the CI role with STS AssumeRole. Never a whole account (…:root) nor *."
  type        = list(string)
  default     = []
  validation {
    condition     = alltrue([for p in var.trusted_principals : can(regex("^acs:ram::[0-9]+:(user|role)/[A-Za-z0-9._@-]+$", p))])
    error_message = "Name RAM users or roles by ARN (acs:ram::ACCOUNT:user/NAME or …:role/NAME); a whole account (:root) or * would let anyone in it assume the role."
  }
}

variable "oidc" {
  description = "Or trust an OIDC identity provider registered in RAM (AssumeRoleWithOIDC, no stored keys): its ARN, the audience, and the token subjects allowed (e.g. repo:org/gatehouse-infra:ref:refs/heads/main)."
  type = object({
    provider_arn = string
    issuer       = string
    audience     = string
    subjects     = list(string)
  })
  default = null
}

variable "max_session_seconds" {
  description = "Lifetime of the STS credentials (3600-43200)."
  type        = number
  default     = 3600
}

variable "state_bucket" {
  description = "OSS bucket of the Terraform state (backend \"oss\"); null: no state access is granted."
  type        = string
  default     = null
}

variable "state_prefix" {
  description = "Key prefix of the state in that bucket."
  type        = string
  default     = "gatehouse"
}

variable "state_lock_table" {
  description = "Tablestore instance/table of the state lock (acs:ots:REGION:ACCOUNT:instance/NAME/table/TABLE); null: none."
  type        = string
  default     = null
}

variable "attach_seed_system_policies" {
  description = "Attach the seed's AliyunVPCFullAccess and AliyunECSFullAccess as well. Off: they grant far more than this stack needs (every VPC and ECS action in every region, Cloud Assistant commands on every instance, snapshot and image export) and still not enough to apply it (RDS, OSS, SLB, Elasticsearch, SLS, KMS, ActionTrail)."
  type        = bool
  default     = false
}
