package admin_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// TestFactorViewsMatchSchemas: the sign-in views with second factors have
// the properties the document declares, and no others.
func TestFactorViewsMatchSchemas(t *testing.T) {
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
	for name, v := range map[string]any{"LoginState": admin.LoginState{}, "FactorInfo": login.FactorInfo{}, "FactorsReset": admin.FactorsReset{}} {
		props := doc.Components.Schemas[name].Properties
		fields := jsonFields(v)
		for _, f := range fields {
			if _, ok := props[f]; !ok {
				t.Errorf("%s.%s is written but not in the schema", name, f)
			}
		}
		for p := range props {
			if !slices.Contains(fields, p) {
				t.Errorf("schema %s declares %s, which the view does not have", name, p)
			}
		}
	}
}
