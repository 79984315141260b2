output "load_balancer_id" {
  description = "The CLB."
  value       = alicloud_slb_load_balancer.this.id
}

output "address" {
  description = "The CLB's public address: point the DNS name of base_url at it."
  value       = alicloud_slb_load_balancer.this.address
}

output "server_certificate_id" {
  description = "The CLB server certificate (the CAS certificate) the listener uses."
  value       = alicloud_slb_server_certificate.this.id
}
