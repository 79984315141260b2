package jsonvalue

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// stdEncode is the reference: encoding/json's Encoder without HTML
// escaping, without the trailing newline.
func stdEncode(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))), nil
}

type named map[string]any

var appendCases = []struct {
	name string
	v    any
	want string
}{
	{"nil", nil, `null`},
	{"string", "plain", `"plain"`},
	{"escapes", "q\" b\\ \b\f\n\r\t \x00\x1f \x7f", `"q\" b\\ \b\f\n\r\t \u0000\u001f ` + "\x7f" + `"`},
	{"html stays", "<a href='x'>&amp;</a>", `"<a href='x'>&amp;</a>"`},
	{"utf-8", "Zoë 王 🙂", `"Zoë 王 🙂"`},
	{"invalid utf-8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
	{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
	{"bools", []any{true, false}, `[true,false]`},
	{"numbers", []any{json.Number("12"), json.Number("-0.5e+10"), json.Number(""), 7, int64(-9)}, `[12,-0.5e+10,0,7,-9]`},
	{"sorted keys", map[string]any{"b": 1, "a": 2, "B": 3, "": 4, "aa": 5}, `{"":4,"B":3,"a":2,"aa":5,"b":1}`},
	{"nil containers", map[string]any{"m": map[string]any(nil), "a": []any(nil), "s": []string(nil)}, `{"a":null,"m":null,"s":null}`},
	{"empty containers", map[string]any{"m": map[string]any{}, "a": []any{}, "s": []string{}}, `{"a":[],"m":{},"s":[]}`},
	{"strings", []string{"x", "y\"z"}, `["x","y\"z"]`},
	{"escaped key", map[string]any{"k\"\n": "v"}, `{"k\"\n":"v"}`},
	{"nested", map[string]any{"emails": []any{map[string]any{"value": "a@example.com", "primary": true}}}, `{"emails":[{"primary":true,"value":"a@example.com"}]}`},
	// Types outside the fast path go through encoding/json.
	{"float", []any{1.5, 1e21, 1e-7, float32(0.1)}, `[1.5,1e+21,1e-7,0.1]`},
	{"named map", named{"z": 1, "a": "<"}, `{"a":"<","z":1}`},
	{"struct", struct {
		A int    `json:"a"`
		B string `json:"b,omitempty"`
	}{A: 1}, `{"a":1}`},
	{"map of strings", map[string]string{"b": "1", "a": "2"}, `{"a":"2","b":"1"}`},
	{"raw message", json.RawMessage(` {"a" : 1} `), `{"a":1}`},
	{"raw", map[string]any{"r": Raw(`{"a":[1,"<x>"]}`)}, `{"r":{"a":[1,"<x>"]}}`},
}

func TestAppend(t *testing.T) {
	for _, tc := range appendCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Append([]byte("prefix:"), tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("prefix:"+tc.want, string(got)); diff != "" {
				t.Errorf("Append (-want +got):\n%s", diff)
			}
			std, err := stdEncode(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(std, string(got[len("prefix:"):])); diff != "" {
				t.Errorf("Append differs from encoding/json (-std +got):\n%s", diff)
			}
		})
	}
}

// TestAppendErrors: what encoding/json refuses, Append refuses with the
// same error, leaving dst as it was.
func TestAppendErrors(t *testing.T) {
	deep := map[string]any{}
	cyclic := deep
	for range 2000 {
		next := map[string]any{}
		cyclic["x"] = next
		cyclic = next
	}
	cyclic["x"] = deep // a cycle, found by encoding/json
	for name, v := range map[string]any{
		"bad number": map[string]any{"n": json.Number("1.")},
		"NaN":        []any{math.NaN()},
		"channel":    map[string]any{"c": make(chan int)},
		"cycle":      deep,
	} {
		t.Run(name, func(t *testing.T) {
			_, want := stdEncode(v)
			got, err := Append([]byte("kept"), v)
			if want == nil || err == nil || err.Error() != want.Error() {
				t.Fatalf("error %v, want %v", err, want)
			}
			if string(got) != "kept" {
				t.Errorf("dst = %q, want it unchanged", got)
			}
		})
	}
}

var decodeCases = []string{
	`{}`,
	` {"a":1} `,
	`{"userName":"bjensen@example.com","emails":[{"value":"b@example.com","type":"work","primary":true}],"n":null}`,
	`{"n":[0,-0,1.5,-2e10,3E-2,1e+5,123456789012345678901234567890]}`,
	`{"esc":"q\" b\\ s\/ \b\f\n\r\t \u0041\u00e9\u4e2d"}`,
	`{"surrogates":"\ud83d\ude42 \ud800 \udc00x"}`,
	`{"invalid":"a` + "\xff" + `b"}`,
	`{"dup":1,"dup":2}`,
	`{"nested":{"a":[[],{},[{"b":[true,false,null]}]]}}`,
	`{"a":1} trailing`,
	`{"a":1}{"b":2}`,
	`null`,
	`[1,2]`,
	`"s"`,
	``,
	`{`,
	`{"a"}`,
	`{"a":01}`,
	`{"a":1.}`,
	`{"a":-}`,
	`{"a":tru}`,
	`{"a":"\x"}`,
	`{"a":"\'"}`,
	"{\"a\":\"tab\there\"}",
	`{"a":1,}`,
	`{"a":[1,]}`,
	`{"a" : [ 1 , 2 ] , "b" : { } }`,
	`{"a":1e}`,
	`{"a":"\u12"}`,
	`{"` + "\u2028" + `":"` + "\u2029" + `"}`,
}

// stdDecode is the reference: a Decoder with UseNumber into a map.
func stdDecode[M ~map[string]any](data []byte) (M, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m M
	err := dec.Decode(&m)
	return m, err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func checkDecode(t *testing.T, in []byte) {
	t.Helper()
	want, wantErr := stdDecode[named](in)
	var got named
	err := DecodeObject(in, &got)
	if errString(err) != errString(wantErr) {
		t.Fatalf("DecodeObject(%q): error %v, encoding/json %v", in, err, wantErr)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("DecodeObject(%q) differs from encoding/json (-std +got):\n%s", in, diff)
	}
	if (want == nil) != (got == nil) {
		t.Fatalf("DecodeObject(%q): nil %v, encoding/json nil %v", in, got == nil, want == nil)
	}
}

func TestDecodeObject(t *testing.T) {
	for _, in := range decodeCases {
		checkDecode(t, []byte(in))
	}
	deep := bytes.Repeat([]byte(`{"a":`), 500)
	deep = append(append(deep, '1'), bytes.Repeat([]byte(`}`), 500)...)
	checkDecode(t, deep)
}

// TestDecodeObjectMerges: like encoding/json, decoding into a map that is
// there adds to it.
func TestDecodeObjectMerges(t *testing.T) {
	m := map[string]any{"kept": true}
	if err := DecodeObject([]byte(`{"new":1}`), &m); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"kept": true, "new": json.Number("1")}, m); diff != "" {
		t.Error(diff)
	}
}

