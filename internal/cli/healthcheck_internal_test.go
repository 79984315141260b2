package cli

import "testing"

func TestReadyURL(t *testing.T) {
	tests := []struct {
		listen string
		tls    bool
		want   string
	}{
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080/readyz"},
		{"0.0.0.0:8080", false, "http://127.0.0.1:8080/readyz"},
		{":8080", false, "http://127.0.0.1:8080/readyz"},
		{"[::]:8443", true, "https://[::1]:8443/readyz"},
		{"10.0.1.5:8080", false, "http://10.0.1.5:8080/readyz"},
		{"gatehouse.internal:8443", true, "https://gatehouse.internal:8443/readyz"},
	}
	for _, tt := range tests {
		got, err := readyURL(tt.listen, tt.tls)
		if err != nil || got != tt.want {
			t.Errorf("readyURL(%q, %v) = %q, %v; want %q", tt.listen, tt.tls, got, err, tt.want)
		}
	}
	if _, err := readyURL("8080", false); err == nil {
		t.Errorf("readyURL(\"8080\") gave no error")
	}
}
