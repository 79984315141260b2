package admin_test

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

// TestOpenAPIMatchesRoutes: the document in the repository describes
// exactly the routes the API serves, and every reference in it resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(admin.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if doc["openapi"] != "3.1.0" {
		t.Errorf("openapi = %v", doc["openapi"])
	}
	paths, _ := doc["paths"].(map[string]any)
	var documented []string
	for p, item := range paths {
		for method, op := range item.(map[string]any) {
			if method == "parameters" {
				continue
			}
			if p == "/openapi.json" {
				continue // served without authentication, not a handle() route
			}
			documented = append(documented, strings.ToUpper(method)+" "+p)
			o := op.(map[string]any)
			if o["operationId"] == nil || o["summary"] == nil {
				t.Errorf("%s %s lacks operationId or summary", method, p)
			}
			if _, ok := o["responses"].(map[string]any)["401"]; !ok {
				t.Errorf("%s %s does not document 401", method, p)
			}
		}
	}
	api := admin.NewAPI(&admin.Ops{}, nil, nil, nil)
	api.RAMRoutes() // served by the RAM stand-in only, documented as such
	served := slices.Clone(api.Routes())
	sort.Strings(documented)
	sort.Strings(served)
	if !slices.Equal(documented, served) {
		t.Errorf("documented routes:\n  %s\nserved routes:\n  %s", strings.Join(documented, "\n  "), strings.Join(served, "\n  "))
	}
	// Every $ref points at something that exists.
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				node := any(doc)
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := node.(map[string]any)
					node = m[part]
				}
				if node == nil {
					t.Errorf("unresolved $ref %s", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(doc)
}

// TestViewsMatchSchemas: the JSON the API writes has the properties the
// document's schemas declare, and no others.
func TestViewsMatchSchemas(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(admin.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"App": admin.App{}, "Token": admin.Token{}, "Secret": admin.Secret{}, "Stats": admin.Stats{},
		"Key": admin.Key{}, "AppInput": admin.AppInput{}, "AppPatch": admin.AppPatch{},
		"OrgInput": admin.OrgInput{}, "OrgPatch": admin.OrgPatch{}, "VerifyInput": admin.VerifyInput{},
		"AuditReport": directory.AuditReport{}, "AuditCheckpoint": directory.AuditCheckpoint{},
		"CheckpointSummary": directory.CheckpointSummary{},
		"BackfillRequest":   admin.BackfillInput{}, "BackfillReport": events.BackfillReport{}, "BackfillItem": events.BackfillItem{},
		"UserSummary": admin.UserSummary{}, "GroupSummary": admin.GroupSummary{},
		"UserPage": admin.ListPage[admin.UserSummary]{}, "GroupPage": admin.ListPage[admin.GroupSummary]{},
		"TargetTestResult": events.TestResult{}, "Attempt": events.Attempt{},
		"OIDCClient": admin.OIDCClient{}, "OIDCSettings": oidc.Settings{},
		"SAMLAppInput": admin.SAMLAppInput{}, "SAMLApp": admin.SAMLApp{}, "SAMLIdPInfo": admin.SAMLIdPInfo{},
		"SAMLKey": saml.KeyInfo{}, "SAMLSettings": saml.Settings{}, "SAMLEndpoint": saml.Endpoint{},
		"SAMLAttributeRule": saml.AttributeRule{}, "SAMLRotateInput": admin.SAMLRotateInput{},
	} {
		props := doc.Components.Schemas[name].Properties
		if props == nil {
			t.Errorf("schema %s missing", name)
			continue
		}
		for _, f := range jsonFields(v) {
			if _, ok := props[f]; !ok {
				t.Errorf("%s.%s is written but not in the schema", name, f)
			}
		}
		for p := range props {
			if !slices.Contains(jsonFields(v), p) {
				t.Errorf("schema %s declares %s, which the view does not have", name, p)
			}
		}
	}
}
