package scim_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// TestLookAlikeNames: a userName or group displayName that would pass for
// another — invisible or bidirectional characters, white space at an end,
// a decomposed form — is 400 invalidValue on every way of giving it, and
// creates nothing; real names of every script still work. A name stored
// before the rule keeps working until it changes.
func TestLookAlikeNames(t *testing.T) {
	h := newHarness(t)
	uid := h.createUser(map[string]any{"userName": "ada@example.com"})
	gid := h.createGroup("admins")
	bad := []string{
		"ada\u200b@example.com", // zero-width space
		"ada@example.com\u200d", // zero-width joiner
		"\ufeffada@example.com", // byte order mark
		"ada\u2060@example.com", // word joiner
		"\u202emoc.elpmaxe@ada", // right-to-left override
		"ada\u2066@example.com", // left-to-right isolate
		"ada\u200e@example.com", // left-to-right mark
		"ada@example.com ",      // trailing space
		"ada\u00a0lovelace",     // no-break space
		"Jose\u0301",            // decomposed é
	}
	before := h.snapshot()
	for _, name := range bad {
		for _, tc := range []struct {
			what, method, path string
			body               any
		}{
			{"create", "POST", "/Users", map[string]any{"userName": name}},
			{"replace", "PUT", "/Users/" + uid, map[string]any{"userName": name}},
			{"rename", "PATCH", "/Users/" + uid, patchBody(`{"op":"replace","path":"userName","value":"` + jsonEscape(name) + `"}`)},
		} {
			t.Run(tc.what+" "+jsonEscape(name), func(t *testing.T) {
				r := h.with(t).do(tc.method, tc.path, tc.body)
				checkError(t, r, http.StatusBadRequest, "invalidValue")
				if !strings.Contains(r.str("detail"), "userName") {
					t.Errorf("detail %q does not name userName", r.str("detail"))
				}
			})
		}
		if strings.ContainsRune(name, '\u00a0') {
			continue // group names may hold other spaces inside
		}
		for _, tc := range []struct {
			what, method, path string
			body               any
		}{
			{"create group", "POST", "/Groups", map[string]any{"displayName": name}},
			{"replace group", "PUT", "/Groups/" + gid, map[string]any{"displayName": name}},
			{"rename group", "PATCH", "/Groups/" + gid, patchBody(`{"op":"replace","path":"displayName","value":"` + jsonEscape(name) + `"}`)},
		} {
			t.Run(tc.what+" "+jsonEscape(name), func(t *testing.T) {
				r := h.with(t).do(tc.method, tc.path, tc.body)
				checkError(t, r, http.StatusBadRequest, "invalidValue")
			})
		}
	}
	r := h.must(h.do("POST", "/Bulk", bulkBody(0, postUser("b1", "ada\u200b@example.com"))), http.StatusOK)
	if got := bulkResults(t, r); len(got) != 1 || got[0].Status != "400" || got[0].ScimType != "invalidValue" {
		t.Errorf("bulk: %+v", got)
	}
	if diff := snapshotDiff(before, h.snapshot()); diff != "" {
		t.Errorf("refused names changed the directory (-before +after):\n%s", diff)
	}

	// Real names: every script, spaces inside, full-width letters.
	for _, name := range []string{"张三", "zhang.san@example.com", "José Müller", "やまだ", "محمد", "ａｄａ", `CORP\ada`} {
		h.createUser(map[string]any{"userName": name})
	}
	h.createGroup("研发部\u3000北京")

	// A look-alike stored before the rule: it can still be read, disabled
	// and renamed to a good name, not to another look-alike.
	ctx := context.Background()
	now := time.Now().UTC()
	old := &directory.User{ID: "old-look-alike", UserName: "admin\u200b@example.com", Active: true, OrgID: directory.RootOrgID,
		Attrs: directory.Attrs{}, Created: now, Modified: now, Version: 1}
	if err := h.store.Write(ctx, func(tx directory.Tx) error { return tx.InsertUser(ctx, old) }); err != nil {
		t.Fatal(err)
	}
	h.must(h.do("PATCH", "/Users/"+old.ID, patchBody(`{"op":"replace","path":"active","value":false}`)), http.StatusOK)
	h.must(h.do("PUT", "/Users/"+old.ID, map[string]any{"schemas": []string{schema.UserURN}, "userName": old.UserName, "displayName": "Not the admin", "active": false}), http.StatusOK)
	checkError(t, h.do("PATCH", "/Users/"+old.ID, patchBody(`{"op":"replace","path":"userName","value":"admin\u2060@example.com"}`)), http.StatusBadRequest, "invalidValue")
	r = h.must(h.do("PATCH", "/Users/"+old.ID, patchBody(`{"op":"replace","path":"userName","value":"former-admin@example.com"}`)), http.StatusOK)
	if r.str("userName") != "former-admin@example.com" || r.Body["active"] != false {
		t.Errorf("renamed: %s", r.Raw)
	}
}

