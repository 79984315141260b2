output "vpc_id" {
  description = "The VPC."
  value       = alicloud_vpc.this.id
}

output "zone_ids" {
  description = "The zones, in order."
  value       = var.zone_ids
}

output "app_vswitch_ids" {
  description = "Application vSwitches, in the order of zone_ids."
  value       = [for z in var.zone_ids : alicloud_vswitch.app[z].id]
}

output "app_cidrs" {
  description = "Application vSwitch ranges: the only sources the database and the search cluster admit."
  value       = [for z in var.zone_ids : alicloud_vswitch.app[z].cidr_block]
}

output "data_vswitch_ids" {
  description = "Data vSwitches, in the order of zone_ids."
  value       = [for z in var.zone_ids : alicloud_vswitch.data[z].id]
}

output "app_security_group_id" {
  description = "The Gatehouse instances' security group."
  value       = alicloud_security_group.app.id
}

output "lb_source_cidrs" {
  description = "Where the load balancer's requests come from: Gatehouse's trusted_proxies."
  value       = var.lb_source_cidrs
}

output "nat_public_ip" {
  description = "The address the instances' outbound traffic leaves from (for allow-lists of event targets); null without a NAT gateway."
  value       = var.enable_nat_gateway ? alicloud_eip_address.nat[0].ip_address : null
}
