package scim

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/jsonvalue"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

const testExtURN = "urn:ietf:params:scim:schemas:extension:acme:2.0:User"

func renderRegistry(t testing.TB) *schema.Registry {
	t.Helper()
	reg, err := schema.NewRegistry([]schema.ExtensionDef{{URN: testExtURN, Name: "AcmeUser",
		Attributes: []schema.ExtensionAttr{{Name: "badge", Type: schema.String}}}})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// checkAppendUserDoc: appendUserDoc writes what jsonvalue.Append writes for
// the document userDoc builds, errors included.
func checkAppendUserDoc(t *testing.T, reg *schema.Registry, u *directory.User, base string, withGroups bool) {
	t.Helper()
	want, wantErr := jsonvalue.Append(nil, withSchemas(userDoc(u, base, withGroups), reg.User))
	got, err := appendUserDoc([]byte("x"), u, base, withGroups, reg.User)
	if (err != nil) != (wantErr != nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("error %v, want %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(got[1:], want) || got[0] != 'x' {
		t.Fatalf("appendUserDoc:\n got %s\nwant %s", got[1:], want)
	}
}

func decoded(t testing.TB, s string) directory.Attrs {
	t.Helper()
	var a directory.Attrs
	if err := jsonvalue.DecodeObject([]byte(s), &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAppendUserDoc(t *testing.T) {
	reg := renderRegistry(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	user := func(attrs string) *directory.User {
		return &directory.User{ID: "0190b2c4-6c1e", UserName: "bjensen@example.com", Active: true, OrgID: "root",
			ExternalID: "ext-1", DisplayName: "Babs Jensen", Attrs: decoded(t, attrs), Created: at, Modified: at.Add(time.Hour), Version: 7,
			Groups: []directory.GroupRef{{ID: "g1", DisplayName: "Admins"}, {ID: "g\"2", DisplayName: "<Ops> & \u2028"}}}
	}
	cases := map[string]*directory.User{
		"seeded":                user(`{"emails":[{"primary":true,"type":"work","value":"user0000042@example.com"}],"name":{"familyName":"Number0000042","givenName":"User"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","employeeNumber":"0000042"}}`),
		"no attributes":         user(`{}`),
		"manager by id":         user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1","displayName":"Boss"}}}`),
		"manager with ref":      user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1","$ref":"https://x/Users/m1"}}}`),
		"manager null ref":      user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1","$ref":null}}}`),
		"manager empty value":   user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":""}}}`),
		"manager not object":    user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":"m1"}}`),
		"manager value number":  user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":5}}}`),
		"stored organization":   user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"organizationId":"other","costCenter":"4130"}}`),
		"enterprise not object": user(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":"x"}`),
		"other extension":       user(`{"urn:ietf:params:scim:schemas:extension:acme:2.0:User":{"badge":"b-1"},"urn:unknown":1}`),
		"names userDoc sets":    user(`{"id":"fake","userName":"fake","active":false,"meta":{"x":1},"schemas":["fake"],"externalId":"stored","displayName":"stored","groups":[1]}`),
		"values":                user(`{"n":[0,-1.5e10,12345678901234567890],"b":[true,false,null],"s":"q\" \\ \n \u0001 é 🙂 \u2029","":{"":""},"zz":{}}`),
		"phone region":          user(`{"phoneNumbers":[{"value":"+8613800138000","type":"work"}],"phoneRegion":"CN"}`),
	}
	bare := user(`{"externalId":"stored","displayName":"stored","groups":[1]}`)
	bare.ExternalID, bare.DisplayName, bare.Groups = "", "", nil
	cases["fields unset"] = bare
	for name, u := range cases {
		for _, withGroups := range []bool{true, false} {
			t.Run(name, func(t *testing.T) {
				checkAppendUserDoc(t, reg, u, "https://gatehouse.example.com/scim/v2", withGroups)
			})
		}
	}
	// A value encoding/json refuses fails both ways.
	bad := user(`{}`)
	bad.Attrs["f"] = math.Inf(1)
	checkAppendUserDoc(t, reg, bad, "https://h/scim/v2", true)
	bad.Attrs = directory.Attrs{directory.EnterpriseURN: map[string]any{"manager": map[string]any{"value": "m", "x": math.NaN()}}}
	checkAppendUserDoc(t, reg, bad, "https://h/scim/v2", true)
}

func FuzzAppendUserDoc(f *testing.F) {
	f.Add([]byte(`{"emails":[{"value":"a@b"}],"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m1"}}}`), "id-1", "a@b", "ext", "", "g1", "https://h", true)
	f.Add([]byte(`{"id":"x","meta":1,"groups":[],"urn:ietf:params:scim:schemas:extension:acme:2.0:User":{}}`), "", "", "", "dn", "", "http://h/scim/v2", false)
	f.Add([]byte(`{"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"m","$ref":null},"organizationId":"o"}}`), "\xff", "\u2028", "x\"y", "<&>", "g\n", "b", true)
	reg := renderRegistry(f)
	f.Fuzz(func(t *testing.T, attrs []byte, id, userName, externalID, displayName, groupID, base string, active bool) {
		if base == "" {
			return
		}
		var a directory.Attrs
		dec := json.NewDecoder(bytes.NewReader(attrs))
		dec.UseNumber()
		if dec.Decode(&a) != nil {
			return
		}
		u := &directory.User{ID: id, UserName: userName, ExternalID: externalID, DisplayName: displayName, Active: active, OrgID: groupID + "-org",
			Attrs: a, Created: time.Unix(int64(len(attrs)), 0).UTC(), Modified: time.Unix(1e9, 5000).UTC(), Version: int64(len(id))}
		if groupID != "" {
			u.Groups = []directory.GroupRef{{ID: groupID, DisplayName: userName}}
		}
		checkAppendUserDoc(t, reg, u, base, true)
		checkAppendUserDoc(t, reg, u, base, false)
	})
}

func BenchmarkAppendUserDoc(b *testing.B) {
	reg := renderRegistry(b)
	at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
	u := &directory.User{ID: "01a24d57-a998-7dea-88f3-7b33cda48483", UserName: "user0000042@example.com", Active: true, OrgID: "root",
		ExternalID: "ext-0000042", DisplayName: "User 42", Created: at, Modified: at, Version: 1,
		Attrs: decoded(b, `{"emails":[{"primary":true,"type":"work","value":"user0000042@example.com"}],"name":{"familyName":"Number0000042","givenName":"User"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","employeeNumber":"0000042"}}`)}
	base := "http://127.0.0.1:18080/scim/v2"
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf, _ = appendUserDoc(buf[:0], u, base, true, reg.User)
		}
	})
	b.Run("maps", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 2048)
		for b.Loop() {
			buf, _ = jsonvalue.Append(buf[:0], withSchemas(userDoc(u, base, true), reg.User))
		}
	})
}
