package mlps

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Rule is one check. Rules whose Source is "config" carry the identifier of
// the Alibaba Cloud Config managed rule they implement (the rules of the
// ClassifiedProtectionPreCheck package); "gatehouse" rules, with ids
// starting gh-, are Gatehouse's own, for what GB/T 22239-2019 asks of a
// deployment that no managed rule of the package decides from code.
type Rule struct {
	ID       string   `json:"id"`
	Source   string   `json:"source"`
	Title    string   `json:"title"`
	Severity string   `json:"severity"`
	Clauses  []string `json:"clauses"`
	Types    []string `json:"resourceTypes,omitempty"`
	// Checks says what is checked, and what counts as compliant.
	Checks string `json:"checks"`
	check  func(s *Stack, r *Resource) []Outcome
}

// Outcome is a rule's verdict on a resource that is not a pass.
type Outcome struct {
	Status  Status
	Attr    string // the attribute at fault, for the position
	Message string
	// At is another resource the outcome is about (the standalone ACL of a
	// bucket): its position is reported, and its suppressions apply.
	At *Resource
}

// Status of a finding.
type Status string

const (
	StatusFail    Status = "fail"
	StatusUnknown Status = "unknown"
	StatusNote    Status = "note"
)

func fail(attr, format string, args ...any) Outcome {
	return Outcome{Status: StatusFail, Attr: attr, Message: fmt.Sprintf(format, args...)}
}

func unknown(attr, format string, args ...any) Outcome {
	return Outcome{Status: StatusUnknown, Attr: attr, Message: fmt.Sprintf(format, args...)}
}

// Clauses cites GB/T 22239-2019 (level 3, general requirements) and the
// Cybersecurity Law.
var Clauses = map[string]string{
	"8.1.2.1":        "GB/T 22239-2019 8.1.2.1 security communication network: network architecture",
	"8.1.2.2":        "GB/T 22239-2019 8.1.2.2 security communication network: communication transmission (integrity and confidentiality in transit)",
	"8.1.3.1":        "GB/T 22239-2019 8.1.3.1 security area boundary: boundary protection",
	"8.1.3.2":        "GB/T 22239-2019 8.1.3.2 security area boundary: access control",
	"8.1.3.5":        "GB/T 22239-2019 8.1.3.5 security area boundary: security audit",
	"8.1.4.1":        "GB/T 22239-2019 8.1.4.1 security computing environment: identity authentication",
	"8.1.4.2":        "GB/T 22239-2019 8.1.4.2 security computing environment: access control",
	"8.1.4.3":        "GB/T 22239-2019 8.1.4.3 security computing environment: security audit",
	"8.1.4.4":        "GB/T 22239-2019 8.1.4.4 security computing environment: intrusion prevention",
	"8.1.4.5":        "GB/T 22239-2019 8.1.4.5 security computing environment: malicious code prevention",
	"8.1.4.7":        "GB/T 22239-2019 8.1.4.7 security computing environment: data integrity",
	"8.1.4.8":        "GB/T 22239-2019 8.1.4.8 security computing environment: data confidentiality",
	"8.1.4.9":        "GB/T 22239-2019 8.1.4.9 security computing environment: data backup and recovery",
	"8.1.5.4":        "GB/T 22239-2019 8.1.5.4 security management center: centralized control (audit records kept as long as the law requires)",
	"CSL Art. 21":    "Cybersecurity Law of the PRC, Art. 21(3): network logs kept for no less than six months",
	"provider 1.275": "aliyun/alicloud provider 1.275.0 schema",
}

