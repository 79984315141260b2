package scim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// The IdPs' default attribute mappings send phone numbers the recorded
// requests' test users did not have. These are what they add:
//
//   - Entra ID (MicrosoftDocs/entra-docs, use-scim-to-provision-users-and-groups.md):
//     telephoneNumber → phoneNumbers[type eq "work"].value,
//     mobile → phoneNumbers[type eq "mobile"].value,
//     facsimileTelephoneNumber → phoneNumbers[type eq "fax"].value;
//   - Okta's SCIM 2.0 template: primaryPhone → the primary number, of type
//     "work"; mobilePhone → phoneNumbers^[type=='mobile'].value.
var (
	entraPhones = []any{
		map[string]any{"type": "work", "value": "+1 425 555 0100"},
		map[string]any{"type": "mobile", "value": "+1 425 555 0101"},
		map[string]any{"type": "fax", "value": "+1 425 555 0102"},
	}
	oktaPhones = []any{
		map[string]any{"primary": true, "type": "work", "value": "+86 10 5555 0100"},
		map[string]any{"type": "mobile", "value": "+86 138 0013 8000"},
	}
	// The numbers the option must drop, which must then appear nowhere.
	droppedNumbers = []string{"+1 425 555 0101", "+1 425 555 0102", "+86 138 0013 8000", "13800138000"}
)

// replayWith sends a fixture's request with the recorded ids replaced and
// its body changed by edit, and returns the answer whatever its status.
func (h *harness) replayWith(name string, ids map[string]string, extraQuery string, edit func(body map[string]any)) *response {
	h.t.Helper()
	f := loadFixture(h.t, name)
	path, body := f.Path, string(f.Request)
	for from, to := range ids {
		path = strings.ReplaceAll(path, from, to)
		body = strings.ReplaceAll(body, from, to)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		h.t.Fatal(err)
	}
	edit(doc)
	if extraQuery != "" {
		path += "?" + extraQuery
	}
	return h.do(f.Method, path, doc, "Content-Type", "application/json")
}

// userAudit returns the audit records of a user, oldest first.
func (h *harness) userAudit(id string) []*directory.AuditEntry {
	h.t.Helper()
	recs, err := h.dir.Audit(context.Background(), directory.AuditQuery{ResourceID: id})
	if err != nil {
		h.t.Fatal(err)
	}
	for i, j := 0, len(recs)-1; i < j; i, j = i+1, j-1 {
		recs[i], recs[j] = recs[j], recs[i]
	}
	return recs
}

// set returns an edit that sets top-level attributes of a request body.
func set(attrs map[string]any) func(map[string]any) {
	return func(body map[string]any) {
		for k, v := range attrs {
			body[k] = v
		}
	}
}

func noUser(t *testing.T, h *harness, userName string) {
	t.Helper()
	r := h.must(h.do("GET", "/Users?filter="+url.QueryEscape(`userName eq "`+userName+`"`), nil), http.StatusOK)
	if r.Body["totalResults"] != json.Number("0") {
		t.Errorf("a refused create left %s: %s", userName, r.Raw)
	}
}

// TestDefaultMappingsRefused: in idaas mode by default, the Okta and
// Entra creates with their default mappings' phone numbers are refused
// whole (IDaaS's rule), and the error names the IdP attribute mapping to
// change and the option that drops them instead — by type, not by value.
func TestDefaultMappingsRefused(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name, fixture, userName string
		phones                  []any
		want                    []string
	}{
		{"Entra", "azuread/create_user.json", "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1", entraPhones,
			[]string{`keep only phoneNumbers[type eq "work"].value`, `remove the mappings to phoneNumbers[type eq "mobile"].value and phoneNumbers[type eq "fax"].value`}},
		{"Okta", "okta/create_user.json", "test.user@okta.local", oktaPhones,
			[]string{`keep only phoneNumbers[type eq "work"].value`, `remove the mapping to phoneNumbers[type eq "mobile"].value`}},
		{"Okta, a mobile number only", "okta/create_user.json", "test.user@okta.local", oktaPhones[1:],
			[]string{`map this value to phoneNumbers[type eq "work"].value instead of phoneNumbers[type eq "mobile"].value`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.replayWith(tc.fixture, nil, "", set(map[string]any{"phoneNumbers": tc.phones}))
			checkError(t, r, http.StatusBadRequest, "invalidValue")
			detail := r.str("detail")
			for _, w := range append(tc.want, "extra-values option to drop") {
				if !strings.Contains(detail, w) {
					t.Errorf("detail %q does not say %q", detail, w)
				}
			}
			for _, n := range droppedNumbers {
				if strings.Contains(detail, n) {
					t.Errorf("detail %q holds the number %q", detail, n)
				}
			}
			noUser(t, h, tc.userName)
		})
	}
}

