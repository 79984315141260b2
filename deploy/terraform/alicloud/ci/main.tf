# The CI role: assumed through STS (AssumeRole from named RAM identities, or
# AssumeRoleWithOIDC from a CI's OIDC tokens), short-lived credentials, and
# custom policies limited to this region and to the services and actions
# the stack's modules call. It can read RAM (to plan) but not change it: the
# role itself, its policies and the account's password and MFA settings are
# applied by an administrator (terraform apply -target=module.ci
# -target=module.identity), so CI cannot grant itself more.

data "alicloud_account" "current" {}

data "alicloud_regions" "current" {
  current = true
}

locals {
  account = data.alicloud_account.current.id
  region  = data.alicloud_regions.current.regions[0].id

  trust = concat(
    length(var.trusted_principals) == 0 ? [] : [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { RAM = var.trusted_principals }
    }],
    var.oidc == null ? [] : [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Federated = [var.oidc.provider_arn] }
      Condition = {
        StringEquals = {
          "oidc:iss" = [var.oidc.issuer]
          "oidc:aud" = [var.oidc.audience]
          "oidc:sub" = var.oidc.subjects
        }
      }
    }],
  )

  in_region = ["acs:*:${local.region}:${local.account}:*"]

  policies = {
    network = [{
      Effect = "Allow"
      Action = [
        "vpc:Describe*", "vpc:List*", "vpc:Get*",
        "vpc:CreateVpc", "vpc:DeleteVpc", "vpc:ModifyVpcAttribute",
        "vpc:CreateVSwitch", "vpc:DeleteVSwitch", "vpc:ModifyVSwitchAttribute",
        "vpc:CreateFlowLog", "vpc:DeleteFlowLog", "vpc:ModifyFlowLogAttribute", "vpc:ActiveFlowLog", "vpc:DeactiveFlowLog",
        "vpc:CreateNatGateway", "vpc:DeleteNatGateway", "vpc:ModifyNatGatewayAttribute",
        "vpc:AllocateEipAddress", "vpc:ReleaseEipAddress", "vpc:AssociateEipAddress", "vpc:UnassociateEipAddress", "vpc:ModifyEipAddressAttribute",
        "vpc:CreateSnatEntry", "vpc:DeleteSnatEntry", "vpc:ModifySnatEntry",
        "vpc:TagResources", "vpc:UnTagResources",
        "ecs:DescribeSecurityGroups", "ecs:DescribeSecurityGroupAttribute", "ecs:CreateSecurityGroup", "ecs:DeleteSecurityGroup",
        "ecs:ModifySecurityGroupPolicy", "ecs:ModifySecurityGroupAttribute", "ecs:ModifySecurityGroupRule", "ecs:ModifySecurityGroupEgressRule",
        "ecs:AuthorizeSecurityGroup", "ecs:AuthorizeSecurityGroupEgress", "ecs:RevokeSecurityGroup", "ecs:RevokeSecurityGroupEgress",
      ]
      Resource = local.in_region
    }]
    compute = [{
      Effect = "Allow"
      Action = [
        "ecs:DescribeInstances", "ecs:DescribeInstanceAttribute", "ecs:DescribeImages", "ecs:DescribeDisks", "ecs:DescribeNetworkInterfaces",
        "ecs:DescribeInstanceTypes", "ecs:DescribeAvailableResource", "ecs:DescribeZones", "ecs:DescribeUserData", "ecs:DescribeInstanceMaintenanceAttributes",
        "ecs:DescribeTagKeys", "ecs:DescribeTags", "ecs:ListTagResources",
        "ecs:RunInstances", "ecs:CreateInstance", "ecs:StartInstance", "ecs:StopInstance", "ecs:RebootInstance", "ecs:DeleteInstance",
        "ecs:ModifyInstanceAttribute", "ecs:ModifyInstanceMetadataOptions", "ecs:ModifyInstanceSpec", "ecs:ModifyInstanceChargeType", "ecs:ModifyInstanceVpcAttribute",
        "ecs:ModifyDiskAttribute", "ecs:ResizeDisk", "ecs:JoinSecurityGroup", "ecs:LeaveSecurityGroup",
        "ecs:TagResources", "ecs:UntagResources",
      ]
      Resource = local.in_region
    }]
    database = [{
      Effect = "Allow"
      Action = [
        "rds:Describe*", "rds:List*",
        "rds:CreateDBInstance", "rds:DeleteDBInstance", "rds:ModifyDBInstance*", "rds:ModifySecurityIps", "rds:ModifyDBInstanceSSL",
        "rds:ModifyDBInstanceTDE", "rds:ModifySQLCollectorPolicy", "rds:ModifySQLCollectorRetention", "rds:ModifyParameter",
        "rds:CreateDatabase", "rds:DeleteDatabase", "rds:ModifyDBDescription",
        "rds:CreateAccount", "rds:DeleteAccount", "rds:ResetAccountPassword", "rds:ModifyAccountDescription",
        "rds:GrantAccountPrivilege", "rds:RevokeAccountPrivilege",
        "rds:TagResources", "rds:UntagResources",
      ]
      Resource = local.in_region
    }]
    storage = [{
      Effect = "Allow"
      Action = [
        "oss:ListBuckets", "oss:GetBucket*", "oss:PutBucket", "oss:PutBucket*", "oss:DeleteBucket", "oss:DeleteBucket*",
      ]
      Resource = ["acs:oss:*:${local.account}:${var.name}-*"]
    }]
    edge = [{
      Effect = "Allow"
      Action = [
        "slb:Describe*", "slb:ListTagResources",
        "slb:CreateLoadBalancer", "slb:DeleteLoadBalancer", "slb:SetLoadBalancer*", "slb:ModifyLoadBalancer*",
        "slb:CreateLoadBalancerHTTPSListener", "slb:SetLoadBalancerHTTPSListenerAttribute",
        "slb:StartLoadBalancerListener", "slb:StopLoadBalancerListener", "slb:DeleteLoadBalancerListener",
        "slb:CreateVServerGroup", "slb:DeleteVServerGroup", "slb:SetVServerGroupAttribute",
        "slb:AddVServerGroupBackendServers", "slb:RemoveVServerGroupBackendServers", "slb:ModifyVServerGroupBackendServers",
        "slb:UploadServerCertificate", "slb:DeleteServerCertificate", "slb:SetServerCertificateName",
        "slb:TagResources", "slb:UntagResources",
        "yundun-cert:Describe*", "yundun-cert:List*", "yundun-cert:Get*", "yundun-cert:CreateUserCertificate", "yundun-cert:UploadUserCertificate", "yundun-cert:DeleteUserCertificate",
      ]
      Resource = ["*"] # CAS certificates are not regional
    }]
    search = [{
      Effect = "Allow"
      Action = [
        "elasticsearch:Describe*", "elasticsearch:List*", "elasticsearch:Get*",
        "elasticsearch:CreateInstance", "elasticsearch:DeleteInstance", "elasticsearch:UpdateInstance", "elasticsearch:UpdateInstanceSettings",
        "elasticsearch:UpdateWhiteIps", "elasticsearch:UpdateKibanaWhiteIps", "elasticsearch:UpdatePublicNetwork", "elasticsearch:TriggerNetwork",
        "elasticsearch:UpdateDescription", "elasticsearch:UpdateAdminPassword", "elasticsearch:UpdateHttps", "elasticsearch:OpenHttps",
        "elasticsearch:UpdateYmlConfig", "elasticsearch:TagResources", "elasticsearch:UntagResources",
      ]
      Resource = local.in_region
    }]
    audit = [
      {
        Effect = "Allow"
        Action = [
          "actiontrail:CreateTrail", "actiontrail:UpdateTrail", "actiontrail:DeleteTrail", "actiontrail:DescribeTrails", "actiontrail:GetTrailStatus",
          "actiontrail:StartLogging", "actiontrail:StopLogging",
          "log:GetProject", "log:ListProject", "log:CreateProject", "log:UpdateProject", "log:DeleteProject",
          "log:GetLogStore", "log:ListLogStores", "log:CreateLogStore", "log:UpdateLogStore", "log:DeleteLogStore",
          "log:TagResources", "log:UntagResources", "log:ListTagResources",
          "kms:DescribeKey", "kms:ListKeys", "kms:ListResourceTags", "kms:CreateKey", "kms:UpdateKeyDescription", "kms:UpdateRotationPolicy",
          "kms:SetDeletionProtection", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:TagResource", "kms:UntagResource",
        ]
        Resource = ["*"] # ActionTrail trails span regions
      },
      {
        Effect    = "Allow"
        Action    = ["ram:CreateServiceLinkedRole"]
        Resource  = ["*"]
        Condition = { StringEquals = { "ram:ServiceName" = ["actiontrail.aliyuncs.com", "rds.aliyuncs.com", "elasticsearch.aliyuncs.com", "nat.aliyuncs.com", "slb.aliyuncs.com"] } }
      },
      {
        # To plan: read RAM, never write it (see above).
        Effect   = "Allow"
        Action   = ["ram:Get*", "ram:List*", "sts:GetCallerIdentity"]
        Resource = ["*"]
      },
    ]
  }

  state = var.state_bucket == null ? [] : concat(
    [{
      Effect   = "Allow"
      Action   = ["oss:GetObject", "oss:PutObject", "oss:DeleteObject", "oss:ListObjects"]
      Resource = ["acs:oss:*:${local.account}:${var.state_bucket}", "acs:oss:*:${local.account}:${var.state_bucket}/${var.state_prefix}/*"]
    }],
    var.state_lock_table == null ? [] : [{
      Effect   = "Allow"
      Action   = ["ots:GetRow", "ots:PutRow", "ots:UpdateRow", "ots:DeleteRow", "ots:DescribeTable"]
      Resource = [var.state_lock_table]
    }],
  )
  all_policies = merge(local.policies, length(local.state) == 0 ? {} : { state = local.state })
}