// TestDecodedValuesAreFresh: decoded strings and containers share nothing
// with the input, which the caller may reuse.
func TestDecodedValuesAreFresh(t *testing.T) {
	in := []byte(`{"someKey":"someValue","n":42,"a":["x"]}`)
	var m map[string]any
	if err := DecodeObject(in, &m); err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i] = 'z'
	}
	want := map[string]any{"someKey": "someValue", "n": json.Number("42"), "a": []any{"x"}}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Error(diff)
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, in := range decodeCases {
		f.Add([]byte(in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecode(t, in)
	})
}

// FuzzAppend encodes what encoding/json decodes from the input, and the
// input itself as a string, a key and a number, and compares with
// encoding/json.
func FuzzAppend(f *testing.F) {
	for _, in := range decodeCases {
		f.Add(in)
	}
	for _, tc := range appendCases {
		if s, ok := tc.v.(string); ok {
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		values := []any{in, json.Number(in), map[string]any{in: []any{in, json.Number(in)}}, []string{in}}
		var v any
		dec := json.NewDecoder(bytes.NewReader([]byte(in)))
		dec.UseNumber()
		if dec.Decode(&v) == nil {
			values = append(values, v)
		}
		for _, v := range values {
			want, wantErr := stdEncode(v)
			got, err := Append(nil, v)
			if errString(err) != errString(wantErr) {
				t.Fatalf("Append(%#v): error %v, encoding/json %v", v, err, wantErr)
			}
			if err == nil && string(got) != want {
				t.Fatalf("Append(%#v) = %s, encoding/json %s", v, got, want)
			}
		}
	})
}

