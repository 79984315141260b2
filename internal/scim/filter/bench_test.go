package filter

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

func BenchmarkParseResolve(b *testing.B) {
	reg, _ := schema.NewRegistry(nil)
	const f = `emails[type eq "work" and value co "@example.com"] and (name.familyName sw "J" or not (active eq false)) and meta.lastModified gt "2025-01-01T00:00:00Z"`
	for b.Loop() {
		e, err := Parse(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := Resolve(e, reg.User); err != nil {
			b.Fatal(err)
		}
	}
}
