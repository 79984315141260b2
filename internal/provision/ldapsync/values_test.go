package ldapsync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

var guidTests = []struct {
	bytes, guid string
}{
	// Microsoft's example GUID {3F2504E0-4F89-11D3-9A0C-0305E82C3301}:
	// Data1..Data3 little-endian, Data4 as is.
	{"\xe0\x04\x25\x3f\x89\x4f\xd3\x11\x9a\x0c\x03\x05\xe8\x2c\x33\x01", "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
	{"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f", "03020100-0504-0706-0809-0a0b0c0d0e0f"},
	{strings.Repeat("\xff", 16), "ffffffff-ffff-ffff-ffff-ffffffffffff"},
}

func TestGUID(t *testing.T) {
	for _, tt := range guidTests {
		got, err := FormatGUID([]byte(tt.bytes))
		if err != nil || got != tt.guid {
			t.Errorf("FormatGUID(% x) = %q, %v; want %q", tt.bytes, got, err, tt.guid)
		}
		back, err := ParseGUID(tt.guid)
		if err != nil || string(back) != tt.bytes {
			t.Errorf("ParseGUID(%q) = % x, %v", tt.guid, back, err)
		}
		if back, err := ParseGUID("{" + strings.ToUpper(tt.guid) + "}"); err != nil || string(back) != tt.bytes {
			t.Errorf("ParseGUID of the braced upper-case form: % x, %v", back, err)
		}
	}
	for _, bad := range []string{"", "3f2504e0-4f89-11d3-9a0c-0305e82c330", "3f2504e0x4f89-11d3-9a0c-0305e82c3301", "zz2504e0-4f89-11d3-9a0c-0305e82c3301"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) did not fail", bad)
		}
	}
	if _, err := FormatGUID([]byte("short")); err == nil {
		t.Error("FormatGUID of 5 bytes did not fail")
	}
	// The filter form escapes every byte.
	b, _ := ParseGUID(guidTests[0].guid)
	if got := escapeBytes(b); got != `\e0\04\25\3f\89\4f\d3\11\9a\0c\03\05\e8\2c\33\01` {
		t.Errorf("escapeBytes = %s", got)
	}
}

func FuzzGUID(f *testing.F) {
	for _, tt := range guidTests {
		f.Add([]byte(tt.bytes), tt.guid)
	}
	f.Fuzz(func(t *testing.T, b []byte, s string) {
		if g, err := FormatGUID(b); err == nil {
			back, err := ParseGUID(g)
			if err != nil || !bytes.Equal(back, b) {
				t.Fatalf("% x → %q → % x, %v", b, g, back, err)
			}
		}
		if raw, err := ParseGUID(s); err == nil {
			g, err := FormatGUID(raw)
			if err != nil || !strings.EqualFold(g, strings.Trim(s, "{}")) {
				t.Fatalf("%q → % x → %q, %v", s, raw, g, err)
			}
		}
	})
}

var timeTests = []struct {
	in   string
	want string // RFC 3339, "" for an error
}{
	{"20240102150405Z", "2024-01-02T15:04:05Z"},
	{"20240102150405.0Z", "2024-01-02T15:04:05Z"}, // AD's whenChanged
	{"20240102150405.123456Z", "2024-01-02T15:04:05.123456Z"},
	{"20240102150405,5Z", "2024-01-02T15:04:05.5Z"},
	{"202401021504Z", "2024-01-02T15:04:00Z"},
	{"2024010215Z", "2024-01-02T15:00:00Z"},
	{"2024010215.5Z", "2024-01-02T15:30:00Z"}, // a fraction of an hour
	{"20240102150405+0800", "2024-01-02T07:04:05Z"},
	{"20240102150405-0130", "2024-01-02T16:34:05Z"},
	{"000001010000Z", "0000-01-01T00:00:00Z"}, // ppolicy's administrative lock
	{"20240102150405", ""},                    // no zone
	{"20241302150405Z", ""},                   // month 13
	{"2024010215040Z", ""},
	{"20240102150405.Z", ""},
	{"20240102150405+08", ""},
	{"2024-01-02T15:04:05Z", ""},
	{"", ""},
}

func TestGeneralizedTime(t *testing.T) {
	for _, tt := range timeTests {
		got, err := ParseGeneralizedTime(tt.in)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%q: got %v, want an error", tt.in, got)
		case tt.want != "" && err != nil:
			t.Errorf("%q: %v", tt.in, err)
		case tt.want != "" && got.Format(time.RFC3339Nano) != tt.want:
			t.Errorf("%q = %s, want %s", tt.in, got.Format(time.RFC3339Nano), tt.want)
		}
	}
	if got := FormatGeneralizedTime(time.Date(2024, 1, 2, 15, 4, 5, 999, time.FixedZone("", 3600))); got != "20240102140405Z" {
		t.Errorf("FormatGeneralizedTime = %s", got)
	}
}

