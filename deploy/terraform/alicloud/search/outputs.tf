output "instance_id" {
  description = "The Elasticsearch instance."
  value       = alicloud_elasticsearch_instance.this.id
}

output "endpoint" {
  description = "The cluster's private HTTPS endpoint."
  value       = "https://${alicloud_elasticsearch_instance.this.domain}:${alicloud_elasticsearch_instance.this.port}"
}

output "rag_docs_index" {
  description = "The body of PUT /rag-docs for this version: terraform output -raw rag_docs_index > rag-docs.json, then create-rag-docs-index.sh from a host in the whitelist."
  value       = local.rag_docs_index
}
