package app_test

import (
	"net/http"
	"testing"
)

// TestDuplicateAuthorizationRefused: a request with two Authorization
// headers is refused as an invalid credential on the SCIM and admin APIs,
// even when both are valid — which one counts would be a guess, and a
// proxy may have checked the other (red team finding 5).
func TestDuplicateAuthorizationRefused(t *testing.T) {
	r := start(t, nil)
	for _, tc := range []struct{ path, token string }{
		{"/scim/v2/Users", r.token},
		{"/scim/v2/Schemas", r.token},
		{"/admin/v1/apps", r.admin},
	} {
		for _, headers := range [][]string{{"Bearer " + tc.token}, {"Bearer " + tc.token, "Bearer " + tc.token}, {"Bearer " + tc.token, "Bearer other"}} {
			req, _ := http.NewRequest("GET", r.url+tc.path, nil)
			req.Header["Authorization"] = headers
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			want := http.StatusOK
			if len(headers) > 1 {
				want = http.StatusUnauthorized
			}
			if res.StatusCode != want || want == http.StatusUnauthorized && res.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s with %d Authorization headers: %d %v, want %d", tc.path, len(headers), res.StatusCode, res.Header, want)
			}
		}
	}
}