func FuzzGeneralizedTime(f *testing.F) {
	for _, tt := range timeTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseGeneralizedTime(s)
		if err != nil {
			return
		}
		// Whole seconds round-trip through the filter form.
		w := tm.Truncate(time.Second)
		back, err := ParseGeneralizedTime(FormatGeneralizedTime(w))
		if err != nil || !back.Equal(w) {
			t.Fatalf("%q → %v → %q → %v, %v", s, tm, FormatGeneralizedTime(w), back, err)
		}
	})
}

var rangeTests = []struct {
	in   string
	want valueRange
	ok   bool
	err  bool
}{
	{in: "member", ok: false},
	{in: "member;range=0-1499", want: valueRange{Attr: "member", Lo: 0, Hi: 1499}, ok: true},
	{in: "member;range=1500-*", want: valueRange{Attr: "member", Lo: 1500, Hi: -1, Last: true}, ok: true},
	{in: "Member;Range=3000-4499", want: valueRange{Attr: "Member", Lo: 3000, Hi: 4499}, ok: true},
	{in: "member;binary;range=0-9", want: valueRange{Attr: "member", Lo: 0, Hi: 9}, ok: true},
	{in: "member;lang-en", ok: false},
	{in: "member;range=10-5", ok: true, err: true},
	{in: "member;range=a-5", ok: true, err: true},
	{in: "member;range=5", ok: true, err: true},
	{in: "member;range=5-x", ok: true, err: true},
}

func TestParseRange(t *testing.T) {
	for _, tt := range rangeTests {
		got, ok, err := parseRange(tt.in)
		if ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("%q: ok %v err %v", tt.in, ok, err)
			continue
		}
		if tt.ok && !tt.err && got != tt.want {
			t.Errorf("%q = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, tt := range rangeTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok, err := parseRange(s)
		if !ok || err != nil {
			return
		}
		if r.Lo < 0 || (!r.Last && r.Hi < r.Lo) {
			t.Fatalf("%q → %+v", s, r)
		}
		hi := "*"
		if !r.Last {
			hi = fmt.Sprint(r.Hi)
		}
		back, ok, err := parseRange(fmt.Sprintf("%s;range=%d-%s", r.Attr, r.Lo, hi))
		if !ok || err != nil || back != r {
			t.Fatalf("%q → %+v → %+v", s, r, back)
		}
	})
}

var dnTests = []struct {
	in, norm, parent string
}{
	{"uid=Ada,OU=People,DC=Example,DC=com", "uid=ada,ou=people,dc=example,dc=com", "ou=people,dc=example,dc=com"},
	{"uid=ada, ou=people , dc=example,dc=com", "uid=ada,ou=people,dc=example,dc=com", "ou=people,dc=example,dc=com"},
	{`CN=Lovelace\, Ada,OU=IT,DC=corp`, `cn=lovelace\, ada,ou=it,dc=corp`, "ou=it,dc=corp"},
	{`CN=Lovelace\2C Ada,OU=IT,DC=corp`, `cn=lovelace\, ada,ou=it,dc=corp`, "ou=it,dc=corp"},
	{"cn=Ünïcode,ou=ÉQUIPE,dc=x", "cn=\\c3\\bcn\\c3\\afcode,ou=\\c3\\a9quipe,dc=x", "ou=\\c3\\a9quipe,dc=x"},
	{"dc=com", "dc=com", ""},
	{"cn=a+sn=b,dc=x", "cn=a+sn=b,dc=x", "dc=x"},
}