resource "alicloud_ram_role" "ci" {
  role_name                   = "${var.name}-ci"
  description                 = "CI for the Gatehouse stack ${var.name}: STS only, least privilege"
  assume_role_policy_document = jsonencode({ Version = "1", Statement = local.trust })
  max_session_duration        = var.max_session_seconds
  tags                        = var.tags

  lifecycle {
    precondition {
      condition     = length(local.trust) > 0
      error_message = "Name at least one trusted principal or an OIDC provider: nobody could assume the role."
    }
  }
}

resource "alicloud_ram_policy" "ci" {
  for_each        = local.all_policies
  policy_name     = "${var.name}-ci-${each.key}"
  description     = "Gatehouse ${var.name} CI: ${each.key}"
  policy_document = jsonencode({ Version = "1", Statement = each.value })
  rotate_strategy = "DeleteOldestNonDefaultVersionWhenLimitExceeded"
  force           = true
}

resource "alicloud_ram_role_policy_attachment" "ci" {
  for_each    = alicloud_ram_policy.ci
  role_name   = alicloud_ram_role.ci.role_name
  policy_name = each.value.policy_name
  policy_type = "Custom"
}

resource "alicloud_ram_role_policy_attachment" "seed" {
  for_each    = var.attach_seed_system_policies ? toset(["AliyunVPCFullAccess", "AliyunECSFullAccess"]) : toset([])
  role_name   = alicloud_ram_role.ci.role_name
  policy_name = each.value
  policy_type = "System"
}
