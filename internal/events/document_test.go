package events

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/rules"
	"github.com/gatehouse-id/gatehouse/internal/search"
)

// TestDocumentEvents: documentation search's events get a document rules
// can match (detail-type Document.Indexed, the document's fields in
// detail), and a pattern on them is not warned about.
func TestDocumentEvents(t *testing.T) {
	data, _ := json.Marshal(search.DocumentEvent{Collection: "gitbook:handbook", Source: "engineering/vpn.md", Title: "VPN", Groups: []string{"g1"}, Chunks: 3})
	rec := &directory.EventRecord{ID: "e1", Type: search.DocumentIndexed, Subject: "documents/gitbook:handbook/engineering/vpn.md",
		Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: directory.Actor{Kind: "system"}, ResourceType: "Document",
		ResourceID: "gitbook:handbook/engineering/vpn.md", Data: data}
	b := &Builder{Source: "com.alibabacloud.idaas"}
	raw, err := b.Build(context.Background(), rec, batch{})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"collection": "gitbook:handbook", "source": "engineering/vpn.md", "title": "VPN", "groups": []any{"g1"}, "chunks": 3.0}
	if diff := cmp.Diff(want, doc["detail"]); diff != "" || doc["detail-type"] != search.DocumentIndexed {
		t.Errorf("detail (-want +got):\n%s (detail-type %v)", diff, doc["detail-type"])
	}
	p, err := rules.ParsePattern([]byte(`{"source": ["com.alibabacloud.idaas"], "detail-type": ["Document.Indexed"], "detail": {"collection": [{"prefix": "gitbook:"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if w := patternWarnings(p, "com.alibabacloud.idaas"); len(w) != 0 {
		t.Errorf("warnings on a Document.Indexed rule: %v", w)
	}
}
