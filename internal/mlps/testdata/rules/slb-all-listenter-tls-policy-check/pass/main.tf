resource "alicloud_slb_listener" "l" {
  load_balancer_id      = "lb-1"
  backend_port          = 8080
  frontend_port         = 443
  protocol              = "https"
  server_certificate_id = "cert-1"
  tls_cipher_policy     = "tls_cipher_policy_1_2_strict"
}
