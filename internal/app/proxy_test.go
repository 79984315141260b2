package app

import (
	"net/http/httptest"
	"testing"
)

func TestTrustedProxies(t *testing.T) {
	p, err := newProxies([]string{"10.0.0.0/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote, xff, want string
	}{
		{"10.1.2.3:5000", "198.51.100.7", "198.51.100.7"},              // from the proxy
		{"10.1.2.3:5000", "203.0.113.9, 198.51.100.7", "198.51.100.7"}, // the last hop the proxy added
		{"10.1.2.3:5000", "198.51.100.7, 10.9.9.9", "198.51.100.7"},    // through two trusted proxies
		{"192.0.2.1:443", "2001:db8::1", "2001:db8::1"},                // IPv6 client
		{"203.0.113.5:5000", "198.51.100.7", ""},                       // not a proxy: header ignored
		{"10.1.2.3:5000", "", ""},                                      // proxy without the header
		{"10.1.2.3:5000", "not-an-address", ""},                        // garbage
		{"10.1.2.3:5000", "10.2.2.2, 10.3.3.3", "10.2.2.2"},            // all trusted: the first
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		a, ok := p.client(r)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("%s via %q: got %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
	if _, err := newProxies([]string{"nonsense"}); err == nil {
		t.Error("bad CIDR accepted")
	}
}
