output "load_balancer_address" {
  description = "Point base_url's DNS name here."
  value       = module.edge.address
}

output "base_url" {
  description = "Gatehouse's external URL."
  value       = var.base_url
}

output "instance_ids" {
  description = "The Gatehouse instances (reach them with Cloud Assistant or Session Manager: they have no public IP and no SSH rule)."
  value       = module.compute.instance_ids
}

output "nat_public_ip" {
  description = "Where Gatehouse's outbound deliveries come from (for event targets' allow-lists)."
  value       = module.network.nat_public_ip
}

output "database_host" {
  description = "RDS PostgreSQL's internal endpoint."
  value       = module.database.host
}

output "archive_bucket" {
  description = "OSS bucket for audit-log exports, checkpoint files and database dumps."
  value       = module.storage.archive_bucket
}

output "search_endpoint" {
  description = "Elasticsearch's private HTTPS endpoint."
  value       = module.search.endpoint
}

output "rag_docs_index" {
  description = "Body of PUT /rag-docs (../../search/create-rag-docs-index.sh)."
  value       = module.search.rag_docs_index
}

output "ci_role_arn" {
  description = "The CI role to assume through STS."
  value       = module.ci.role_arn
}

output "trail_name" {
  description = "The ActionTrail trail."
  value       = module.audit.trail_name
}