// Rules returns the rules, in the order they are listed.
func Rules() []*Rule {
	return []*Rule{
		{ID: "sg-public-access-check", Source: "config", Severity: "high", Clauses: []string{"8.1.3.2"},
			Title:  "Security group rules do not open every port to the Internet",
			Types:  []string{"alicloud_security_group_rule"},
			Checks: "an accepting ingress rule whose source is 0.0.0.0/0 or ::/0 must not cover every port (ip_protocol all, port_range -1/-1 or 1/65535)",
			check:  checkSGAllPorts},
		{ID: "ecs-security-group-risky-ports-check-with-protocol", Source: "config", Severity: "high", Clauses: []string{"8.1.3.2", "8.1.4.4"},
			Title:  "Security group rules do not open 22 or 3389 to the Internet",
			Types:  []string{"alicloud_security_group_rule"},
			Checks: "an accepting ingress rule from 0.0.0.0/0 or ::/0 over tcp, udp or all must not include port 22 or 3389",
			check:  checkSGRiskyPorts},
		{ID: "gh-sg-public-ingress-443-only", Source: "gatehouse", Severity: "medium", Clauses: []string{"8.1.3.2"},
			Title:  "The only ingress from the Internet is tcp/443",
			Types:  []string{"alicloud_security_group_rule"},
			Checks: "an accepting ingress rule from 0.0.0.0/0 or ::/0 must be ip_protocol tcp with port_range 443/443",
			check:  checkSGOnly443},
		{ID: "ecs-running-instance-no-public-ip", Source: "config", Severity: "high", Clauses: []string{"8.1.3.1"},
			Title:  "ECS instances have no public IP address",
			Types:  []string{"alicloud_instance"},
			Checks: "internet_max_bandwidth_out must be 0 or unset (a value above 0 allocates a public IP) and allocate_public_ip must not be true",
			check:  checkECSPublicIP},
		{ID: "ecs-in-use-disk-encrypted", Source: "config", Severity: "high", Clauses: []string{"8.1.4.8"},
			Title:  "ECS disks are encrypted",
			Types:  []string{"alicloud_instance", "alicloud_ecs_disk", "alicloud_disk"},
			Checks: "alicloud_instance: system_disk_encrypted = true and encrypted = true in every data_disks block; alicloud_ecs_disk and alicloud_disk: encrypted = true",
			check:  checkDiskEncrypted},
		{ID: "ecs-instance-enabled-security-protection", Source: "config", Severity: "medium", Clauses: []string{"8.1.4.4", "8.1.4.5"},
			Title:  "ECS instances run the security agent",
			Types:  []string{"alicloud_instance"},
			Checks: `security_enhancement_strategy must not be "Deactive" (unset means Active, the provider's default)`,
			check:  checkECSSecurityAgent},
		{ID: "ecs-instances-in-vpc", Source: "config", Severity: "medium", Clauses: []string{"8.1.2.1"},
			Title:  "ECS instances are in a VPC",
			Types:  []string{"alicloud_instance"},
			Checks: "vswitch_id (or subnet_id, or a network_interfaces block with vswitch_id) must be set",
			check:  checkInVPC("vswitch_id", "subnet_id")},
		{ID: "rds-instances-in-vpc", Source: "config", Severity: "medium", Clauses: []string{"8.1.2.1"},
			Title:  "RDS instances are in a VPC",
			Types:  []string{"alicloud_db_instance"},
			Checks: "vswitch_id must be set",
			check:  checkInVPC("vswitch_id")},
		{ID: "rds-instance-enabled-disk-encryption", Source: "config", Severity: "high", Clauses: []string{"8.1.4.8"},
			Title:  "RDS cloud disks are encrypted",
			Types:  []string{"alicloud_db_instance"},
			Checks: "encryption_key (a KMS key for cloud disk encryption) must be set",
			check:  checkRDSDiskEncryption},
		{ID: "gh-rds-ssl-enabled", Source: "gatehouse", Severity: "high", Clauses: []string{"8.1.2.2"},
			Title:  "RDS connections use TLS",
			Types:  []string{"alicloud_db_instance"},
			Checks: `ssl_action must be "Open"`,
			check:  checkRDSSSL},
		{ID: "gh-rds-whitelist-restricted", Source: "gatehouse", Severity: "high", Clauses: []string{"8.1.3.2", "8.1.4.4"},
			Title:  "RDS whitelists do not admit any address",
			Types:  []string{"alicloud_db_instance"},
			Checks: "security_ips must not contain 0.0.0.0/0 or 0.0.0.0",
			check:  checkRDSWhitelist},
		{ID: "rds-instance-enabled-auditing", Source: "config", Severity: "medium", Clauses: []string{"8.1.4.3"},
			Title:  "RDS SQL audit is on",
			Types:  []string{"alicloud_db_instance"},
			Checks: `sql_collector_status must be "Enabled"`,
			check:  checkRDSAudit},
		{ID: "rds-multi-az-support", Source: "config", Severity: "medium", Clauses: []string{"8.1.4.9"},
			Title:  "RDS instances span two zones",
			Types:  []string{"alicloud_db_instance"},
			Checks: "category must not be Basic, and zone_id_slave_a must be set to a zone other than zone_id",
			check:  checkRDSMultiAZ},
		{ID: "gh-log-retention-180-days", Source: "gatehouse", Severity: "high", Clauses: []string{"8.1.5.4", "8.1.4.3", "CSL Art. 21"},
			Title:  "Logs are kept at least 180 days",
			Types:  []string{"alicloud_log_store", "alicloud_db_instance", "alicloud_actiontrail_trail"},
			Checks: "alicloud_log_store: retention_period >= 180 (unset is 30); alicloud_db_instance with SQL audit on: sql_collector_config_value >= 180 (unset is 30); alicloud_actiontrail_trail: delivers to OSS (oss_bucket_name) or SLS (sls_project_arn), since ActionTrail alone keeps 90 days",
			check:  checkRetention},
		{ID: "oss-bucket-public-read-prohibited", Source: "config", Severity: "high", Clauses: []string{"8.1.4.2"},
			Title:  "OSS buckets are not publicly readable",
			Types:  []string{"alicloud_oss_bucket", "alicloud_oss_bucket_acl"},
			Checks: "the bucket's ACL, set by an alicloud_oss_bucket_acl of the bucket or else by the bucket's acl, must not be public-read or public-read-write, unless an alicloud_oss_bucket_public_access_block of the bucket sets block_public_access = true",
			check:  checkOSSPublicRead},
		{ID: "oss-default-encryption-kms", Source: "config", Severity: "high", Clauses: []string{"8.1.4.8"},
			Title:  "OSS buckets are encrypted with KMS",
			Types:  []string{"alicloud_oss_bucket"},
			Checks: `server-side encryption, by an alicloud_oss_bucket_server_side_encryption of the bucket or the bucket's server_side_encryption_rule, must have sse_algorithm = "KMS"`,
			check:  checkOSSKMS},
		{ID: "oss-bucket-versioning-enabled", Source: "config", Severity: "medium", Clauses: []string{"8.1.4.9"},
			Title:  "OSS buckets keep versions",
			Types:  []string{"alicloud_oss_bucket"},
			Checks: `versioning, by an alicloud_oss_bucket_versioning of the bucket or the bucket's versioning block, must have status = "Enabled"`,
			check:  checkOSSVersioning},
		{ID: "oss-zrs-enabled", Source: "config", Severity: "medium", Clauses: []string{"8.1.4.9"},
			Title:  "OSS buckets are zone-redundant",
			Types:  []string{"alicloud_oss_bucket"},
			Checks: `redundancy_type must be "ZRS" (unset is LRS)`,
			check:  checkOSSZRS},
		{ID: "oss-bucket-only-https-enabled", Source: "config", Severity: "high", Clauses: []string{"8.1.2.2"},
			Title:  "OSS buckets refuse plain HTTP",
			Types:  []string{"alicloud_oss_bucket"},
			Checks: `a bucket policy (alicloud_oss_bucket_policy of the bucket, or the bucket's policy) must have a Deny statement with the condition Bool acs:SecureTransport = false`,
			check:  checkOSSHTTPS},
		{ID: "gh-oss-bucket-logging", Source: "gatehouse", Severity: "medium", Clauses: []string{"8.1.4.3"},
			Title:  "OSS buckets log access",
			Types:  []string{"alicloud_oss_bucket"},
			Checks: "an alicloud_oss_bucket_logging of the bucket, or the bucket's logging block, must be there",
			check:  checkOSSLogging},
		{ID: "slb-all-listenter-tls-policy-check", Source: "config", Severity: "high", Clauses: []string{"8.1.2.2"},
			Title:  "HTTPS listeners use a TLS 1.2+ policy",
			Types:  []string{"alicloud_slb_listener"},
			Checks: "an https listener's tls_cipher_policy must be tls_cipher_policy_1_2, tls_cipher_policy_1_2_strict or tls_cipher_policy_1_2_strict_with_1_3 (unset is tls_cipher_policy_1_0)",
			check:  checkSLBTLS},
		{ID: "gh-slb-listener-https-only", Source: "gatehouse", Severity: "high", Clauses: []string{"8.1.2.2"},
			Title:  "Plain HTTP listeners only redirect to HTTPS",
			Types:  []string{"alicloud_slb_listener"},
			Checks: `an http listener must have listener_forward = "on" (redirect to an https listener)`,
			check:  checkSLBHTTP},
		{ID: "actiontrail-trail-intact-enabled", Source: "config", Severity: "high", Clauses: []string{"8.1.4.3", "8.1.3.5"},
			Title:  "ActionTrail records every event in every region",
			Types:  []string{"alicloud_actiontrail_trail"},
			Checks: `event_rw must be "All" (unset is Write) and trail_region "All" (the default)`,
			check:  checkTrailIntact},
		{ID: "actiontrail-enabled", Source: "config", Severity: "high", Clauses: []string{"8.1.4.3"},
			Title:  "ActionTrail trails are on",
			Types:  []string{"alicloud_actiontrail_trail"},
			Checks: `status must not be "Disable" (unset is Enable)`,
			check:  checkTrailEnabled},
		{ID: "elasticsearch-public-and-any-ip-access-check", Source: "config", Severity: "high", Clauses: []string{"8.1.3.2"},
			Title:  "Elasticsearch is not open to any address",
			Types:  []string{"alicloud_elasticsearch_instance"},
			Checks: "with enable_public = true, public_whitelist must be set and contain neither 0.0.0.0/0 nor ::/0",
			check:  checkESPublic},
		{ID: "elasticsearch-instance-multi-zone", Source: "config", Severity: "medium", Clauses: []string{"8.1.4.9"},
			Title:  "Elasticsearch spans zones",
			Types:  []string{"alicloud_elasticsearch_instance"},
			Checks: "zone_count must be 2 or more (unset is 1)",
			check:  checkESZones},
		{ID: "gh-elasticsearch-https", Source: "gatehouse", Severity: "high", Clauses: []string{"8.1.2.2"},
			Title:  "Elasticsearch is reached over HTTPS",
			Types:  []string{"alicloud_elasticsearch_instance"},
			Checks: `protocol must be "HTTPS" (unset is HTTP)`,
			check:  checkESHTTPS},
		{ID: "ram-user-mfa-check", Source: "config", Severity: "high", Clauses: []string{"8.1.4.1"},
			Title:  "Console users must use MFA",
			Types:  []string{"alicloud_ram_login_profile"},
			Checks: `mfa_bind_required must be true, unless an alicloud_ram_security_preference of the stack sets mfa_operation_for_login = "mandatory"`,
			check:  checkRAMMFA},
		{ID: "gh-ram-password-policy", Source: "gatehouse", Severity: "medium", Clauses: []string{"8.1.4.1"},
			Title:  "The RAM password policy is strong",
			Types:  []string{"alicloud_ram_account_password_policy", "alicloud_ram_password_policy"},
			Checks: "minimum_password_length >= 8, at least three of the four require_* character classes, max_password_age 1–90 days, max_login_attempts (max_login_attemps) 1–5",
			check:  checkPasswordPolicy},
		{ID: "gh-ram-least-privilege", Source: "gatehouse", Severity: "high", Clauses: []string{"8.1.4.2"},
			Title:  "Roles do not get administrator or full-access system policies",
			Types:  []string{"alicloud_ram_role_policy_attachment"},
			Checks: "a System policy attached to a role must not be AdministratorAccess or a *FullAccess policy: write a custom policy with the actions the role needs",
			check:  checkLeastPrivilege},
		{ID: "vpc-flow-logs-enabled", Source: "config", Severity: "medium", Clauses: []string{"8.1.3.5"},
			Title:  "VPCs have flow logs",
			Types:  []string{"alicloud_vpc"},
			Checks: `an alicloud_vpc_flow_log with resource_type = "VPC" must name the VPC in resource_id, and not be Inactive`,
			check:  checkFlowLogs},
		{ID: "sls-logstore-enabled-encrypt", Source: "config", Severity: "medium", Clauses: []string{"8.1.4.8", "8.1.4.3"},
			Title:  "Log stores are encrypted",
			Types:  []string{"alicloud_log_store"},
			Checks: "an encrypt_conf block with enable = true",
			check:  checkLogStoreEncrypted},
		{ID: RuleUnknownType, Source: "gatehouse", Severity: "high", Clauses: []string{"provider 1.275"},
			Title:  "Resource types exist in the provider",
			Checks: "a resource or data source type of the alicloud namespace that is not in the embedded schema but is close to a type that is (a typo, an extra product prefix, a plural) is reported with the type meant",
		},
		{ID: RuleUnknownAttribute, Source: "gatehouse", Severity: "high", Clauses: []string{"provider 1.275"},
			Title:  "Arguments exist in the resource's schema",
			Checks: "every argument and nested block of a resource whose type is in the embedded schema must be in its schema, and must not be computed-only",
		},
		{ID: RuleOutsideSchema, Source: "gatehouse", Severity: "note", Clauses: []string{"provider 1.275"},
			Title:  "Resource types outside the embedded schema subset",
			Checks: "a type the embedded schema subset does not cover is listed as not in the embedded schema subset; cannot be checked (a note, not a finding)",
		},
		{ID: RuleSuppression, Source: "gatehouse", Severity: "medium", Clauses: nil,
			Title:  "Suppressions name a rule and give a reason",
			Checks: `an mlps:ignore comment must name existing rule ids and give reason="…"; an invalid one suppresses nothing`,
		},
	}
}

