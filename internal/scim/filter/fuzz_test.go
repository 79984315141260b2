package filter_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// fuzzSeeds are every filter the table tests use, valid and invalid.
func fuzzSeeds() []string {
	var seeds []string
	for _, tt := range validFilters {
		seeds = append(seeds, tt.in)
	}
	for _, tt := range invalidFilters {
		seeds = append(seeds, tt.in)
	}
	for _, tt := range validValueFilters {
		seeds = append(seeds, tt.in)
	}
	for _, tt := range invalidValueFilters {
		seeds = append(seeds, tt.in)
	}
	for _, tt := range resolveOK {
		seeds = append(seeds, tt.in)
	}
	for _, tt := range resolveErrors {
		seeds = append(seeds, tt.in)
	}
	for _, tt := range evalCases {
		seeds = append(seeds, tt.filter)
	}
	return seeds
}

// FuzzParse checks that Parse never panics, that what it parses prints to a
// filter that parses to the same tree, and that resolving and evaluating any
// parsed tree never panics.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	reg := newRegistry(f, customExt)
	var users []map[string]any
	for _, js := range sampleUsers {
		users = append(users, decodeJSON(f, js))
	}

	f.Fuzz(func(t *testing.T, s string) {
		// The value-filter grammar is a subset; it must not panic either.
		if vf, err := filter.ParseValueFilter(s); err != nil {
			if !filter.IsError(err) {
				t.Fatalf("ParseValueFilter(%q) error %v is not a filter error", s, err)
			}
		} else if _, err := filter.ParseValueFilter(vf.String()); err != nil {
			t.Fatalf("ParseValueFilter(%q) printed %q, which does not parse: %v", s, vf.String(), err)
		}

		e, err := filter.Parse(s)
		if err != nil {
			if !filter.IsError(err) {
				t.Fatalf("Parse(%q) error %v is not a filter error", s, err)
			}
			return
		}
		printed := e.String()
		again, err := filter.Parse(printed)
		if err != nil {
			if len(printed) > filter.MaxLength && filter.IsError(err) {
				// The printed form is normalized (spaces around operators,
				// "and" for Entra's ".sub"), so a filter at the length limit
				// can print longer than the limit.
				return
			}
			t.Fatalf("Parse(%q) printed %q, which does not parse: %v", s, printed, err)
		}
		if p2 := again.String(); p2 != printed {
			t.Fatalf("Parse(%q) printed %q, which prints as %q", s, printed, p2)
		}
		if diff := cmp.Diff(e, again, ignoreRef); diff != "" {
			t.Fatalf("Parse(%q) and Parse(%q) differ (-first +second):\n%s", s, printed, diff)
		}

		for _, rt := range []string{"Group", "User"} {
			e, _ := filter.Parse(s)
			if err := filter.Resolve(e, resourceType(reg, rt)); err != nil {
				if !filter.IsError(err) {
					t.Fatalf("Resolve(%q) error %v is not a filter error", s, err)
				}
				continue
			}
			// A resolved tree prints a filter that resolves to the same
			// thing.
			resolved := e.String()
			again, err := filter.Parse(resolved)
			if err != nil {
				if len(resolved) > filter.MaxLength {
					continue // implicit ".value" made it longer
				}
				t.Fatalf("Resolve(%q) printed %q, which does not parse: %v", s, resolved, err)
			}
			if err := filter.Resolve(again, resourceType(reg, rt)); err != nil {
				t.Fatalf("Resolve(%q) printed %q, which does not resolve: %v", s, resolved, err)
			}
			if diff := cmp.Diff(refs(e), refs(again)); diff != "" {
				t.Fatalf("Resolve(%q) printed %q, which resolves differently (-first +second):\n%s", s, resolved, diff)
			}
			for _, u := range users {
				if m1, m2 := filter.Match(e, u), filter.Match(again, u); m1 != m2 {
					t.Fatalf("Match(%q) = %v but Match(%q) = %v", s, m1, resolved, m2)
				}
				if filter.Match(e, u) == filter.Match(&filter.Not{X: e}, u) {
					t.Fatalf("Match(%q) equals Match(not (%q))", s, s)
				}
			}
		}
	})
}
