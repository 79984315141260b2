resource "alicloud_slb_listener" "l" {
  load_balancer_id = "lb-1"
  backend_port     = 8080
  frontend_port    = 80
  protocol         = "http"
  listener_forward = "on"
  forward_port     = 443
}
