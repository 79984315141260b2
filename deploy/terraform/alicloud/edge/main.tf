# The edge: an internet-facing CLB whose only listener is HTTPS on tcp/443
# (so the stack's only public ingress is tcp/443), with the certificate
# from Certificate Management Service (CAS) and the TLS 1.2-only strict
# cipher policy. TLS terminates here; the CLB forwards to Gatehouse over the
# VPC, with X-Forwarded-For/-Proto, and health-checks /readyz.

resource "alicloud_ssl_certificates_service_certificate" "this" {
  count            = var.cas_certificate_id == null ? 1 : 0
  certificate_name = coalesce(var.cas_certificate_name, "${var.name}-gatehouse")
  cert             = var.certificate_pem
  key              = var.private_key_pem
  tags             = var.tags
}

locals {
  cas_id   = var.cas_certificate_id == null ? alicloud_ssl_certificates_service_certificate.this[0].id : var.cas_certificate_id
  cas_name = var.cas_certificate_id == null ? alicloud_ssl_certificates_service_certificate.this[0].certificate_name : var.cas_certificate_name
}

# A CLB listener names a CLB server certificate: this one is the CAS
# certificate, imported by its id.
resource "alicloud_slb_server_certificate" "this" {
  name                           = "${var.name}-gatehouse"
  alicloud_certificate_id        = local.cas_id
  alicloud_certificate_name      = local.cas_name
  alicloud_certificate_region_id = var.cas_region
  tags                           = var.tags
}

resource "alicloud_slb_load_balancer" "this" {
  load_balancer_name             = "${var.name}-gatehouse"
  address_type                   = "internet"
  address_ip_version             = "ipv4"
  load_balancer_spec             = var.spec
  instance_charge_type           = "PayBySpec"
  internet_charge_type           = "PayByTraffic"
  payment_type                   = "PayAsYouGo"
  master_zone_id                 = var.zone_ids[0]
  slave_zone_id                  = var.zone_ids[1]
  delete_protection              = "on"
  modification_protection_status = "ConsoleProtection"
  modification_protection_reason = "managed by terraform"
  tags                           = var.tags
}

resource "alicloud_slb_server_group" "gatehouse" {
  load_balancer_id = alicloud_slb_load_balancer.this.id
  name             = "${var.name}-gatehouse"
}

resource "alicloud_slb_server_group_server_attachment" "gatehouse" {
  count           = length(var.backend_instance_ids)
  server_group_id = alicloud_slb_server_group.gatehouse.id
  server_id       = var.backend_instance_ids[count.index]
  port            = var.backend_port
  weight          = 100
  type            = "ecs"
}

resource "alicloud_slb_listener" "https" {
  load_balancer_id      = alicloud_slb_load_balancer.this.id
  protocol              = "https"
  frontend_port         = 443
  server_group_id       = alicloud_slb_server_group.gatehouse.id
  server_certificate_id = alicloud_slb_server_certificate.this.id
  tls_cipher_policy     = "tls_cipher_policy_1_2_strict"
  enable_http2          = "on"
  bandwidth             = -1
  scheduler             = "wrr"
  sticky_session        = "off"
  request_timeout       = 60
  idle_timeout          = 15
  description           = "Gatehouse over HTTPS"

  health_check              = "on"
  health_check_type         = "http"
  health_check_uri          = "/readyz"
  health_check_http_code    = "http_2xx"
  health_check_interval     = 5
  health_check_timeout      = 5
  healthy_threshold         = 3
  unhealthy_threshold       = 3
  health_check_connect_port = var.backend_port

  x_forwarded_for {
    retrive_slb_ip    = true
    retrive_slb_proto = true
  }

  depends_on = [alicloud_slb_server_group_server_attachment.gatehouse]
}
