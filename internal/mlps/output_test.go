package mlps

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The seeds' snippets, written as the seeds write them, are flagged with
// the rules that catch their mistakes.
func TestSeeds(t *testing.T) {
	tests := []struct {
		dir  string
		want []string // failing rule ids
		msgs []string // messages that must be there
	}{
		{"platform-ci-role", []string{"gh-ram-least-privilege"},
			[]string{"the role gets the system policy AliyunVPCFullAccess", "the role gets the system policy AliyunECSFullAccess"}},
		{"platform-core", []string{
			"ecs-in-use-disk-encrypted", "gh-oss-bucket-logging", "gh-rds-ssl-enabled",
			"oss-bucket-only-https-enabled", "oss-bucket-versioning-enabled", "oss-default-encryption-kms", "oss-zrs-enabled",
			"rds-instance-enabled-auditing", "rds-instance-enabled-disk-encryption", "rds-multi-az-support", "vpc-flow-logs-enabled"}, nil},
		{"platform-cas-slb", []string{"gh-schema-unknown-attribute", "gh-schema-unknown-type", "slb-all-listenter-tls-policy-check"},
			[]string{"unknown resource type alicloud_ssl_certificate: did you mean alicloud_ssl_certificates_service_certificate?",
				"listener_ssl_certificate_id is not an argument of alicloud_slb_listener in aliyun/alicloud 1.275.0 (subset): did you mean server_certificate_id?"}},
		{"ml-search-infra", []string{"elasticsearch-instance-multi-zone", "gh-elasticsearch-https", "gh-schema-unknown-attribute", "gh-schema-unknown-type", "vpc-flow-logs-enabled"},
			[]string{"unknown resource type alicloud_ecs_instance: did you mean alicloud_instance?",
				"mlps_compliance is not an argument of alicloud_elasticsearch_instance"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			rep := checkDir(t, "testdata/seeds/"+tt.dir)
			ids := map[string]bool{}
			var msgs []string
			for _, f := range rep.Findings {
				if f.Status == StatusFail {
					ids[f.Rule] = true
					msgs = append(msgs, f.Message)
				}
			}
			var got []string
			for id := range ids {
				got = append(got, id)
			}
			sort.Strings(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
			all := strings.Join(msgs, "\n")
			for _, m := range tt.msgs {
				if !strings.Contains(all, m) {
					t.Errorf("no finding says %q; findings:\n%s", m, all)
				}
			}
		})
	}
}

func TestClassifyType(t *testing.T) {
	s := loadSchema(t)
	tests := []struct {
		typ  string
		want TypeVerdict
		sugg string
	}{
		{"alicloud_instance", TypeKnown, ""},
		{"alicloud_instnace", TypeMisspelt, "alicloud_instance"},
		{"alicloud_ecs_instance", TypeMisspelt, "alicloud_instance"},
		{"alicloud_ssl_certificate", TypeMisspelt, "alicloud_ssl_certificates_service_certificate"},
		{"alicloud_oss_buckets", TypeMisspelt, "alicloud_oss_bucket"},
		{"alicloud_nat_gateway", TypeOutside, ""},
		{"alicloud_ram_policy", TypeOutside, ""},
		{"alicloud_oss_bucket_object", TypeOutside, ""},
		{"alicloud_slb", TypeOutside, ""},
		{"random_password", TypeOutside, ""},
	}
	for _, tt := range tests {
		v, sugg := s.ClassifyType("managed", tt.typ)
		if v != tt.want || sugg != tt.sugg {
			t.Errorf("%s: got %v %q, want %v %q", tt.typ, v, sugg, tt.want, tt.sugg)
		}
	}
}

// sarifObject describes an object of the SARIF 2.1.0 schema
// (sarif-schema-2.1.0.json): its properties (additionalProperties is
// false), the required ones and the enums, for the objects the check
// writes.
type sarifObject struct {
	props    []string
	required []string
	enums    map[string][]string
	children map[string]string // property → object kind (arrays: of elements)
}

var sarifSpec = map[string]sarifObject{
	"log": {props: []string{"$schema", "version", "runs", "inlineExternalProperties", "properties"}, required: []string{"version", "runs"},
		enums: map[string][]string{"version": {"2.1.0"}}, children: map[string]string{"runs": "run", "properties": "propertyBag"}},
	"run": {props: []string{"tool", "invocations", "conversion", "language", "versionControlProvenance", "originalUriBaseIds", "artifacts",
		"logicalLocations", "graphs", "results", "automationDetails", "runAggregates", "baselineGuid", "redactionTokens", "defaultEncoding",
		"defaultSourceLanguage", "newlineSequences", "columnKind", "externalPropertyFileReferences", "threadFlowLocations", "taxonomies",
		"addresses", "translations", "policies", "webRequests", "webResponses", "specialLocations", "properties"},
		required: []string{"tool"}, enums: map[string][]string{"columnKind": {"utf16CodeUnits", "unicodeCodePoints"}},
		children: map[string]string{"tool": "tool", "results": "result", "originalUriBaseIds": "artifactLocationMap", "properties": "propertyBag"}},
	"tool": {props: []string{"driver", "extensions", "properties"}, required: []string{"driver"}, children: map[string]string{"driver": "toolComponent"}},
	"toolComponent": {props: []string{"guid", "name", "organization", "product", "productSuite", "shortDescription", "fullDescription", "fullName",
		"version", "semanticVersion", "dottedQuadFileVersion", "releaseDateUtc", "downloadUri", "informationUri", "globalMessageStrings",
		"notifications", "rules", "taxa", "locations", "language", "contents", "isComprehensive", "localizedDataSemanticVersion",
		"minimumRequiredLocalizedDataSemanticVersion", "associatedComponent", "translationMetadata", "supportedTaxonomies", "properties"},
		required: []string{"name"}, children: map[string]string{"rules": "reportingDescriptor"}},
	"reportingDescriptor": {props: []string{"id", "deprecatedIds", "guid", "deprecatedGuids", "name", "deprecatedNames", "shortDescription",
		"fullDescription", "messageStrings", "defaultConfiguration", "helpUri", "help", "relationships", "properties"},
		required: []string{"id"}, children: map[string]string{"shortDescription": "multiformatMessageString", "fullDescription": "multiformatMessageString",
			"help": "multiformatMessageString", "defaultConfiguration": "reportingConfiguration", "properties": "propertyBag"}},
	"multiformatMessageString": {props: []string{"text", "markdown", "properties"}, required: []string{"text"}},
	"reportingConfiguration": {props: []string{"enabled", "level", "rank", "parameters", "properties"},
		enums: map[string][]string{"level": {"none", "note", "warning", "error"}}},
	"result": {props: []string{"ruleId", "ruleIndex", "rule", "kind", "level", "message", "analysisTarget", "locations", "guid", "correlationGuid",
		"occurrenceCount", "partialFingerprints", "fingerprints", "stacks", "codeFlows", "graphs", "graphTraversals", "relatedLocations",
		"suppressions", "baselineState", "rank", "attachments", "hostedViewerUri", "workItemUris", "provenance", "fixes", "taxa",
		"webRequest", "webResponse", "properties"},
		required: []string{"message"},
		enums: map[string][]string{"kind": {"notApplicable", "pass", "fail", "review", "open", "informational"},
			"level": {"none", "note", "warning", "error"}},
		children: map[string]string{"message": "message", "locations": "location", "suppressions": "suppression", "properties": "propertyBag"}},
	"message": {props: []string{"text", "markdown", "id", "arguments", "properties"}},
	"location": {props: []string{"id", "physicalLocation", "logicalLocations", "message", "annotations", "relationships", "properties"},
		children: map[string]string{"physicalLocation": "physicalLocation", "logicalLocations": "logicalLocation"}},
	"physicalLocation": {props: []string{"address", "artifactLocation", "region", "contextRegion", "properties"},
		children: map[string]string{"artifactLocation": "artifactLocation", "region": "region"}},
	"artifactLocation": {props: []string{"uri", "uriBaseId", "index", "description", "properties"}},
	"region": {props: []string{"startLine", "startColumn", "endLine", "endColumn", "charOffset", "charLength", "byteOffset", "byteLength",
		"snippet", "message", "sourceLanguage", "properties"}},
	"logicalLocation": {props: []string{"name", "index", "fullyQualifiedName", "decoratedName", "parentIndex", "kind", "properties"}},
	"suppression": {props: []string{"guid", "kind", "status", "justification", "location", "properties"}, required: []string{"kind"},
		enums:    map[string][]string{"kind": {"inSource", "external"}, "status": {"accepted", "underReview", "rejected"}},
		children: map[string]string{"location": "location"}},
}

func validateSARIF(t *testing.T, kind string, v any, path string) {
	t.Helper()
	switch kind {
	case "propertyBag":
		if _, ok := v.(map[string]any); !ok {
			t.Errorf("%s: a property bag is an object", path)
		}
		return
	case "artifactLocationMap":
		m, _ := v.(map[string]any)
		for k, e := range m {
			validateSARIF(t, "artifactLocation", e, path+"."+k)
			// A base is an absolute URI ending in a slash (3.14.14).
			u, _ := e.(map[string]any)["uri"].(string)
			if p, err := url.Parse(u); err != nil || !p.IsAbs() || !strings.HasSuffix(u, "/") {
				t.Errorf("%s.%s: base %q: want an absolute URI ending in a slash", path, k, u)
			}
		}
		return
	case "artifactLocation":
		// An RFC 3986 URI reference; a relative one has a base.
		if m, ok := v.(map[string]any); ok {
			u, _ := m["uri"].(string)
			p, err := url.Parse(u)
			if err != nil || !rfc3986.MatchString(u) {
				t.Errorf("%s: uri %q is not an RFC 3986 URI reference", path, u)
			} else if !p.IsAbs() && m["uriBaseId"] == nil {
				t.Errorf("%s: relative uri %q without uriBaseId", path, u)
			}
		}
	}
	spec, ok := sarifSpec[kind]
	if !ok {
		t.Fatalf("no spec for %s", kind)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: want an object (%s)", path, kind)
		return
	}
	for k := range obj {
		if !contains(spec.props, k) {
			t.Errorf("%s: %s has no property %q", path, kind, k)
		}
	}
	for _, k := range spec.required {
		if _, ok := obj[k]; !ok {
			t.Errorf("%s: %s needs %q", path, kind, k)
		}
	}
	for k, vals := range spec.enums {
		if x, ok := obj[k]; ok && !contains(vals, fmt.Sprint(x)) {
			t.Errorf("%s.%s = %v: want one of %v", path, k, x, vals)
		}
	}
	for k, child := range spec.children {
		switch x := obj[k].(type) {
		case []any:
			for i, e := range x {
				validateSARIF(t, child, e, fmt.Sprintf("%s.%s[%d]", path, k, i))
			}
		case map[string]any:
			validateSARIF(t, child, x, path+"."+k)
		}
	}
}

func TestSARIF(t *testing.T) {
	rep := checkDir(t, "testdata/seeds/platform-cas-slb")
	st, err := LoadDir("testdata/rules/gh-suppression-invalid/pass", LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep2 := Check([]*Stack{st}, loadSchema(t)) // a suppressed finding
	for _, r := range []*Report{rep, rep2, checkDir(t, "testdata/stack")} {
		var buf bytes.Buffer
		if err := r.WriteSARIF(&buf, "test"); err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
			t.Fatal(err)
		}
		validateSARIF(t, "log", doc, "$")
		// Beyond the schema: results point at rules by id and index, at
		// lines from 1, and kinds other than fail have level none.
		run := doc["runs"].([]any)[0].(map[string]any)
		rules := run["tool"].(map[string]any)["driver"].(map[string]any)["rules"].([]any)
		for i, x := range run["results"].([]any) {
			res := x.(map[string]any)
			idx := int(res["ruleIndex"].(float64))
			if rules[idx].(map[string]any)["id"] != res["ruleId"] {
				t.Errorf("result %d: ruleIndex %d is not %v", i, idx, res["ruleId"])
			}
			if res["message"].(map[string]any)["text"] == "" {
				t.Errorf("result %d: empty message", i)
			}
			region := res["locations"].([]any)[0].(map[string]any)["physicalLocation"].(map[string]any)["region"].(map[string]any)
			if region["startLine"].(float64) < 1 {
				t.Errorf("result %d: startLine %v", i, region["startLine"])
			}
			if res["kind"] != "fail" && res["level"] != "none" {
				t.Errorf("result %d: kind %v with level %v", i, res["kind"], res["level"])
			}
		}
	}
	// The suppressed finding carries its reason.
	var buf bytes.Buffer
	if err := rep2.WriteSARIF(&buf, "test"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"justification": "flow logs are collected by the transit router of the landing zone"`) {
		t.Errorf("no suppression justification in:\n%s", buf.String())
	}
}

// docs/mlps.md lists every rule.
func TestDocsListRules(t *testing.T) {
	doc, err := os.ReadFile("../../docs/mlps.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules() {
		if !strings.Contains(string(doc), "| `"+r.ID+"` |") {
			t.Errorf("docs/mlps.md does not list %s in its rules table", r.ID)
		}
	}
}
