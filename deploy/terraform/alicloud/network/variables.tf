variable "name" {
  description = "Name prefix of every resource (letters, digits, hyphens)."
  type        = string
}

variable "tags" {
  description = "Tags put on every resource that takes tags."
  type        = map(string)
  default     = {}
}

variable "cidr_block" {
  description = "The VPC's address range."
  type        = string
  default     = "10.20.0.0/16"
}

variable "zone_ids" {
  description = "Two or more zones of the region (e.g. [\"cn-hangzhou-i\", \"cn-hangzhou-j\"]): one application and one data vSwitch in each."
  type        = list(string)
  validation {
    condition     = length(var.zone_ids) >= 2
    error_message = "Give at least two zones: every tier spans zones."
  }
}

variable "app_cidrs" {
  description = "One application vSwitch range per zone, in the order of zone_ids (the Gatehouse instances)."
  type        = list(string)
  default     = ["10.20.1.0/24", "10.20.2.0/24", "10.20.3.0/24"]
}

variable "data_cidrs" {
  description = "One data vSwitch range per zone, in the order of zone_ids (RDS, Elasticsearch)."
  type        = list(string)
  default     = ["10.20.11.0/24", "10.20.12.0/24", "10.20.13.0/24"]
}

variable "nat_cidr" {
  description = "The NAT gateway's vSwitch range, in the first zone."
  type        = string
  default     = "10.20.100.0/24"
}

variable "app_port" {
  description = "The port Gatehouse listens on, behind the load balancer."
  type        = number
  default     = 8080
}

variable "lb_source_cidrs" {
  description = <<-EOT
    Where the load balancer's traffic reaches the instances from. A CLB layer-7
    (HTTPS) listener forwards requests, and sends its health checks, from
    Alibaba Cloud's 100.64.0.0/10 range, not from a vSwitch of yours: that is
    the only source allowed to the application port.
  EOT
  type        = list(string)
  default     = ["100.64.0.0/10"]
  validation {
    condition     = alltrue([for c in var.lb_source_cidrs : !contains(["0.0.0.0/0", "::/0"], c)])
    error_message = "The application port must not be open to the internet: only the load balancer reaches it."
  }
}

variable "egress_public_ports" {
  description = "TCP ports the instances may reach on the internet through the NAT gateway: HTTPS (webhooks, Resend, RAM/GitBook SCIM, the binary download) and SMTP submission."
  type        = list(number)
  default     = [443, 465, 587]
}

variable "enable_nat_gateway" {
  description = "Create a NAT gateway (with one EIP and SNAT for the application vSwitches) so that instances without public IPs can deliver events to the internet."
  type        = bool
  default     = true
}

variable "nat_bandwidth_mbps" {
  description = "Bandwidth of the NAT gateway's EIP."
  type        = number
  default     = 10
}

variable "flow_log_project" {
  description = "SLS project that receives the VPC flow logs (the audit module's)."
  type        = string
}

variable "flow_log_logstore" {
  description = "SLS logstore that receives the VPC flow logs (the audit module's; its retention is the audit module's)."
  type        = string
}