// Ids of the rules the checker itself applies.
const (
	RuleUnknownType      = "gh-schema-unknown-type"
	RuleUnknownAttribute = "gh-schema-unknown-attribute"
	RuleOutsideSchema    = "gh-schema-not-in-subset"
	RuleSuppression      = "gh-suppression-invalid"
)

// isSet says whether an argument has a value: null and "" have none; an
// unknown computed from a resource will have one; an unknown from a
// variable without value cannot be told (known = false).
func isSet(v any) (set, known bool) {
	switch x := v.(type) {
	case nil:
		return false, true
	case string:
		return x != "", true
	case Unknown:
		if len(x.Refs) > 0 {
			return true, true
		}
		return false, false
	case []any:
		return len(x) > 0, true
	}
	return true, true
}

// str returns a string argument, def when unset; ok is false when unknown.
func str(r *Resource, attr, def string) (string, bool) {
	v := r.Get(attr)
	if v == nil {
		return def, true
	}
	if s, ok := asString(v); ok {
		return s, true
	}
	if f, ok := asNumber(v); ok {
		return strconv.FormatFloat(f, 'f', -1, 64), true
	}
	if b, ok := asBool(v); ok {
		return strconv.FormatBool(b), true
	}
	return "", false
}

func num(r *Resource, attr string, def float64) (float64, bool) {
	v := r.Get(attr)
	if v == nil {
		return def, true
	}
	return asNumber(v)
}

