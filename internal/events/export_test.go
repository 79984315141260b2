package events

import (
	"context"
	"encoding/json"

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
	return b.Build(ctx, rec, orgs)
}
