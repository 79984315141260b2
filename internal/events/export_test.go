package events

import "github.com/gatehouse-id/gatehouse/internal/targets"

// Backoff is backoff, for the external tests (which cannot be in package
// events: they use the SQLite store, which imports it).
var Backoff = backoff

// SenderOf is the Sender the configuration makes of a target.
func SenderOf(t targets.Target) Sender { return targetSender{t} }