// TestDefaultMappingsDropped replays the recorded Entra and Okta requests,
// with their default mappings' phone numbers, against an application in
// idaas mode that drops extra values: every request succeeds as recorded,
// the account keeps the work number only, and the audit record of each
// change notes what was dropped, by position and type, without the
// numbers.
func TestDefaultMappingsDropped(t *testing.T) {
	wantWork := func(t *testing.T, r *response, value string) {
		t.Helper()
		want := []any{map[string]any{"type": "work", "value": value}}
		got := r.Body["phoneNumbers"].([]any)
		for _, el := range got {
			delete(el.(map[string]any), "primary")
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("phoneNumbers (-want +got):\n%s", diff)
		}
	}
	notes := func(t *testing.T, e *directory.AuditEntry) (dropped, retyped []directory.ValueNote) {
		t.Helper()
		var snap directory.UserSnapshot
		if err := json.Unmarshal(e.After, &snap); err != nil {
			t.Fatal(err)
		}
		for _, n := range droppedNumbers {
			if strings.Contains(string(e.After), n) || strings.Contains(string(e.Before), n) {
				t.Errorf("%s record holds the dropped number %q: %s", e.Action, n, e.After)
			}
		}
		return snap.DroppedValues, snap.RetypedValues
	}

	t.Run("Entra", func(t *testing.T) {
		h := newHarness(t, withProfile(dropProfile()))
		const flag = "aadOptscim062020"
		h.replay("azuread/get_user_query_0.json", nil, flag)
		r := h.replayWith("azuread/create_user.json", nil, flag, set(map[string]any{"phoneNumbers": entraPhones}))
		h.must(r, http.StatusCreated)
		uid := r.str("id")
		wantWork(t, r, "+1 425 555 0100")
		recs := h.userAudit(uid)
		dropped, retyped := notes(t, recs[0])
		if diff := cmp.Diff([]directory.ValueNote{{Attribute: "phoneNumbers", Index: 1, Type: "mobile"}, {Attribute: "phoneNumbers", Index: 2, Type: "fax"}}, dropped); diff != "" || retyped != nil {
			t.Errorf("user.create notes: retyped %v, dropped (-want +got):\n%s", retyped, diff)
		}
		ids := map[string]string{
			"Test_User_dfeef4c5-5681-4387-b016-bdf221e82081": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
			"5d48a0a8e9f04aa38008":                           uid,
			"6764549bef60420686bc":                           uid,
		}
		h.replay("azuread/get_user_query_resp.json", ids, flag)
		h.replay("azuread/get_user_resp.json", ids, flag)
		// The recorded update, and the mobile number added again as
		// Entra adds an attribute the account lacks: accepted, dropped.
		r = h.replayWith("azuread/update_user.json", ids, flag, func(body map[string]any) {
			body["Operations"] = append(body["Operations"].([]any),
				map[string]any{"op": "Add", "path": `phoneNumbers[type eq "mobile"].value`, "value": "+1 425 555 0101"},
				map[string]any{"op": "Replace", "path": `phoneNumbers[type eq "work"].value`, "value": "+1 425 555 0199"})
		})
		h.must(r, http.StatusOK)
		wantWork(t, r, "+1 425 555 0199")
		if r.str("emails", "0", "value") != "updatedEmail@microsoft.com" || r.str("userName") != "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com" || r.Body["active"] != false {
			t.Errorf("update: %s", r.Raw)
		}
		recs = h.userAudit(uid)
		dropped, _ = notes(t, recs[len(recs)-1])
		if diff := cmp.Diff([]directory.ValueNote{{Attribute: "phoneNumbers", Index: 1, Type: "mobile"}}, dropped); diff != "" {
			t.Errorf("user.update notes (-want +got):\n%s", diff)
		}
		// Only the mobile number again: nothing changes, nothing is written.
		n := len(recs)
		r = h.must(h.do("PATCH", "/Users/"+uid+"?"+flag, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 425 555 0101"}]}`), http.StatusOK)
		wantWork(t, r, "+1 425 555 0199")
		if got := len(h.userAudit(uid)); got != n {
			t.Errorf("a PATCH whose values were all dropped wrote %d audit records", got-n)
		}
	})

	t.Run("Okta", func(t *testing.T) {
		h := newHarness(t, withProfile(dropProfile()))
		h.replay("okta/user_exists.json", nil, "")
		r := h.replayWith("okta/create_user.json", nil, "", set(map[string]any{"phoneNumbers": oktaPhones}))
		h.must(r, http.StatusCreated)
		uid := r.str("id")
		wantWork(t, r, "+86 10 5555 0100")
		if dropped, _ := notes(t, h.userAudit(uid)[0]); !cmp.Equal(dropped, []directory.ValueNote{{Attribute: "phoneNumbers", Index: 1, Type: "mobile"}}) {
			t.Errorf("user.create dropped %v", dropped)
		}
		ids := map[string]string{"23a35c27-23d3-4c03-b4c5-6443c09e7173": uid}
		h.replay("okta/retrieve_user.json", ids, "")
		// Okta's profile updates are full PUTs, with the mappings' numbers.
		r = h.replayWith("okta/update_user.json", ids, "", set(map[string]any{"phoneNumbers": oktaPhones}))
		h.must(r, http.StatusOK)
		wantWork(t, r, "+86 10 5555 0100")
		if r.str("name", "givenName") != "Another" {
			t.Errorf("update: %s", r.Raw)
		}
		r = h.replay("okta/update_user_patch.json", ids, "")
		if r.Body["active"] != false {
			t.Errorf("deactivate: %s", r.Raw)
		}

		// A user with a mobile number and no primary phone: the mobile
		// number is stored as the work number, which the record notes.
		r = h.replayWith("okta/create_user.json", nil, "", set(map[string]any{"userName": "mobile.only@okta.local", "externalId": "00ujl29u0le5T6Aj10h8",
			"emails": []any{map[string]any{"primary": true, "type": "work", "value": "mobile.only@okta.local"}}, "phoneNumbers": oktaPhones[1:]}))
		h.must(r, http.StatusCreated)
		wantWork(t, r, "+86 138 0013 8000")
		var snap directory.UserSnapshot
		if err := json.Unmarshal(h.userAudit(r.str("id"))[0].After, &snap); err != nil {
			t.Fatal(err)
		}
		if !cmp.Equal(snap.RetypedValues, []directory.ValueNote{{Attribute: "phoneNumbers", Index: 0, Type: "mobile"}}) || snap.DroppedValues != nil {
			t.Errorf("mobile only: retyped %v, dropped %v", snap.RetypedValues, snap.DroppedValues)
		}
	})
}
