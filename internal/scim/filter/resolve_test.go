package filter_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// customExt is a custom User extension, as Okta's customfield namespace.
var customExt = schema.ExtensionDef{
	URN: customURN,
	Attributes: []schema.ExtensionAttr{
		{Name: "costCenterCode"},
		{Name: "level", Type: schema.Integer},
		{Name: "startDate", Type: schema.DateTime},
		{Name: "score", Type: schema.Decimal},
		{Name: "vip", Type: schema.Boolean},
		{Name: "tags", MultiValued: true},
		{Name: "badge", Type: schema.Binary},
	},
}

func newRegistry(t testing.TB, custom ...schema.ExtensionDef) *schema.Registry {
	t.Helper()
	reg, err := schema.NewRegistry(custom)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return reg
}

// refs lists the resolved reference of every path in e, in Walk order.
func refs(e filter.Expr) []string {
	var out []string
	filter.Walk(e, func(x filter.Expr) bool {
		var p filter.Path
		switch n := x.(type) {
		case *filter.Compare:
			p = n.Path
		case *filter.ValuePath:
			p = n.Path
		default:
			return true
		}
		if !p.Resolved() {
			out = append(out, "unresolved "+p.String())
		} else {
			out = append(out, p.Ref.String())
		}
		return true
	})
	return out
}

func resourceType(reg *schema.Registry, id string) *schema.ResourceType {
	if id == "Group" {
		return reg.Group
	}
	return reg.User
}

type resolveCase struct {
	name     string
	rt       string // "User" (default) or "Group"
	standard bool   // resolve against the registry without the custom extension
	in       string
	want     string   // String() after Resolve
	wantRefs []string // Ref.String() of each path, in Walk order
}