func boolean(r *Resource, attr string, def bool) (bool, bool) {
	v := r.Get(attr)
	if v == nil {
		return def, true
	}
	return asBool(v)
}

// --- security groups ---

// publicIngress decides whether a security group rule accepts ingress from
// anywhere; applies is false for egress and drop rules.
func publicIngress(r *Resource) (applies bool, out *Outcome) {
	typ, ok := str(r, "type", "")
	if !ok {
		o := unknown("type", "the rule's type (ingress or egress) cannot be decided")
		return false, &o
	}
	if typ != "ingress" {
		return false, nil
	}
	pol, ok := str(r, "policy", "accept")
	if !ok {
		o := unknown("policy", "the rule's policy cannot be decided")
		return false, &o
	}
	if pol == "drop" {
		return false, nil
	}
	cidr, ok1 := str(r, "cidr_ip", "")
	cidr6, ok2 := str(r, "ipv6_cidr_ip", "")
	if cidr == "0.0.0.0/0" || cidr6 == "::/0" {
		return true, nil
	}
	if !ok1 || !ok2 {
		o := unknown("cidr_ip", "the rule's source address cannot be decided")
		return false, &o
	}
	return false, nil
}

// portRange parses "from/to"; -1/-1 is every port.
func portRange(r *Resource) (from, to int, ok bool) {
	pr, known := str(r, "port_range", "-1/-1")
	if !known {
		return 0, 0, false
	}
	a, b, found := strings.Cut(pr, "/")
	if !found {
		return 0, 0, false
	}
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	if x == -1 && y == -1 {
		return 1, 65535, true
	}
	return x, y, true
}

func sgPreamble(r *Resource) (proto string, from, to int, outs []Outcome, applies bool) {
	public, o := publicIngress(r)
	if o != nil {
		return "", 0, 0, []Outcome{*o}, false
	}
	if !public {
		return "", 0, 0, nil, false
	}
	proto, ok := str(r, "ip_protocol", "")
	if !ok {
		return "", 0, 0, []Outcome{unknown("ip_protocol", "public ingress whose protocol cannot be decided")}, false
	}
	proto = strings.ToLower(proto)
	from, to, ok = portRange(r)
	if proto == "all" {
		from, to, ok = 1, 65535, true
	}
	if !ok {
		return "", 0, 0, []Outcome{unknown("port_range", "public ingress whose port range cannot be decided")}, false
	}
	return proto, from, to, nil, true
}

func checkSGAllPorts(_ *Stack, r *Resource) []Outcome {
	proto, from, to, outs, ok := sgPreamble(r)
	if !ok {
		return outs
	}
	if proto == "all" || (from <= 1 && to >= 65535) {
		return []Outcome{fail("port_range", "ingress from anywhere (0.0.0.0/0) on every port (%s %d/%d)", proto, from, to)}
	}
	return nil
}

func checkSGRiskyPorts(_ *Stack, r *Resource) []Outcome {
	proto, from, to, outs, ok := sgPreamble(r)
	if !ok {
		return outs
	}
	if proto != "tcp" && proto != "udp" && proto != "all" {
		return nil
	}
	var open []string
	for _, p := range []int{22, 3389} {
		if from <= p && p <= to {
			open = append(open, strconv.Itoa(p))
		}
	}
	if len(open) > 0 {
		return []Outcome{fail("port_range", "port %s open to anywhere over %s", strings.Join(open, " and "), proto)}
	}
	return nil
}

func checkSGOnly443(_ *Stack, r *Resource) []Outcome {
	proto, from, to, outs, ok := sgPreamble(r)
	if !ok {
		return outs
	}
	if proto == "tcp" && from == 443 && to == 443 {
		return nil
	}
	return []Outcome{fail("port_range", "ingress from anywhere on %s %d/%d: only tcp 443/443 may be public (put other services behind the load balancer or a bastion)", proto, from, to)}
}

// --- ECS ---

