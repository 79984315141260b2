package scim_test

import (
	"net/http"
	"testing"
)

// TestPhoneRegionFollowsTheNumber: a phoneRegion Gatehouse derived from the
// number is recomputed when a PATCH changes the number; one the client gave
// for a national number must agree with a new number's calling code.
func TestPhoneRegionFollowsTheNumber(t *testing.T) {
	h := newHarness(t)
	id := h.createUser(map[string]any{"userName": "pat", "phoneNumbers": []any{map[string]any{"value": "+86-13800138000", "type": "work"}}})
	r := h.must(h.do("GET", "/Users/"+id, nil), http.StatusOK)
	if r.str("phoneRegion") != "86" {
		t.Fatalf("phoneRegion = %q", r.str("phoneRegion"))
	}
	patch := func(value string) *response {
		return h.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"phoneNumbers[type eq \"work\"].value","value":"`+value+`"}]}`)
	}
	r = h.must(patch("+1 425 555 0100"), http.StatusOK)
	if r.str("phoneRegion") != "1" || r.str("phoneNumbers", "0", "value") != "+1 425 555 0100" {
		t.Errorf("after moving to +1: %s", r.Raw)
	}
	// A national number takes the default region.
	r = h.must(patch("13900139000"), http.StatusOK)
	if r.str("phoneRegion") != "86" {
		t.Errorf("national number: %s", r.Raw)
	}
	// An explicit region for a national number is the client's statement…
	h.must(h.do("PATCH", "/Users/"+id, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"phoneRegion","value":"852"}]}`), http.StatusOK)
	// …so a new international number must agree with it.
	h.wantError(patch("+1 425 555 0100"), http.StatusBadRequest, "invalidValue")
	r = h.must(patch("+852 2345 6789"), http.StatusOK)
	if r.str("phoneRegion") != "852" {
		t.Errorf("+852: %s", r.Raw)
	}
}
