package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/targets"
)

// Backoff is backoff, for the external tests (which cannot be in package
// events: they use the SQLite store, which imports it).
var Backoff = backoff

// SenderOf is the Sender the configuration makes of a target.
func SenderOf(t targets.Target) Sender { return targetSender{t} }

// BuildDocument builds the document of rec as the dispatcher does.
func BuildDocument(ctx context.Context, b *Builder, rec *directory.EventRecord) (json.RawMessage, error) {
	orgs, err := b.orgs(ctx)
	if err != nil {
		return nil, err
	}
	bt, err := b.withGroups(ctx, batch{orgs: orgs}, []*directory.EventRecord{rec})
	if err != nil {
		return nil, err
	}
	return b.Build(ctx, rec, bt)
}

// BuildDocuments builds the documents of recs as the dispatcher does (the
// groups of their users read ahead, in one query), and one by one, each
// reading its user (as Render does).
func BuildDocuments(ctx context.Context, b *Builder, recs []*directory.EventRecord) (batched, single []json.RawMessage, err error) {
	orgs, err := b.orgs(ctx)
	if err != nil {
		return nil, nil, err
	}
	bt, err := b.withGroups(ctx, batch{orgs: orgs}, recs)
	if err != nil {
		return nil, nil, err
	}
	if len(bt.read) == 0 {
		return nil, nil, fmt.Errorf("the batch's groups were not read ahead")
	}
	for _, rec := range recs {
		doc, err := b.Build(ctx, rec, bt)
		if err != nil {
			return nil, nil, err
		}
		batched = append(batched, doc)
		if doc, err = b.Build(ctx, rec, batch{orgs: orgs}); err != nil {
			return nil, nil, err
		}
		single = append(single, doc)
	}
	return batched, single, nil
}