func checkECSPublicIP(_ *Stack, r *Resource) []Outcome {
	bw, ok := num(r, "internet_max_bandwidth_out", 0)
	if !ok {
		return []Outcome{unknown("internet_max_bandwidth_out", "internet_max_bandwidth_out cannot be decided: above 0 it gives the instance a public IP")}
	}
	if bw > 0 {
		return []Outcome{fail("internet_max_bandwidth_out", "internet_max_bandwidth_out = %g gives the instance a public IP: reach it through the load balancer, NAT or a bastion", bw)}
	}
	if pub, ok := boolean(r, "allocate_public_ip", false); ok && pub {
		return []Outcome{fail("allocate_public_ip", "allocate_public_ip = true gives the instance a public IP")}
	}
	return nil
}

func checkDiskEncrypted(_ *Stack, r *Resource) []Outcome {
	if r.Type != "alicloud_instance" {
		enc, ok := boolean(r, "encrypted", false)
		switch {
		case !ok:
			return []Outcome{unknown("encrypted", "whether the disk is encrypted cannot be decided")}
		case !enc:
			return []Outcome{fail("encrypted", "the disk is not encrypted: set encrypted = true (and kms_key_id)")}
		}
		return nil
	}
	var outs []Outcome
	enc, ok := boolean(r, "system_disk_encrypted", false)
	switch {
	case !ok:
		outs = append(outs, unknown("system_disk_encrypted", "whether the system disk is encrypted cannot be decided"))
	case !enc:
		outs = append(outs, fail("system_disk_encrypted", "the system disk is not encrypted: set system_disk_encrypted = true"))
	}
	disks, known := asList(r.Get("data_disks"))
	if !known {
		return append(outs, unknown("data_disks", "the data disks cannot be decided"))
	}
	for i, d := range disks {
		m, _ := d.(map[string]any)
		e, ok := asBool(m["encrypted"])
		switch {
		case m["encrypted"] == nil || ok && !e:
			outs = append(outs, fail("data_disks", "data disk %d is not encrypted: set encrypted = true", i))
		case !ok:
			outs = append(outs, unknown("data_disks", "whether data disk %d is encrypted cannot be decided", i))
		}
	}
	return outs
}

func checkECSSecurityAgent(_ *Stack, r *Resource) []Outcome {
	s, ok := str(r, "security_enhancement_strategy", "Active")
	if !ok {
		return []Outcome{unknown("security_enhancement_strategy", "security_enhancement_strategy cannot be decided")}
	}
	if s == "Deactive" {
		return []Outcome{fail("security_enhancement_strategy", `security_enhancement_strategy = "Deactive" leaves the instance without the Security Center agent`)}
	}
	return nil
}

func checkInVPC(attrs ...string) func(*Stack, *Resource) []Outcome {
	return func(_ *Stack, r *Resource) []Outcome {
		undecided := false
		for _, a := range attrs {
			set, known := isSet(r.Get(a))
			if set {
				return nil
			}
			undecided = undecided || !known
		}
		if nics, _ := asList(r.Get("network_interfaces")); len(nics) > 0 {
			for _, n := range nics {
				if m, ok := n.(map[string]any); ok {
					if set, _ := isSet(m["vswitch_id"]); set {
						return nil
					}
				}
			}
		}
		if undecided {
			return []Outcome{unknown(attrs[0], "%s cannot be decided", attrs[0])}
		}
		return []Outcome{fail(attrs[0], "no %s: the instance would be on the classic network", attrs[0])}
	}
}

// --- RDS ---

func checkRDSDiskEncryption(_ *Stack, r *Resource) []Outcome {
	set, known := isSet(r.Get("encryption_key"))
	switch {
	case !known:
		return []Outcome{unknown("encryption_key", "encryption_key cannot be decided")}
	case !set:
		return []Outcome{fail("encryption_key", "no encryption_key: the instance's cloud disks are not encrypted")}
	}
	return nil
}

func checkRDSSSL(_ *Stack, r *Resource) []Outcome {
	s, ok := str(r, "ssl_action", "")
	switch {
	case !ok:
		return []Outcome{unknown("ssl_action", "ssl_action cannot be decided")}
	case s != "Open":
		return []Outcome{fail("ssl_action", `ssl_action is %q: set ssl_action = "Open" so that connections use TLS`, s)}
	}
	return nil
}

func checkRDSWhitelist(_ *Stack, r *Resource) []Outcome {
	ips, ok := asList(r.Get("security_ips"))
	for _, ip := range ips {
		if s, _ := ip.(string); s == "0.0.0.0/0" || s == "0.0.0.0" {
			return []Outcome{fail("security_ips", "security_ips admits any address (%s): list the application's vSwitch CIDR", s)}
		}
	}
	if !ok {
		return []Outcome{unknown("security_ips", "security_ips cannot be decided")}
	}
	return nil
}

func checkRDSAudit(_ *Stack, r *Resource) []Outcome {
	s, ok := str(r, "sql_collector_status", "Disabled")
	switch {
	case !ok:
		return []Outcome{unknown("sql_collector_status", "sql_collector_status cannot be decided")}
	case !strings.EqualFold(s, "Enabled"):
		return []Outcome{fail("sql_collector_status", `SQL audit is off: set sql_collector_status = "Enabled"`)}
	}
	return nil
}

func checkRDSMultiAZ(_ *Stack, r *Resource) []Outcome {
	cat, ok := str(r, "category", "")
	if !ok {
		return []Outcome{unknown("category", "category cannot be decided")}
	}
	if strings.EqualFold(cat, "Basic") || strings.HasPrefix(strings.ToLower(cat), "serverless_basic") {
		return []Outcome{fail("category", "category %q has a single node: use HighAvailability with zone_id_slave_a in another zone", cat)}
	}
	slave := r.Get("zone_id_slave_a")
	set, known := isSet(slave)
	if !known {
		return []Outcome{unknown("zone_id_slave_a", "zone_id_slave_a cannot be decided")}
	}
	if !set {
		return []Outcome{fail("zone_id_slave_a", "no zone_id_slave_a: the secondary node is in the primary's zone")}
	}
	a, ok1 := r.Get("zone_id").(string)
	b, ok2 := slave.(string)
	switch {
	case ok1 && ok2 && a == b:
		return []Outcome{fail("zone_id_slave_a", "zone_id_slave_a is the primary's zone %q", a)}
	case ok2:
		return nil
	}
	return []Outcome{unknown("zone_id_slave_a", "whether zone_id_slave_a differs from zone_id cannot be decided")}
}

