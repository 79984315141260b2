package mlps

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"testing"
)

var syntheticPlan = flag.String("synthetic-plan", "", "write the benchmark's synthetic 5,000-resource plan to this file (TestWriteSyntheticPlan)")

// synthetic builds a plan of n resources in the form of terraform show
// -json: 25 kinds of resource, half of them compliant, with references
// between resources (rules to groups, ACLs to buckets, flow logs to
// VPCs), unknown values and a configuration section.
func synthetic(n int) []byte {
	const provider = "registry.terraform.io/aliyun/alicloud"
	var res, changes, config []map[string]any
	add := func(typ, name string, vals map[string]any, unknown map[string]any, refs map[string][]string) {
		addr := typ + "." + name
		res = append(res, map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name,
			"provider_name": provider, "schema_version": 0, "values": vals, "sensitive_values": map[string]any{}})
		au := map[string]any{"id": true}
		for k, v := range unknown {
			au[k] = v
		}
		changes = append(changes, map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name, "provider_name": provider,
			"change": map[string]any{"actions": []string{"create"}, "before": nil, "after": vals, "after_unknown": au,
				"before_sensitive": false, "after_sensitive": map[string]any{}}})
		exprs := map[string]any{}
		for k, v := range vals {
			exprs[k] = map[string]any{"constant_value": v}
		}
		for k, r := range refs {
			exprs[k] = map[string]any{"references": r}
		}
		config = append(config, map[string]any{"address": addr, "mode": "managed", "type": typ, "name": name,
			"provider_config_key": "alicloud", "expressions": exprs, "schema_version": 0})
	}
	for i := 0; len(res) < n; i++ {
		ok := i%2 == 0
		s := fmt.Sprint(i)
		pick := func(good, bad any) any {
			if ok {
				return good
			}
			return bad
		}
		add("alicloud_vpc", "v"+s, map[string]any{"vpc_name": "v" + s, "cidr_block": "10.0.0.0/16"}, nil, nil)
		add("alicloud_vpc_flow_log", "f"+s, map[string]any{"resource_type": "VPC", "traffic_type": "All", "project_name": "p", "log_store_name": "l"},
			map[string]any{"resource_id": true}, map[string][]string{"resource_id": {"alicloud_vpc.v" + s + ".id", "alicloud_vpc.v" + s}})
		add("alicloud_security_group", "sg"+s, map[string]any{"security_group_name": "sg" + s}, map[string]any{"vpc_id": true},
			map[string][]string{"vpc_id": {"alicloud_vpc.v" + s + ".id"}})
		add("alicloud_security_group_rule", "r"+s, map[string]any{"type": "ingress", "ip_protocol": "tcp", "port_range": pick("443/443", "22/22"),
			"cidr_ip": "0.0.0.0/0", "policy": "accept"}, map[string]any{"security_group_id": true},
			map[string][]string{"security_group_id": {"alicloud_security_group.sg" + s + ".id", "alicloud_security_group.sg" + s}})
		add("alicloud_instance", "i"+s, map[string]any{"instance_type": "ecs.g7.large", "image_id": "img", "vswitch_id": "vsw",
			"system_disk_encrypted": ok, "internet_max_bandwidth_out": pick(0, 10), "data_disks": []any{map[string]any{"size": 100, "encrypted": ok}}},
			map[string]any{"public_ip": true}, nil)
		add("alicloud_db_instance", "d"+s, map[string]any{"engine": "PostgreSQL", "engine_version": "16.0", "instance_type": "pg", "instance_storage": 100,
			"vswitch_id": "vsw", "ssl_action": pick("Open", "Close"), "encryption_key": pick("k", nil), "security_ips": []any{pick("10.0.0.0/8", "0.0.0.0/0")},
			"sql_collector_status": "Enabled", "sql_collector_config_value": pick(180, 30), "category": "HighAvailability", "zone_id": "a", "zone_id_slave_a": "b"}, nil, nil)
		add("alicloud_oss_bucket", "b"+s, map[string]any{"bucket": "b" + s, "redundancy_type": pick("ZRS", "LRS"),
			"versioning": []any{map[string]any{"status": "Enabled"}}, "logging": []any{}, "server_side_encryption_rule": []any{}}, nil, nil)
		add("alicloud_oss_bucket_acl", "a"+s, map[string]any{"acl": pick("private", "public-read")}, map[string]any{"bucket": true},
			map[string][]string{"bucket": {"alicloud_oss_bucket.b" + s + ".id", "alicloud_oss_bucket.b" + s}})
		add("alicloud_slb_listener", "l"+s, map[string]any{"load_balancer_id": "lb", "frontend_port": 443, "protocol": "https",
			"tls_cipher_policy": pick("tls_cipher_policy_1_2_strict", "tls_cipher_policy_1_0")}, nil, nil)
		add("alicloud_log_store", "s"+s, map[string]any{"project_name": "p", "logstore_name": "s" + s, "retention_period": pick(180, 30),
			"encrypt_conf": []any{map[string]any{"enable": ok}}}, nil, nil)
	}
	doc := map[string]any{"format_version": "1.2", "terraform_version": "1.11.4",
		"planned_values":   map[string]any{"root_module": map[string]any{"resources": res[:n]}},
		"resource_changes": changes[:n],
		"configuration":    map[string]any{"root_module": map[string]any{"resources": config[:n]}}}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return out
}

// BenchmarkCheckPlan5000 loads and checks a synthetic plan of 5,000
// resources and writes the SARIF report (docs/benchmarks.md).
func BenchmarkCheckPlan5000(b *testing.B) {
	data := synthetic(5000)
	schema := loadSchema(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		st, err := LoadPlan("plan.json", bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		rep := Check([]*Stack{st}, schema)
		if rep.Summary.Resources != 5000 || rep.Summary.Failed == 0 {
			b.Fatalf("summary %+v", rep.Summary)
		}
		if err := rep.WriteSARIF(io.Discard, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckStack checks the HCL stack of testdata (28 resources,
// modules included).
func BenchmarkCheckStack(b *testing.B) {
	schema := loadSchema(b)
	b.ReportAllocs()
	for b.Loop() {
		st, err := LoadDir("testdata/stack", LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		Check([]*Stack{st}, schema)
	}
}

func TestWriteSyntheticPlan(t *testing.T) {
	if *syntheticPlan == "" {
		t.Skip("give -synthetic-plan FILE")
	}
	if err := os.WriteFile(*syntheticPlan, synthetic(5000), 0o644); err != nil {
		t.Fatal(err)
	}
}
