package httpquery

import "testing"

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		raw string
		ok  bool
	}{
		{"", true},
		{"filter=userName%20eq%20%22a%22&count=2", true},
		{"q=a+b&k=3", true},
		{"filter=a;", false},
		{"filter=a&filter=b;", false},
		{"a=1;b=2", false},
		{"filter=a%zz", false},
		{"filter=a%", false},
		{"%zz=1", false},
		{"filter=a%3Bb%25", true},
	} {
		err := Check(tc.raw)
		if (err == nil) != tc.ok {
			t.Errorf("Check(%q) = %v, want ok=%v", tc.raw, err, tc.ok)
		}
		if _, perr := Parse(tc.raw); (perr == nil) != (err == nil) {
			t.Errorf("Parse(%q) = %v, Check %v: they disagree", tc.raw, perr, err)
		}
	}
}
