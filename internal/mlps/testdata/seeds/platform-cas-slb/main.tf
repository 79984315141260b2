# platform-scenario.txt, step 3: "Import your CAS certificate via
# alicloud_ssl_certificate and bind it to the listener:
# listener_ssl_certificate_id = alicloud_ssl_certificate.main.id."
resource "alicloud_ssl_certificate" "main" {
  name = "platform"
  cert = file("cert.pem")
  key  = file("key.pem")
}

resource "alicloud_slb_load_balancer" "edge" {
  load_balancer_name = "platform"
  address_type       = "internet"
  load_balancer_spec = "slb.s2.small"
}

resource "alicloud_slb_listener" "https" {
  load_balancer_id            = alicloud_slb_load_balancer.edge.id
  backend_port                = 8080
  frontend_port               = 443
  protocol                    = "https"
  bandwidth                   = -1
  listener_ssl_certificate_id = alicloud_ssl_certificate.main.id
}