// jsonEscape writes s as the inside of a JSON string, with everything
// outside printable ASCII escaped.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		case r > 0xffff:
			r -= 0x10000
			b.WriteString(`\u` + hex4(0xd800+(r>>10)) + `\u` + hex4(0xdc00+(r&0x3ff)))
		default:
			b.WriteString(`\u` + hex4(r))
		}
	}
	return b.String()
}

func hex4(r rune) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[r>>12&0xf], digits[r>>8&0xf], digits[r>>4&0xf], digits[r&0xf]})
}

// TestUserNamesUniqueIgnoringCase: userNames are unique ignoring case, and
// a letter that is another ignoring case without lower-casing to it (long
// s, final sigma…) would let two accounts be one name: "ſam-x" next to
// "sam-x". A new userName with one is refused (400 invalidValue), on every
// way of giving it.
func TestUserNamesUniqueIgnoringCase(t *testing.T) {
	for _, p := range []struct {
		mode string
		p    directory.Profile
	}{{"idaas", directory.IDaaSProfile()}, {"rfc", rfcProfile()}} {
		t.Run(p.mode, func(t *testing.T) {
			h := newHarness(t, withProfile(p.p))
			sam := h.createUser(map[string]any{"userName": "sam-x@example.com"})
			other := h.createUser(map[string]any{"userName": "other@example.com"})
			before := h.snapshot()
			for _, name := range []string{"ſam-x@example.com", "SAM-X@example.com", "Νίκος@example.com", "µ@example.com"} {
				for _, tc := range []struct {
					method, path string
					body         any
				}{
					{"POST", "/Users", map[string]any{"userName": name}},
					{"PUT", "/Users/" + other, map[string]any{"userName": name}},
					{"PATCH", "/Users/" + other, patchBody(`{"op":"replace","path":"userName","value":"` + jsonEscape(name) + `"}`)},
				} {
					r := h.do(tc.method, tc.path, tc.body)
					switch {
					case name == "SAM-X@example.com" && p.mode == "idaas" && tc.method == "POST":
						// IDaaS: the same name is an update of sam.
						if r.Status != http.StatusOK || r.str("id") != sam {
							t.Errorf("%s %s: %d %s", tc.method, name, r.Status, r.Raw)
						}
					case name == "SAM-X@example.com":
						checkError(t, r, http.StatusConflict, "uniqueness")
					default:
						checkError(t, r, http.StatusBadRequest, "invalidValue")
					}
				}
			}
			h.must(h.do("PUT", "/Users/"+sam, map[string]any{"userName": "sam-x@example.com"}), http.StatusOK)
			if diff := snapshotDiff(before, h.snapshot()); p.mode == "rfc" && diff != "" {
				t.Errorf("refused names changed the directory:\n%s", diff)
			}
			h.createUser(map[string]any{"userName": "σοφία@example.com"})
			h.createUser(map[string]any{"userName": "yılmaz@example.com"})
		})
	}
}
