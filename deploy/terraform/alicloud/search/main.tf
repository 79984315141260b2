# Search: Alibaba Cloud Elasticsearch for the RAG index, across zones, with
# no public endpoint (cluster and Kibana), a private whitelist of the
# application vSwitches, HTTPS, encrypted data disks, and no automatic index
# creation. The provider has no resource for an index: the rag-docs index
# is created after apply with PUT /rag-docs (create-rag-docs-index.sh and
# the rag_docs_index output; docs/deployment.md).

resource "alicloud_elasticsearch_instance" "this" {
  description  = "${var.name}-rag"
  version      = var.es_version
  payment_type = "PayAsYouGo"
  vswitch_id   = var.vswitch_id
  zone_count   = var.zone_count
  password     = var.password
  protocol     = "HTTPS"

  enable_public                 = false
  enable_kibana_public_network  = false
  enable_kibana_private_network = false
  private_whitelist             = var.allowed_cidrs

  data_node_configuration {
    spec            = var.data_node_spec
    amount          = var.data_node_count
    disk            = var.data_node_disk_gb
    disk_type       = "cloud_ssd"
    disk_encryption = true
  }

  master_configuration {
    spec      = var.master_node_spec
    amount    = 3
    disk      = 20
    disk_type = "cloud_ssd"
  }

  kibana_configuration {
    spec = var.kibana_node_spec
  }

  setting_config = {
    "action.auto_create_index"         = "false"
    "action.destructive_requires_name" = "true"
  }

  tags = var.tags
}

locals {
  # PUT /rag-docs: ik_max_word analysis, 768-dimension dense_vector.
  rag_docs_index = file("${path.module}/rag-docs-index.es${substr(var.es_version, 0, 1)}.json")
}
