# platform-scenario.txt, step 1: "Create a RAM Role with AliyunVPCFullAccess
# and AliyunECSFullAccess."
resource "alicloud_ram_role" "ci" {
  role_name = "ci-deployer"
  assume_role_policy_document = jsonencode({
    Version = "1"
    Statement = [{
      Action    = "sts:AssumeRole"
      Effect    = "Allow"
      Principal = { RAM = ["acs:ram::123456789012:root"] }
    }]
  })
}

resource "alicloud_ram_role_policy_attachment" "vpc" {
  role_name   = alicloud_ram_role.ci.role_name
  policy_name = "AliyunVPCFullAccess"
  policy_type = "System"
}

resource "alicloud_ram_role_policy_attachment" "ecs" {
  role_name   = alicloud_ram_role.ci.role_name
  policy_name = "AliyunECSFullAccess"
  policy_type = "System"
}