var resolveOK = []resolveCase{
	// Canonical names.
	{name: "exact", in: `userName eq "x"`, want: `userName eq "x"`, wantRefs: []string{userURN + ":userName"}},
	{name: "upper case", in: `USERNAME eq "x"`, want: `userName eq "x"`, wantRefs: []string{userURN + ":userName"}},
	{name: "sub-attribute", in: `name.FamilyName eq "x"`, want: `name.familyName eq "x"`, wantRefs: []string{userURN + ":name.familyName"}},
	{name: "both lower", in: `name.familyname eq "x"`, want: `name.familyName eq "x"`, wantRefs: []string{userURN + ":name.familyName"}},
	{name: "multi-valued sub-attribute", in: `emails.Value co "x"`, want: `emails.value co "x"`, wantRefs: []string{userURN + ":emails.value"}},
	{name: "common attribute", in: `meta.Created gt "2011-05-13T04:42:34Z"`, want: `meta.created gt "2011-05-13T04:42:34Z"`, wantRefs: []string{userURN + ":meta.created"}},
	{name: "id", in: `ID eq "x"`, want: `id eq "x"`, wantRefs: []string{userURN + ":id"}},
	{name: "externalId", in: `EXTERNALID eq "x"`, want: `externalId eq "x"`, wantRefs: []string{userURN + ":externalId"}},
	{name: "$ref", in: `groups.$REF pr`, want: `groups.$ref pr`, wantRefs: []string{userURN + ":groups.$ref"}},
	{name: "reference", in: `profileUrl sw "https://"`, want: `profileUrl sw "https://"`, wantRefs: []string{userURN + ":profileUrl"}},

	// URN paths.
	{name: "core URN", in: userURN + `:name.familyName eq "x"`, want: userURN + `:name.familyName eq "x"`, wantRefs: []string{userURN + ":name.familyName"}},
	{name: "core URN common attribute", in: userURN + `:meta.lastModified gt "2011-05-13T04:42:34Z"`, want: userURN + `:meta.lastModified gt "2011-05-13T04:42:34Z"`, wantRefs: []string{userURN + ":meta.lastModified"}},
	{name: "enterprise URN", in: enterpriseURN + `:employeeNumber eq "701984"`, want: enterpriseURN + `:employeeNumber eq "701984"`, wantRefs: []string{enterpriseURN + ":employeeNumber"}},
	{name: "enterprise URN sub-attribute", in: enterpriseURN + `:Manager.Value eq "x"`, want: enterpriseURN + `:manager.value eq "x"`, wantRefs: []string{enterpriseURN + ":manager.value"}},
	{name: "URN any case", in: strings.ToUpper(enterpriseURN) + `:EMPLOYEENUMBER eq "1"`, want: enterpriseURN + `:employeeNumber eq "1"`, wantRefs: []string{enterpriseURN + ":employeeNumber"}},
	{name: "core URN any case, common attribute", in: strings.ToLower(userURN) + `:META.created pr`, want: userURN + `:meta.created pr`, wantRefs: []string{userURN + ":meta.created"}},
	{name: "URN value path any case", in: strings.ToUpper(userURN) + `:EMAILS[TYPE pr]`, want: userURN + `:emails[type pr]`, wantRefs: []string{userURN + ":emails", userURN + ":emails.type"}},
	{name: "custom URN", in: customURN + `:costCenterCode eq "x"`, want: customURN + `:costCenterCode eq "x"`, wantRefs: []string{customURN + ":costCenterCode"}},
	{name: "URN value path", in: userURN + `:emails[type eq "work"]`, want: userURN + `:emails[type eq "work"]`, wantRefs: []string{userURN + ":emails", userURN + ":emails.type"}},

	// Loose resolution of extension attributes.
	{name: "enterprise without URN", in: `department eq "x"`, want: `department eq "x"`, wantRefs: []string{enterpriseURN + ":department"}},
	{name: "enterprise without URN, any case", in: `DEPARTMENT eq "x"`, want: `department eq "x"`, wantRefs: []string{enterpriseURN + ":department"}},
	{name: "enterprise complex without URN", in: `manager.value eq "x"`, want: `manager.value eq "x"`, wantRefs: []string{enterpriseURN + ":manager.value"}},
	{name: "enterprise before custom", in: `costCenter eq "x"`, want: `costCenter eq "x"`, wantRefs: []string{enterpriseURN + ":costCenter"}},
	{name: "custom without URN", in: `costcentercode eq "x"`, want: `costCenterCode eq "x"`, wantRefs: []string{customURN + ":costCenterCode"}},
	{name: "standard registry enterprise", standard: true, in: `organization eq "x"`, want: `organization eq "x"`, wantRefs: []string{enterpriseURN + ":organization"}},

	// Implicit "value" sub-attribute.
	{name: "implicit value", in: `emails co "x"`, want: `emails.value co "x"`, wantRefs: []string{userURN + ":emails.value"}},
	{name: "implicit value eq", in: `Roles eq "admin"`, want: `roles.value eq "admin"`, wantRefs: []string{userURN + ":roles.value"}},
	{name: "implicit value on single complex", in: `manager eq "x"`, want: `manager.value eq "x"`, wantRefs: []string{enterpriseURN + ":manager.value"}},
	{name: "implicit value with null", in: `emails eq null`, want: `emails.value eq null`, wantRefs: []string{userURN + ":emails.value"}},
	{name: "pr on multi-valued complex", in: `emails pr`, want: `emails pr`, wantRefs: []string{userURN + ":emails"}},
	{name: "pr on single complex", in: `Name pr`, want: `name pr`, wantRefs: []string{userURN + ":name"}},

	// Value paths print relative, canonical sub-attribute names.
	{name: "value path", in: `Emails[TYPE eq "work" and Value co "x"]`, want: `emails[type eq "work" and value co "x"]`, wantRefs: []string{userURN + ":emails", userURN + ":emails.type", userURN + ":emails.value"}},
	{name: "value path entra", in: `emails[type eq "work"].VALUE eq "a@b.c"`, want: `emails[type eq "work" and value eq "a@b.c"]`, wantRefs: []string{userURN + ":emails", userURN + ":emails.type", userURN + ":emails.value"}},
	{name: "value path boolean", in: `emails[primary eq "True"]`, want: `emails[primary eq true]`, wantRefs: []string{userURN + ":emails", userURN + ":emails.primary"}},
	{name: "value path not", in: `addresses[not (type eq "work") and postalcode pr]`, want: `addresses[not (type eq "work") and postalCode pr]`, wantRefs: []string{userURN + ":addresses", userURN + ":addresses.type", userURN + ":addresses.postalCode"}},
	{name: "value path single complex", in: `name[givenName eq "x"]`, want: `name[givenName eq "x"]`, wantRefs: []string{userURN + ":name", userURN + ":name.givenName"}},
	{name: "value path simple multi-valued", in: `tags[VALUE eq "x" or value sw "y"]`, want: `tags[value eq "x" or value sw "y"]`, wantRefs: []string{customURN + ":tags", customURN + ":tags", customURN + ":tags"}},
	{name: "value path $ref", in: `groups[$Ref pr]`, want: `groups[$ref pr]`, wantRefs: []string{userURN + ":groups", userURN + ":groups.$ref"}},
	{name: "simple multi-valued", in: `tags co "x"`, want: `tags co "x"`, wantRefs: []string{customURN + ":tags"}},

	// Types.
	{name: "string true coerced", in: `active eq "true"`, want: `active eq true`, wantRefs: []string{userURN + ":active"}},
	{name: "string FALSE coerced", in: `active ne "FALSE"`, want: `active ne false`, wantRefs: []string{userURN + ":active"}},
	{name: "boolean", in: `active eq true and vip ne false`, want: `active eq true and vip ne false`, wantRefs: []string{userURN + ":active", customURN + ":vip"}},
	{name: "boolean pr", in: `active pr`, want: `active pr`, wantRefs: []string{userURN + ":active"}},
	{name: "integer", in: `level gt 5 and level le 1e2 and level ne -3`, want: `level gt 5 and level le 1e2 and level ne -3`, wantRefs: []string{customURN + ":level", customURN + ":level", customURN + ":level"}},
	{name: "decimal", in: `score ge 0.5`, want: `score ge 0.5`, wantRefs: []string{customURN + ":score"}},
	{name: "dateTime", in: `startDate ge "2020-01-01T00:00:00+08:00"`, want: `startDate ge "2020-01-01T00:00:00+08:00"`, wantRefs: []string{customURN + ":startDate"}},
	{name: "dateTime fraction", in: `meta.lastModified lt "2011-05-13T04:42:34.123456789Z"`, want: `meta.lastModified lt "2011-05-13T04:42:34.123456789Z"`, wantRefs: []string{userURN + ":meta.lastModified"}},
	{name: "binary eq", in: `x509Certificates.value eq "TUlJ"`, want: `x509Certificates.value eq "TUlJ"`, wantRefs: []string{userURN + ":x509Certificates.value"}},
	{name: "binary ne", in: `badge ne "TUlJ"`, want: `badge ne "TUlJ"`, wantRefs: []string{customURN + ":badge"}},
	{name: "string ordering", in: `userName gt "m"`, want: `userName gt "m"`, wantRefs: []string{userURN + ":userName"}},
	{name: "null", in: `title eq null or meta.created eq null or level ne null or active eq null`, want: `title eq null or meta.created eq null or level ne null or active eq null`, wantRefs: []string{userURN + ":title", userURN + ":meta.created", customURN + ":level", userURN + ":active"}},

	// Structure.
	{name: "logical", in: `not (userName eq "x") or (title pr and department co "y")`, want: `not (userName eq "x") or title pr and department co "y"`, wantRefs: []string{userURN + ":userName", userURN + ":title", enterpriseURN + ":department"}},

	// Group.
	{name: "group displayName", rt: "Group", in: `DisplayName eq "x"`, want: `displayName eq "x"`, wantRefs: []string{groupURN + ":displayName"}},
	{name: "group members", rt: "Group", in: `members[VALUE eq "x"] or members.$ref pr`, want: `members[value eq "x"] or members.$ref pr`, wantRefs: []string{groupURN + ":members", groupURN + ":members.value", groupURN + ":members.$ref"}},
	{name: "group implicit value", rt: "Group", in: `members eq "x"`, want: `members.value eq "x"`, wantRefs: []string{groupURN + ":members.value"}},
	{name: "group meta", rt: "Group", in: `meta.lastModified gt "2011-05-13T04:42:34Z"`, want: `meta.lastModified gt "2011-05-13T04:42:34Z"`, wantRefs: []string{groupURN + ":meta.lastModified"}},
}