func TestNormDN(t *testing.T) {
	for _, tt := range dnTests {
		n, ok := normDN(tt.in)
		if !ok || n != tt.norm {
			t.Errorf("normDN(%q) = %q, %v; want %q", tt.in, n, ok, tt.norm)
		}
		if p := parentDN(n); p != tt.parent {
			t.Errorf("parentDN(%q) = %q, want %q", n, p, tt.parent)
		}
	}
	if _, ok := normDN("not a dn"); ok {
		t.Error("normDN accepted a non-DN")
	}
	if d := depth("uid=a,ou=b\\,c,dc=x"); d != 3 {
		t.Errorf("depth = %d", d)
	}
	for in, want := range map[string]string{
		"uid=a,dc=x#'0101'B": "uid=a,dc=x", "uid=a,dc=x": "uid=a,dc=x", "cn=#'x'B,dc=x": "cn=#'x'B,dc=x", "uid=a#'',dc=x": "uid=a#'',dc=x",
	} {
		if got := memberDN(in); got != want {
			t.Errorf("memberDN(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormDN(f *testing.F) {
	for _, tt := range dnTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := normDN(s)
		if !ok {
			return
		}
		// Normalising is idempotent, and the parent of a normal DN is
		// normal.
		n2, ok := normDN(n)
		if !ok || n2 != n {
			t.Fatalf("%q → %q → %q (%v)", s, n, n2, ok)
		}
		if p := parentDN(n); p != "" {
			if pn, ok := normDN(p); !ok || pn != p {
				t.Fatalf("parent of %q: %q → %q (%v)", n, p, pn, ok)
			}
		}
	})
}

// rangedServer answers like AD: at most max values of an attribute at
// once, the rest on request with the range option.
type rangedServer struct {
	dn     string
	values []string
	max    int
	asked  []string
}

func (s *rangedServer) Search(req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	if req.BaseDN != s.dn || req.Scope != ldap.ScopeBaseObject || len(req.Attributes) != 1 {
		return nil, fmt.Errorf("unexpected request %+v", req)
	}
	s.asked = append(s.asked, req.Attributes[0])
	r, ok, err := parseRange(req.Attributes[0])
	if !ok || err != nil || !r.Last {
		return nil, fmt.Errorf("unexpected attribute %q", req.Attributes[0])
	}
	return &ldap.SearchResult{Entries: []*ldap.Entry{s.part(r.Lo)}}, nil
}

func (s *rangedServer) part(lo int) *ldap.Entry {
	hi := lo + s.max - 1
	name := fmt.Sprintf("member;range=%d-%d", lo, hi)
	if hi >= len(s.values)-1 {
		hi = len(s.values) - 1
		name = fmt.Sprintf("member;range=%d-*", lo)
	}
	return &ldap.Entry{DN: s.dn, Attributes: []*ldap.EntryAttribute{{Name: "cn", Values: []string{"big"}}, {Name: name, Values: s.values[lo : hi+1]}}}
}

func TestFullValues(t *testing.T) {
	for _, n := range []int{0, 1, 1500, 1501, 4000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := &rangedServer{dn: "cn=big,dc=x", max: 1500}
			for i := range n {
				s.values = append(s.values, fmt.Sprintf("uid=u%d,dc=x", i))
			}
			first := &ldap.Entry{DN: s.dn, Attributes: []*ldap.EntryAttribute{{Name: "member", Values: s.values}}}
			if n > s.max {
				first = s.part(0)
			}
			got, err := fullValues(context.Background(), s, first, "member")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(s.values, got); diff != "" {
				t.Errorf("values (-want +got):\n%s", diff)
			}
			var want []string
			for lo := s.max; lo < n; lo += s.max {
				want = append(want, fmt.Sprintf("member;range=%d-*", lo))
			}
			if diff := cmp.Diff(want, s.asked); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWatermark(t *testing.T) {
	tests := []struct {
		values  []string
		want    string
		filter  string
		overlap time.Duration
	}{
		{values: nil, want: "", filter: ""},
		{values: []string{"12", "9", "130", "x"}, want: "usn:130", filter: "(uSNChanged>=130)"},
		{values: []string{"20240101000000Z", "20240301120000Z", "20240201000000Z"}, want: "time:2024-03-01T12:00:00Z",
			filter: "(uSNChanged>=20240301115500Z)", overlap: 5 * time.Minute},
		{values: []string{"20240101000000.5Z"}, want: "time:2024-01-01T00:00:00.5Z", filter: "(uSNChanged>=20240101000000Z)"},
	}
	for _, tt := range tests {
		var w watermark
		for _, v := range tt.values {
			w.observe(v)
		}
		if w.String() != tt.want {
			t.Errorf("%v: %q, want %q", tt.values, w.String(), tt.want)
		}
		p, err := parseWatermark(w.String())
		if tt.want != "" && (err != nil || p != w) {
			t.Errorf("parseWatermark(%q) = %+v, %v", w.String(), p, err)
		}
		if got := w.changedSince("uSNChanged", tt.overlap); got != tt.filter {
			t.Errorf("%v: filter %q, want %q", tt.values, got, tt.filter)
		}
	}
}

func TestNeedsFull(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ok := state{V: 1, Fingerprint: "f", Server: "dc1", Watermark: "usn:5", LastFull: now.Add(-time.Hour)}
	tests := []struct {
		name string
		st   func(state) state
		want bool
	}{
		{"recent", func(s state) state { return s }, false},
		{"first run", func(s state) state { return state{} }, true},
		{"other settings", func(s state) state { s.Fingerprint = "g"; return s }, true},
		{"other domain controller", func(s state) state { s.Server = "dc2"; return s }, true},
		{"bad watermark", func(s state) state { s.Watermark = "usn:x"; return s }, true},
		{"last full run a day ago", func(s state) state { s.LastFull = now.Add(-24 * time.Hour); return s }, true},
	}
	for _, tt := range tests {
		if got := tt.st(ok).needsFull("f", "dc1", now, 24*time.Hour); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
}

// TestErrorKind: the log's reason names the kind of a failure, never its
// message (which quotes values).
func TestErrorKind(t *testing.T) {
	conflict := &directory.Error{Kind: directory.ErrConflict, Field: "userName", Msg: `userName "ada" is taken`}
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{conflict, "conflict"},
		{fmt.Errorf("%w: %w", errDeparted, conflict), "the user name of a departed account: gatehouse sync ldap --dry-run shows what to run"},
		{&directory.Error{Kind: directory.ErrInvalid, Msg: `"x" is not an email address`}, "invalid value"},
		{errors.New("boom"), "error"},
	}
	for _, tt := range tests {
		if got := errorKind(tt.err); got != tt.want {
			t.Errorf("errorKind(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
