# The network: one VPC, an application and a data vSwitch in each zone, a
# NAT gateway for outbound traffic, VPC flow logs to SLS, and the
# application security group. The only public entry point of the stack is
# the load balancer's tcp/443 (edge module); nothing here is reachable from
# the internet: no rule admits 0.0.0.0/0, least of all on 22 or 3389.

locals {
  zones = { for i, z in var.zone_ids : z => i }
}

resource "alicloud_vpc" "this" {
  vpc_name    = "${var.name}-vpc"
  cidr_block  = var.cidr_block
  description = "Gatehouse ${var.name}"
  tags        = var.tags
}

resource "alicloud_vswitch" "app" {
  for_each     = local.zones
  vpc_id       = alicloud_vpc.this.id
  zone_id      = each.key
  cidr_block   = var.app_cidrs[each.value]
  vswitch_name = "${var.name}-app-${each.value}"
  description  = "Gatehouse instances"
  tags         = var.tags
}

resource "alicloud_vswitch" "data" {
  for_each     = local.zones
  vpc_id       = alicloud_vpc.this.id
  zone_id      = each.key
  cidr_block   = var.data_cidrs[each.value]
  vswitch_name = "${var.name}-data-${each.value}"
  description  = "RDS and Elasticsearch"
  tags         = var.tags
}

resource "alicloud_vswitch" "nat" {
  count        = var.enable_nat_gateway ? 1 : 0
  vpc_id       = alicloud_vpc.this.id
  zone_id      = var.zone_ids[0]
  cidr_block   = var.nat_cidr
  vswitch_name = "${var.name}-nat"
  description  = "NAT gateway"
  tags         = var.tags
}

# Every flow of the VPC, accepted and rejected, to SLS (kept as long as the
# audit module's logstore keeps it, at least 180 days).
resource "alicloud_vpc_flow_log" "this" {
  flow_log_name  = "${var.name}-vpc"
  description    = "All traffic of the Gatehouse VPC"
  resource_type  = "VPC"
  resource_id    = alicloud_vpc.this.id
  traffic_type   = "All"
  project_name   = var.flow_log_project
  log_store_name = var.flow_log_logstore
  status         = "Active"
  tags           = var.tags
}

# Outbound only: the instances have no public IP; they reach the internet
# (event targets, the binary download) through SNAT. Nothing inbound is
# forwarded (no DNAT entry).
resource "alicloud_nat_gateway" "this" {
  count            = var.enable_nat_gateway ? 1 : 0
  vpc_id           = alicloud_vpc.this.id
  nat_gateway_name = "${var.name}-nat"
  payment_type     = "PayAsYouGo"
  nat_type         = "Enhanced"
  vswitch_id       = alicloud_vswitch.nat[0].id
  tags             = var.tags
}

resource "alicloud_eip_address" "nat" {
  count                = var.enable_nat_gateway ? 1 : 0
  address_name         = "${var.name}-nat"
  bandwidth            = tostring(var.nat_bandwidth_mbps)
  internet_charge_type = "PayByTraffic"
  payment_type         = "PayAsYouGo"
  tags                 = var.tags
}

resource "alicloud_eip_association" "nat" {
  count         = var.enable_nat_gateway ? 1 : 0
  allocation_id = alicloud_eip_address.nat[0].id
  instance_id   = alicloud_nat_gateway.this[0].id
  instance_type = "Nat"
}

resource "alicloud_snat_entry" "app" {
  for_each          = var.enable_nat_gateway ? local.zones : {}
  snat_table_id     = alicloud_nat_gateway.this[0].snat_table_ids
  source_vswitch_id = alicloud_vswitch.app[each.key].id
  snat_ip           = alicloud_eip_address.nat[0].ip_address
  snat_entry_name   = "${var.name}-app-${each.value}"
  depends_on        = [alicloud_eip_association.nat]
}

# The Gatehouse instances' group: the application port from the load
# balancer only; instances of the group do not talk to each other; egress
# limited to what Gatehouse needs, everything else dropped.
resource "alicloud_security_group" "app" {
  security_group_name = "${var.name}-app"
  description         = "Gatehouse instances: application port from the load balancer only"
  vpc_id              = alicloud_vpc.this.id
  security_group_type = "normal"
  inner_access_policy = "Drop"
  tags                = var.tags
}

resource "alicloud_security_group_rule" "app_from_lb" {
  for_each          = toset(var.lb_source_cidrs)
  security_group_id = alicloud_security_group.app.id
  type              = "ingress"
  ip_protocol       = "tcp"
  nic_type          = "intranet"
  policy            = "accept"
  port_range        = "${var.app_port}/${var.app_port}"
  priority          = 1
  cidr_ip           = each.value
  description       = "Gatehouse from the load balancer (CLB layer-7 forwarding and health checks)"
}

resource "alicloud_security_group_rule" "egress_public" {
  for_each          = toset([for p in var.egress_public_ports : tostring(p)])
  security_group_id = alicloud_security_group.app.id
  type              = "egress"
  ip_protocol       = "tcp"
  nic_type          = "intranet"
  policy            = "accept"
  port_range        = "${each.value}/${each.value}"
  priority          = 1
  cidr_ip           = "0.0.0.0/0"
  description       = "Event targets and downloads over the NAT gateway"
}

resource "alicloud_security_group_rule" "egress_data" {
  for_each          = local.zones
  security_group_id = alicloud_security_group.app.id
  type              = "egress"
  ip_protocol       = "tcp"
  nic_type          = "intranet"
  policy            = "accept"
  port_range        = "5432/5432"
  priority          = 1
  cidr_ip           = var.data_cidrs[each.value]
  description       = "PostgreSQL on RDS"
}

resource "alicloud_security_group_rule" "egress_cloud_services" {
  security_group_id = alicloud_security_group.app.id
  type              = "egress"
  ip_protocol       = "all"
  nic_type          = "intranet"
  policy            = "accept"
  port_range        = "-1/-1"
  priority          = 1
  cidr_ip           = "100.64.0.0/10"
  description       = "Alibaba Cloud internal services: DNS, NTP, metadata, yum mirrors, OSS internal endpoints, Cloud Assistant"
}

resource "alicloud_security_group_rule" "egress_drop_rest" {
  security_group_id = alicloud_security_group.app.id
  type              = "egress"
  ip_protocol       = "all"
  nic_type          = "intranet"
  policy            = "drop"
  port_range        = "-1/-1"
  priority          = 100
  cidr_ip           = "0.0.0.0/0"
  description       = "Everything else outbound is dropped"
}