const groupURN = "urn:ietf:params:scim:schemas:core:2.0:Group"

var resolveErrors = []resolveCase{
	{name: "unknown attribute", in: `nope eq "x"`},
	{name: "unknown attribute on the right", in: `userName eq "x" and nope pr`},
	{name: "unknown attribute under not", in: `not (nope pr)`},
	{name: "unknown sub-attribute", in: `name.nope eq "x"`},
	// Gatehouse keeps no manager.displayName (RFC 7643's is read-only).
	{name: "manager displayName", in: `manager.displayName eq "Bob"`},
	{name: "sub-attribute of a simple attribute", in: `userName.value eq "x"`},
	{name: "unknown schema URN", in: `urn:example:unknown:2.0:User:foo eq "x"`},
	{name: "unknown schema URN, known name", in: `urn:example:unknown:2.0:User:userName eq "x"`},
	{name: "enterprise attribute under core URN", in: userURN + `:department eq "x"`},
	{name: "core attribute under enterprise URN", in: enterpriseURN + `:userName eq "x"`},
	{name: "common attribute under enterprise URN", in: enterpriseURN + `:id eq "x"`},
	{name: "group URN on users", in: groupURN + `:displayName eq "x"`},
	{name: "custom extension not registered", standard: true, in: `costCenterCode eq "x"`},
	{name: "custom URN not registered", standard: true, in: customURN + `:level eq 1`},
	{name: "user attribute on groups", rt: "Group", in: `userName eq "x"`},
	{name: "enterprise attribute on groups", rt: "Group", in: `department eq "x"`},
	{name: "unknown group sub-attribute", rt: "Group", in: `members.nope pr`},

	// Booleans.
	{name: "gt on boolean", in: `active gt true`},
	{name: "lt on boolean", in: `active lt false`},
	{name: "ge on boolean sub-attribute", in: `emails.primary ge true`},
	{name: "co on boolean", in: `active co "t"`},
	{name: "boolean with other string", in: `active eq "yes"`},
	{name: "boolean with number", in: `active eq 1`},

	// Numbers.
	{name: "co on integer", in: `level co 1`},
	{name: "sw on integer", in: `level sw 1`},
	{name: "ew on decimal", in: `score ew 1`},
	{name: "string compared to integer", in: `level eq "3"`},
	{name: "string compared to decimal", in: `score gt "0.5"`},
	{name: "boolean compared to integer", in: `level eq true`},
	{name: "number out of range", in: `level gt 1e400`},

	// DateTimes.
	{name: "co on dateTime", in: `meta.created co "2011"`},
	{name: "sw on dateTime", in: `meta.lastModified sw "2011"`},
	{name: "ew on custom dateTime", in: `startDate ew "Z"`},
	{name: "date only", in: `meta.created gt "2011-05-13"`},
	{name: "space instead of T", in: `meta.created gt "2011-05-13 04:42:34Z"`},
	{name: "no zone", in: `meta.created gt "2011-05-13T04:42:34"`},
	{name: "words", in: `startDate lt "yesterday"`},
	{name: "empty dateTime", in: `startDate lt ""`},
	{name: "number compared to dateTime", in: `meta.created gt 1305261754`},

	// Strings, references, binaries.
	{name: "number compared to string", in: `userName eq 1`},
	{name: "boolean compared to string", in: `title eq true`},
	{name: "number compared to reference", in: `profileUrl eq 1`},
	{name: "co on binary", in: `x509Certificates.value co "x"`},
	{name: "gt on binary", in: `badge gt "x"`},
	{name: "number compared to binary", in: `badge eq 1`},

	// Null.
	{name: "gt null", in: `title gt null`},
	{name: "co null", in: `title co null`},

	// Write-only.
	{name: "password eq", in: `password eq "x"`},
	{name: "password pr", in: `password pr`},
	{name: "password any case", in: `PassWord co "x"`},
	{name: "password with URN", in: userURN + `:password eq null`},

	// Complex attributes.
	{name: "complex without value eq", in: `name eq "x"`},
	{name: "complex without value co", in: `name co "x"`},
	{name: "multi-valued complex without value", in: `addresses eq "x"`},
	{name: "meta eq", in: `meta eq "x"`},

	// Value paths.
	{name: "value path on simple attribute", in: `userName[value eq "x"]`},
	{name: "value path on boolean", in: `active[value eq true]`},
	{name: "value path on password", in: `password[value eq "x"]`},
	{name: "value path unknown attribute", in: `nope[value eq "x"]`},
	{name: "value path unknown sub-attribute", in: `emails[nope eq "x"]`},
	{name: "value path sub-attribute of another attribute", in: `emails[familyName eq "x"]`},
	{name: "value path simple multi-valued not value", in: `tags[foo eq "x"]`},
	{name: "value path type error", in: `emails[primary gt true]`},
	{name: "value path boolean with string", in: `emails[primary eq "yes"]`},
	{name: "value path entra unknown sub-attribute", in: `emails[type eq "work"].nope eq "x"`},
	{name: "value path on single complex, wrong sub", in: `name[value eq "x"]`},
}