func checkRetention(_ *Stack, r *Resource) []Outcome {
	switch r.Type {
	case "alicloud_log_store":
		d, ok := num(r, "retention_period", 30)
		switch {
		case !ok:
			return []Outcome{unknown("retention_period", "retention_period cannot be decided")}
		case d < 180:
			return []Outcome{fail("retention_period", "logs are kept %g days: keep them at least 180 (retention_period >= 180)", d)}
		}
	case "alicloud_db_instance":
		s, ok := str(r, "sql_collector_status", "Disabled")
		if !ok || !strings.EqualFold(s, "Enabled") {
			return nil // rds-instance-enabled-auditing reports it
		}
		d, ok := num(r, "sql_collector_config_value", 30)
		switch {
		case !ok:
			return []Outcome{unknown("sql_collector_config_value", "sql_collector_config_value cannot be decided")}
		case d < 180:
			return []Outcome{fail("sql_collector_config_value", "SQL audit is kept %g days: set sql_collector_config_value >= 180", d)}
		}
	case "alicloud_actiontrail_trail":
		oss, k1 := isSet(r.Get("oss_bucket_name"))
		sls, k2 := isSet(r.Get("sls_project_arn"))
		if oss || sls {
			return nil
		}
		if !k1 || !k2 {
			return []Outcome{unknown("oss_bucket_name", "where the trail delivers cannot be decided")}
		}
		return []Outcome{fail("oss_bucket_name", "the trail delivers to neither OSS nor SLS: ActionTrail alone keeps events 90 days")}
	}
	return nil
}

// --- OSS ---

// bucketSetting returns the standalone resources of typ that configure
// bucket b (by reference, or by the bucket's name).
func bucketSetting(s *Stack, b *Resource, typ string) []*Resource {
	return s.linked(b, typ, "bucket", "bucket")
}

func checkOSSPublicRead(s *Stack, r *Resource) []Outcome {
	if r.Type == "alicloud_oss_bucket_acl" {
		// Checked through its bucket when the bucket is in the stack.
		for _, b := range s.OfType("alicloud_oss_bucket") {
			if s.refersTo(r, r.Get("bucket"), b, "bucket") {
				return nil
			}
		}
		return aclOutcome(r, "acl", nil)
	}
	for _, pab := range bucketSetting(s, r, "alicloud_oss_bucket_public_access_block") {
		if on, ok := boolean(pab, "block_public_access", false); ok && on {
			return nil
		}
	}
	if acls := bucketSetting(s, r, "alicloud_oss_bucket_acl"); len(acls) > 0 {
		var outs []Outcome
		for _, a := range acls {
			outs = append(outs, aclOutcome(a, "acl", a)...)
		}
		return outs
	}
	return aclOutcome(r, "acl", nil)
}

func aclOutcome(r *Resource, attr string, at *Resource) []Outcome {
	acl, ok := str(r, attr, "private")
	var o Outcome
	switch {
	case !ok:
		o = unknown(attr, "the bucket's ACL cannot be decided")
	case acl == "public-read" || acl == "public-read-write":
		o = fail(attr, "the bucket's ACL is %s: anyone can read its objects", acl)
	default:
		return nil
	}
	o.At = at
	return []Outcome{o}
}

func checkOSSKMS(s *Stack, r *Resource) []Outcome {
	type src struct {
		res  *Resource
		attr string
	}
	var srcs []src
	for _, e := range bucketSetting(s, r, "alicloud_oss_bucket_server_side_encryption") {
		srcs = append(srcs, src{e, "sse_algorithm"})
	}
	if l, _ := asList(r.Get("server_side_encryption_rule")); len(srcs) == 0 && len(l) > 0 {
		srcs = append(srcs, src{r, "server_side_encryption_rule.sse_algorithm"})
	}
	if len(srcs) == 0 {
		return []Outcome{fail("server_side_encryption_rule", "no server-side encryption: add alicloud_oss_bucket_server_side_encryption with sse_algorithm = \"KMS\"")}
	}
	var outs []Outcome
	for _, x := range srcs {
		alg, ok := str(x.res, x.attr, "")
		var o Outcome
		switch {
		case !ok:
			o = unknown(x.attr, "sse_algorithm cannot be decided")
		case alg != "KMS":
			o = fail(x.attr, "sse_algorithm is %q: use KMS", alg)
		default:
			continue
		}
		if x.res != r {
			o.At = x.res
		}
		outs = append(outs, o)
	}
	return outs
}

func checkOSSVersioning(s *Stack, r *Resource) []Outcome {
	if vs := bucketSetting(s, r, "alicloud_oss_bucket_versioning"); len(vs) > 0 {
		for _, v := range vs {
			st, ok := str(v, "status", "")
			if !ok {
				return []Outcome{{Status: StatusUnknown, Attr: "status", Message: "versioning status cannot be decided", At: v}}
			}
			if st == "Enabled" {
				return nil
			}
		}
		return []Outcome{{Status: StatusFail, Attr: "status", Message: `versioning is not "Enabled"`, At: vs[0]}}
	}
	st, ok := str(r, "versioning.status", "")
	switch {
	case !ok:
		return []Outcome{unknown("versioning", "versioning status cannot be decided")}
	case st != "Enabled":
		return []Outcome{fail("versioning", `versioning is off: add alicloud_oss_bucket_versioning with status = "Enabled"`)}
	}
	return nil
}

