terraform {
  required_version = ">= 1.5"
  required_providers {
    alicloud = {
      source  = "aliyun/alicloud"
      version = "1.275.0"
    }
  }

  # Keep the state in OSS with a Tablestore lock (the state holds the
  # database and Elasticsearch passwords): see README.md.
  # backend "oss" {}
}

provider "alicloud" {
  region = var.region
  # Credentials from the environment: ALICLOUD_ACCESS_KEY_ID,
  # ALICLOUD_ACCESS_KEY_SECRET and ALICLOUD_SECURITY_TOKEN (the CI role's
  # STS credentials), never in this file.
}