func TestResolve(t *testing.T) {
	custom := newRegistry(t, customExt)
	standard := newRegistry(t)
	for _, tt := range resolveOK {
		t.Run(tt.name, func(t *testing.T) {
			reg := custom
			if tt.standard {
				reg = standard
			}
			rt := resourceType(reg, tt.rt)
			e, err := filter.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if err := filter.Resolve(e, rt); err != nil {
				t.Fatalf("Resolve(%q): %v", tt.in, err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("Resolve(%q).String() = %q, want %q", tt.in, got, tt.want)
			}
			if diff := cmp.Diff(tt.wantRefs, refs(e)); diff != "" {
				t.Errorf("Resolve(%q) refs mismatch (-want +got):\n%s", tt.in, diff)
			}

			// The resolved form prints a filter that parses and resolves to
			// the same thing.
			again, err := filter.Parse(e.String())
			if err != nil {
				t.Fatalf("Parse(%q) (resolved form): %v", e.String(), err)
			}
			if err := filter.Resolve(again, rt); err != nil {
				t.Fatalf("Resolve(%q) (resolved form): %v", e.String(), err)
			}
			if got := again.String(); got != tt.want {
				t.Errorf("resolved round trip: String() = %q, want %q", got, tt.want)
			}
			if diff := cmp.Diff(tt.wantRefs, refs(again)); diff != "" {
				t.Errorf("resolved round trip refs mismatch (-want +got):\n%s", diff)
			}

			// Resolving twice changes nothing.
			if err := filter.Resolve(e, rt); err != nil {
				t.Fatalf("second Resolve: %v", err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("after a second Resolve, String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolveErrors(t *testing.T) {
	custom := newRegistry(t, customExt)
	standard := newRegistry(t)
	for _, tt := range resolveErrors {
		t.Run(tt.name, func(t *testing.T) {
			reg := custom
			if tt.standard {
				reg = standard
			}
			e, err := filter.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			err = filter.Resolve(e, resourceType(reg, tt.rt))
			if err == nil {
				t.Fatalf("Resolve(%q) succeeded (%s), want an error", tt.in, e)
			}
			if !filter.IsError(err) {
				t.Errorf("Resolve(%q) error %v (%T) is not a filter error", tt.in, err, err)
			}
		})
	}
}

func TestResolveCoercesBooleanStrings(t *testing.T) {
	reg := newRegistry(t)
	tests := []struct {
		in   string
		want filter.Value
	}{
		{`active eq "true"`, boolv(true)},
		{`active eq "True"`, boolv(true)},
		{`active ne "false"`, boolv(false)},
		{`active eq true`, boolv(true)},
		{`active eq null`, nullv()},
	}
	for _, tt := range tests {
		e, err := filter.Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if err := filter.Resolve(e, reg.User); err != nil {
			t.Fatalf("Resolve(%q): %v", tt.in, err)
		}
		got := e.(*filter.Compare).Value
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Resolve(%q) value mismatch (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestResolveImplicitValue(t *testing.T) {
	reg := newRegistry(t)
	e, err := filter.Parse(`emails co "x"`)
	if err != nil {
		t.Fatal(err)
	}
	if err := filter.Resolve(e, reg.User); err != nil {
		t.Fatal(err)
	}
	p := e.(*filter.Compare).Path
	got := struct{ Name, Sub, Attr, RefSub string }{p.Name, p.Sub, p.Ref.Attr.Name, p.Ref.Sub.Name}
	want := struct{ Name, Sub, Attr, RefSub string }{"emails", "value", "emails", "value"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("implicit value mismatch (-want +got):\n%s", diff)
	}
	if p.Ref.Schema.ID != userURN {
		t.Errorf("schema = %q, want %q", p.Ref.Schema.ID, userURN)
	}
}

func TestResolveValueFilter(t *testing.T) {
	reg := newRegistry(t, customExt)
	rt := reg.User
	outer := func(path string) schema.Ref {
		t.Helper()
		ref, err := rt.ResolveLoose(path)
		if err != nil {
			t.Fatalf("ResolveLoose(%q): %v", path, err)
		}
		return ref
	}
	tests := []struct {
		name     string
		outer    string
		in       string
		want     string // "" for an error
		wantRefs []string
	}{
		{name: "emails", outer: "emails", in: `TYPE eq "work" and value co "x"`, want: `type eq "work" and value co "x"`, wantRefs: []string{userURN + ":emails.type", userURN + ":emails.value"}},
		{name: "members", outer: "groups", in: `value eq "g1"`, want: `value eq "g1"`, wantRefs: []string{userURN + ":groups.value"}},
		{name: "single complex", outer: "name", in: `givenname pr`, want: `givenName pr`, wantRefs: []string{userURN + ":name.givenName"}},
		{name: "simple multi-valued", outer: "tags", in: `Value sw "a"`, want: `value sw "a"`, wantRefs: []string{customURN + ":tags"}},
		{name: "boolean coerced", outer: "emails", in: `primary eq "true"`, want: `primary eq true`, wantRefs: []string{userURN + ":emails.primary"}},
		{name: "unknown sub-attribute", outer: "emails", in: `nope eq "x"`},
		{name: "simple multi-valued, not value", outer: "tags", in: `nope eq "x"`},
		{name: "type error", outer: "emails", in: `primary gt true`},
		{name: "not complex nor multi-valued", outer: "userName", in: `value eq "x"`},
		{name: "boolean outer", outer: "active", in: `value eq true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := filter.ParseValueFilter(tt.in)
			if err != nil {
				t.Fatalf("ParseValueFilter(%q): %v", tt.in, err)
			}
			err = filter.ResolveValueFilter(e, rt, outer(tt.outer))
			if tt.want == "" {
				if !filter.IsError(err) {
					t.Fatalf("ResolveValueFilter(%q) = %v, want a filter error", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ResolveValueFilter(%q): %v", tt.in, err)
			}
			if got := e.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if diff := cmp.Diff(tt.wantRefs, refs(e)); diff != "" {
				t.Errorf("refs mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