func checkOSSZRS(_ *Stack, r *Resource) []Outcome {
	t, ok := str(r, "redundancy_type", "LRS")
	switch {
	case !ok:
		return []Outcome{unknown("redundancy_type", "redundancy_type cannot be decided")}
	case t != "ZRS":
		return []Outcome{fail("redundancy_type", `redundancy_type is %s: set redundancy_type = "ZRS"`, t)}
	}
	return nil
}

func checkOSSHTTPS(s *Stack, r *Resource) []Outcome {
	docs := []*Resource{}
	for _, p := range bucketSetting(s, r, "alicloud_oss_bucket_policy") {
		docs = append(docs, p)
	}
	if r.Get("policy") != nil {
		docs = append(docs, r)
	}
	undecided := false
	for _, d := range docs {
		v := d.Get("policy")
		text, ok := v.(string)
		if !ok {
			// A document written out in the configuration, naming a bucket
			// not known yet: its Deny holds whatever the unknown parts are;
			// its absence does not prove anything.
			if u, isU := v.(Unknown); isU && u.PartialJSON != "" && deniesPlainHTTP(u.PartialJSON) {
				return nil
			}
			undecided = true
			continue
		}
		if deniesPlainHTTP(text) {
			return nil
		}
	}
	if undecided {
		return []Outcome{unknown("policy", "the bucket policy cannot be decided")}
	}
	return []Outcome{fail("policy", "no bucket policy denies requests without TLS (Deny when acs:SecureTransport is false)")}
}

// deniesPlainHTTP reports whether a bucket policy has a Deny statement
// conditioned on acs:SecureTransport being false.
func deniesPlainHTTP(text string) bool {
	var doc struct {
		Statement []struct {
			Effect    string                    `json:"Effect"`
			Condition map[string]map[string]any `json:"Condition"`
		} `json:"Statement"`
	}
	if json.Unmarshal([]byte(text), &doc) != nil {
		return false
	}
	for _, st := range doc.Statement {
		if !strings.EqualFold(st.Effect, "Deny") {
			continue
		}
		for op, kv := range st.Condition {
			if !strings.EqualFold(op, "Bool") {
				continue
			}
			for k, v := range kv {
				if !strings.EqualFold(k, "acs:SecureTransport") {
					continue
				}
				vals := []any{v}
				if l, ok := v.([]any); ok {
					vals = l
				}
				for _, x := range vals {
					if b, ok := asBool(x); ok && !b {
						return true
					}
				}
			}
		}
	}
	return false
}

func checkOSSLogging(s *Stack, r *Resource) []Outcome {
	if len(bucketSetting(s, r, "alicloud_oss_bucket_logging")) > 0 {
		return nil
	}
	if l, _ := asList(r.Get("logging")); len(l) > 0 {
		return nil
	}
	if isUnknown(r.Get("logging")) {
		return []Outcome{unknown("logging", "logging cannot be decided")}
	}
	return []Outcome{fail("logging", "access to the bucket is not logged: add alicloud_oss_bucket_logging")}
}

// --- SLB ---

var tlsPolicies = []string{"tls_cipher_policy_1_2", "tls_cipher_policy_1_2_strict", "tls_cipher_policy_1_2_strict_with_1_3"}

func checkSLBTLS(_ *Stack, r *Resource) []Outcome {
	p, ok := str(r, "protocol", "")
	if !ok {
		return []Outcome{unknown("protocol", "the listener's protocol cannot be decided")}
	}
	if p != "https" {
		return nil
	}
	pol, ok := str(r, "tls_cipher_policy", "tls_cipher_policy_1_0")
	switch {
	case !ok:
		return []Outcome{unknown("tls_cipher_policy", "tls_cipher_policy cannot be decided")}
	case !slices.Contains(tlsPolicies, pol):
		return []Outcome{fail("tls_cipher_policy", "tls_cipher_policy is %s: use tls_cipher_policy_1_2_strict (or %s)", pol, strings.Join(tlsPolicies, ", "))}
	}
	return nil
}

func checkSLBHTTP(_ *Stack, r *Resource) []Outcome {
	p, ok := str(r, "protocol", "")
	if !ok {
		return []Outcome{unknown("protocol", "the listener's protocol cannot be decided")}
	}
	if p != "http" {
		return nil
	}
	fwd, ok := str(r, "listener_forward", "off")
	switch {
	case !ok:
		return []Outcome{unknown("listener_forward", "listener_forward cannot be decided")}
	case fwd != "on":
		return []Outcome{fail("protocol", `an http listener serves plain HTTP: set listener_forward = "on" and forward_port to the https listener, or remove it`)}
	}
	return nil
}

// --- ActionTrail ---

func checkTrailIntact(_ *Stack, r *Resource) []Outcome {
	var outs []Outcome
	rw, ok := str(r, "event_rw", "Write")
	switch {
	case !ok:
		outs = append(outs, unknown("event_rw", "event_rw cannot be decided"))
	case rw != "All":
		outs = append(outs, fail("event_rw", `event_rw is %q: set event_rw = "All" to record reads too`, rw))
	}
	reg, ok := str(r, "trail_region", "All")
	switch {
	case !ok:
		outs = append(outs, unknown("trail_region", "trail_region cannot be decided"))
	case reg != "All":
		outs = append(outs, fail("trail_region", `trail_region is %q: set trail_region = "All"`, reg))
	}
	return outs
}

func checkTrailEnabled(_ *Stack, r *Resource) []Outcome {
	st, ok := str(r, "status", "Enable")
	switch {
	case !ok:
		return []Outcome{unknown("status", "the trail's status cannot be decided")}
	case st == "Disable":
		return []Outcome{fail("status", `the trail is off (status = "Disable")`)}
	}
	return nil
}

// --- Elasticsearch ---

