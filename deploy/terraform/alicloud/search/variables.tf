variable "name" {
  description = "Name prefix of every resource."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "vswitch_id" {
  description = "The data vSwitch of the first zone; the other zones' vSwitches of the VPC take the other nodes."
  type        = string
}

variable "zone_count" {
  description = "Zones the cluster spans (2 or 3)."
  type        = number
  default     = 2
  validation {
    condition     = contains([2, 3], var.zone_count)
    error_message = "A production cluster spans 2 or 3 zones."
  }
}

variable "allowed_cidrs" {
  description = "The private whitelist: who may reach the cluster (the application vSwitches, and where the index is created from)."
  type        = list(string)
  validation {
    condition     = length(var.allowed_cidrs) > 0 && alltrue([for c in var.allowed_cidrs : !contains(["0.0.0.0/0", "0.0.0.0", "::/0"], c)])
    error_message = "Whitelist private ranges only, never 0.0.0.0/0."
  }
}

variable "es_version" {
  description = "Elasticsearch version: 8.5.1_with_X-Pack (dense_vector with HNSW kNN: what Gatehouse's search backend needs) or 7.10_with_X-Pack (no kNN with a filter: Gatehouse's search backend refuses it)."
  type        = string
  default     = "8.5.1_with_X-Pack"
  validation {
    condition     = can(regex("^[78]\\.", var.es_version))
    error_message = "The rag-docs index definition exists for Elasticsearch 7.x and 8.x."
  }
}

variable "data_node_spec" {
  description = "Data node specification."
  type        = string
  default     = "elasticsearch.sn2ne.large"
}

variable "data_node_count" {
  description = "Data nodes (a multiple of zone_count)."
  type        = number
  default     = 2
}

variable "data_node_disk_gb" {
  description = "Disk per data node, in GB."
  type        = number
  default     = 40
}

variable "master_node_spec" {
  description = "Dedicated master node specification (a multi-zone cluster has three)."
  type        = string
  default     = "elasticsearch.sn2ne.large"
}

variable "kibana_node_spec" {
  description = "Kibana node specification (Kibana has no public access)."
  type        = string
  default     = "elasticsearch.sn1ne.large"
}

variable "password" {
  description = "The elastic user's password (8-32 characters, three of upper, lower, digits, !@#$%^&*()_+-=). It ends up in the Terraform state."
  type        = string
  sensitive   = true
}
