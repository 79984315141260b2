output "instance_ids" {
  description = "The Gatehouse instances (the load balancer's backends)."
  value       = alicloud_instance.gatehouse[*].id
}

output "private_ips" {
  description = "Their private addresses."
  value       = alicloud_instance.gatehouse[*].primary_ip_address
}

output "image_id" {
  description = "The Alibaba Cloud Linux 3 image the instances were created from."
  value       = data.alicloud_images.alinux3.images[0].id
}