func checkESPublic(_ *Stack, r *Resource) []Outcome {
	pub, ok := boolean(r, "enable_public", false)
	if !ok {
		return []Outcome{unknown("enable_public", "enable_public cannot be decided")}
	}
	if !pub {
		return nil
	}
	wl := r.Get("public_whitelist")
	if wl == nil {
		return []Outcome{unknown("public_whitelist", "public access is on and public_whitelist is not set: the service's default whitelist applies")}
	}
	ips, known := asList(wl)
	for _, ip := range ips {
		if s, _ := ip.(string); s == "0.0.0.0/0" || s == "::/0" {
			return []Outcome{fail("public_whitelist", "public access is open to any address (%s)", s)}
		}
	}
	if !known {
		return []Outcome{unknown("public_whitelist", "public_whitelist cannot be decided")}
	}
	return nil
}

func checkESZones(_ *Stack, r *Resource) []Outcome {
	n, ok := num(r, "zone_count", 1)
	switch {
	case !ok:
		return []Outcome{unknown("zone_count", "zone_count cannot be decided")}
	case n < 2:
		return []Outcome{fail("zone_count", "zone_count is %g: deploy across at least two zones", n)}
	}
	return nil
}

func checkESHTTPS(_ *Stack, r *Resource) []Outcome {
	p, ok := str(r, "protocol", "HTTP")
	switch {
	case !ok:
		return []Outcome{unknown("protocol", "protocol cannot be decided")}
	case !strings.EqualFold(p, "HTTPS"):
		return []Outcome{fail("protocol", `protocol is %s: set protocol = "HTTPS"`, p)}
	}
	return nil
}

// --- RAM ---

func checkRAMMFA(s *Stack, r *Resource) []Outcome {
	for _, p := range s.OfType("alicloud_ram_security_preference") {
		if m, ok := str(p, "mfa_operation_for_login", ""); ok && m == "mandatory" {
			return nil
		}
	}
	on, ok := boolean(r, "mfa_bind_required", false)
	switch {
	case !ok:
		return []Outcome{unknown("mfa_bind_required", "mfa_bind_required cannot be decided")}
	case !on:
		return []Outcome{fail("mfa_bind_required", "the console user need not bind an MFA device: set mfa_bind_required = true")}
	}
	return nil
}

func checkPasswordPolicy(_ *Stack, r *Resource) []Outcome {
	var outs []Outcome
	if n, ok := num(r, "minimum_password_length", 8); !ok {
		outs = append(outs, unknown("minimum_password_length", "minimum_password_length cannot be decided"))
	} else if n < 8 {
		outs = append(outs, fail("minimum_password_length", "minimum_password_length is %g: at least 8", n))
	}
	classes, undecided := 0, false
	for _, a := range []string{"require_lowercase_characters", "require_uppercase_characters", "require_numbers", "require_symbols"} {
		b, ok := boolean(r, a, false)
		undecided = undecided || !ok
		if b {
			classes++
		}
	}
	if classes < 3 {
		if undecided {
			outs = append(outs, unknown("require_numbers", "the required character classes cannot be decided"))
		} else {
			outs = append(outs, fail("require_numbers", "%d character classes required: require at least three of lower case, upper case, numbers and symbols", classes))
		}
	}
	if n, ok := num(r, "max_password_age", 0); !ok {
		outs = append(outs, unknown("max_password_age", "max_password_age cannot be decided"))
	} else if n < 1 || n > 90 {
		outs = append(outs, fail("max_password_age", "max_password_age is %g: passwords must expire within 90 days", n))
	}
	attempts := "max_login_attempts"
	if r.Type == "alicloud_ram_password_policy" {
		attempts = "max_login_attemps" // sic: the provider's spelling
	}
	if n, ok := num(r, attempts, 5); !ok {
		outs = append(outs, unknown(attempts, "%s cannot be decided", attempts))
	} else if n < 1 || n > 5 {
		outs = append(outs, fail(attempts, "%s is %g: lock sign-in after at most 5 failures", attempts, n))
	}
	return outs
}

func checkLeastPrivilege(_ *Stack, r *Resource) []Outcome {
	typ, ok1 := str(r, "policy_type", "")
	name, ok2 := str(r, "policy_name", "")
	if !ok1 || !ok2 {
		return []Outcome{unknown("policy_name", "the attached policy cannot be decided")}
	}
	if !strings.EqualFold(typ, "System") {
		return nil
	}
	if name == "AdministratorAccess" || strings.HasSuffix(name, "FullAccess") {
		return []Outcome{fail("policy_name", "the role gets the system policy %s: attach a custom policy with only the actions it needs", name)}
	}
	return nil
}

// --- VPC, SLS ---

func checkFlowLogs(s *Stack, r *Resource) []Outcome {
	undecided := false
	for _, fl := range s.OfType("alicloud_vpc_flow_log") {
		if _, ok := str(fl, "resource_type", ""); !ok {
			undecided = true
		}
	}
	for _, fl := range s.linked(r, "alicloud_vpc_flow_log", "resource_id", "id") {
		if rt, ok := str(fl, "resource_type", ""); !ok || rt != "VPC" {
			continue
		}
		if st, ok := str(fl, "status", "Active"); ok && st == "Inactive" {
			return []Outcome{{Status: StatusFail, Attr: "status", Message: "the VPC's flow log is Inactive", At: fl}}
		}
		return nil
	}
	if undecided {
		return []Outcome{unknown("", "whether a flow log covers the VPC cannot be decided")}
	}
	return []Outcome{fail("", "no flow log records the VPC's traffic: add alicloud_vpc_flow_log with resource_type = \"VPC\"")}
}

func checkLogStoreEncrypted(_ *Stack, r *Resource) []Outcome {
	if l, _ := asList(r.Get("encrypt_conf")); len(l) == 0 && !isUnknown(r.Get("encrypt_conf")) {
		return []Outcome{fail("encrypt_conf", "the log store is not encrypted: add encrypt_conf { enable = true }")}
	}
	on, ok := boolean(r, "encrypt_conf.enable", false)
	switch {
	case !ok:
		return []Outcome{unknown("encrypt_conf", "encrypt_conf.enable cannot be decided")}
	case !on:
		return []Outcome{fail("encrypt_conf", "encrypt_conf.enable is false")}
	}
	return nil
}
