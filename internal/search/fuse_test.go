package search

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFuse(t *testing.T) {
	h := func(id string) Hit { return Hit{Chunk: Chunk{ID: id}, Score: 9} }
	type ranked struct {
		ID     string
		KW, VR int
	}
	tests := []struct {
		name    string
		kw, vec []Hit
		limit   int
		want    []ranked
	}{
		{"empty", nil, nil, 10, []ranked{}},
		{"keyword only", []Hit{h("a"), h("b")}, nil, 10, []ranked{{"a", 1, 0}, {"b", 2, 0}}},
		{"both lists beat one", []Hit{h("a"), h("b")}, []Hit{h("b"), h("c")}, 10,
			[]ranked{{"b", 2, 1}, {"a", 1, 0}, {"c", 0, 2}}},
		{"ties by id", []Hit{h("z")}, []Hit{h("y")}, 10, []ranked{{"y", 0, 1}, {"z", 1, 0}}},
		{"limit", []Hit{h("a"), h("b"), h("c")}, nil, 2, []ranked{{"a", 1, 0}, {"b", 2, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []ranked{}
			for _, x := range Fuse(tt.kw, tt.vec, tt.limit) {
				got = append(got, ranked{x.Chunk.ID, x.KeywordRank, x.VectorRank})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Fuse (-want +got):\n%s", diff)
			}
		})
	}
	got := Fuse([]Hit{h("a")}, []Hit{h("a")}, 1)[0].Score
	if want := 2.0 / 61; got != want {
		t.Errorf("score = %v, want %v", got, want)
	}
}
