package sqlite

import (
	"testing"
	"time"
)

var timeCases = []string{
	"2026-01-02T03:04:05.123456Z",
	"0000-01-01T00:00:00.000000Z",
	"9999-12-31T23:59:59.999999Z",
	"2024-02-29T12:00:00.000001Z",
	"2023-02-29T12:00:00.000000Z", // no such day
	"2026-04-31T00:00:00.000000Z",
	"2026-13-01T00:00:00.000000Z",
	"2026-01-01T24:00:00.000000Z",
	"2026-01-01T00:60:00.000000Z",
	"2026-01-01T00:00:60.000000Z",
	"2026-01-01T00:00:00.00000aZ",
	"2026-01-01T00:00:00.000000+00:00",
	"2026-01-01T00:00:00Z",
	"2026-01-01T00:00:00.123Z",
	"2026-01-01T01:00:00.000000+01:00",
	"2026-01-01 00:00:00.000000Z",
	"-026-01-01T00:00:00.000000Z",
	"+026-01-01T00:00:00.000000Z",
	"",
}

// checkParseTime: parseTime reads what time.Parse reads, as UTC, and
// refuses what it refuses.
func checkParseTime(t *testing.T, s string) {
	t.Helper()
	want, wantErr := time.Parse(time.RFC3339Nano, s)
	got, err := parseTime(s)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("parseTime(%q): error %v, time.Parse %v", s, err, wantErr)
	}
	if err == nil && got != want.UTC() {
		t.Fatalf("parseTime(%q) = %#v, want %#v", s, got, want.UTC())
	}
}

func TestParseTime(t *testing.T) {
	for _, s := range timeCases {
		checkParseTime(t, s)
	}
	now := time.Now()
	if got, err := parseTime(fmtTime(now)); err != nil || !got.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("parseTime(fmtTime(now)) = %v, %v; want %v", got, err, now.Truncate(time.Microsecond))
	}
}

func FuzzParseTime(f *testing.F) {
	for _, s := range timeCases {
		f.Add(s)
	}
	f.Fuzz(checkParseTime)
}