// A stored user's attributes as the benchmarks seed them.
const storedAttrs = `{"emails":[{"primary":true,"type":"work","value":"user0000042@example.com"}],"name":{"familyName":"Number0000042","givenName":"User"},"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"Engineering","employeeNumber":"0000042"}}`

// cpuPerOp reports the process's CPU time per operation beside ns/op: on
// a shared machine, wall time measures the neighbours too.
func cpuPerOp(b *testing.B) func() {
	b.ReportAllocs()
	start := cpuTime()
	return func() { b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDecodeObject(b *testing.B) {
	defer cpuPerOp(b)()
	for b.Loop() {
		var m map[string]any
		if err := DecodeObject([]byte(storedAttrs), &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeStd is what the stores did before: encoding/json.
func BenchmarkDecodeStd(b *testing.B) {
	defer cpuPerOp(b)()
	for b.Loop() {
		if _, err := stdDecode[map[string]any]([]byte(storedAttrs)); err != nil {
			b.Fatal(err)
		}
	}
}

// userDocument is a user as GET /Users/{id} renders it.
func userDocument(b *testing.B) map[string]any {
	raw, err := os.ReadFile("../scim/testdata/idp-requests/okta/create_user.json")
	if err != nil {
		b.Fatal(err)
	}
	var fx struct{ Request json.RawMessage }
	if err := json.Unmarshal(raw, &fx); err != nil {
		b.Fatal(err)
	}
	m, err := stdDecode[map[string]any](fx.Request)
	if err != nil {
		b.Fatal(err)
	}
	m["id"] = "0190b2c4-6c1e-7aa0-9f7e-3b1a2f3c4d5e"
	m["meta"] = map[string]any{"resourceType": "User", "created": "2026-01-02T03:04:05.123456Z", "lastModified": "2026-01-02T03:04:05.123456Z",
		"location": "https://gatehouse.example.com/scim/v2/Users/0190b2c4-6c1e-7aa0-9f7e-3b1a2f3c4d5e", "version": `W/"3"`}
	return m
}

func BenchmarkAppend(b *testing.B) {
	doc := userDocument(b)
	defer cpuPerOp(b)()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = Append(buf[:0], doc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendStd is what the SCIM endpoint did before: encoding/json.
func BenchmarkAppendStd(b *testing.B) {
	doc := userDocument(b)
	defer cpuPerOp(b)()
	for b.Loop() {
		if _, err := stdEncode(doc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlain8 checks plain8 against the byte-by-byte rule on every byte
// value in every position.
func TestPlain8(t *testing.T) {
	base := []byte("abcdefgh")
	for pos := range 8 {
		for c := range 256 {
			b := append([]byte(nil), base...)
			b[pos] = byte(c)
			want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
			if got := plain8(string(b)); got != want {
				t.Errorf("plain8(%q) = %v, want %v", b, got, want)
			}
		}
	}
}

func FuzzPlain8(f *testing.F) {
	f.Add([]byte("abcdefgh"))
	f.Add([]byte("a\"\\\x00\x1f\x7f\x80\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 8 {
			return
		}
		want := true
		for _, c := range b[:8] {
			if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
				want = false
			}
		}
		if got := plain8(string(b[:8])); got != want {
			t.Fatalf("plain8(%q) = %v, want %v", b[:8], got, want)
		}
	})
}
