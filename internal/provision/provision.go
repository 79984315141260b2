// Package provision keeps Gatehouse and other identity systems level: it
// pushes accounts and groups to downstream SCIM services (Alibaba Cloud RAM,
// IDaaS, GitBook, any SCIM 2.0 server) and its sub-packages bring accounts
// in from directories (LDAP, Active Directory).
//
// Both directions remember which Gatehouse resource is which object on the
// other side (a Link), and a per-connection state (a watermark), so that
// later runs are incremental.
package provision

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/scimclient"
)

// Link ties a Gatehouse resource to its counterpart in another system: the
// directory entry it was synchronised from, or the account it was pushed
// to.
type Link struct {
	Kind     string // "User", "Group" or "Organization"
	LocalID  string // the Gatehouse id
	RemoteID string // the other system's id (entryUUID, objectGUID, RAM user id …)
	// Hash fingerprints what was last synchronised, so that an unchanged
	// object is skipped.
	Hash    string
	Updated time.Time
}

// LinkStore keeps the links and the state of each connection ("scope":
// "ldap:corp", "push:ram" …).
type LinkStore interface {
	// Links returns every link of scope.
	Links(ctx context.Context, scope string) ([]Link, error)
	// PutLinks creates or replaces links by (Kind, LocalID); a link that
	// held the same (Kind, RemoteID) for another local id is replaced.
	PutLinks(ctx context.Context, scope string, links []Link) error
	// DeleteLinks removes the links of these local ids.
	DeleteLinks(ctx context.Context, scope, kind string, localIDs []string) error
	// SyncState returns the state saved for scope ("" when there is none).
	SyncState(ctx context.Context, scope string) (string, error)
	// SetSyncState saves the state of scope.
	SetSyncState(ctx context.Context, scope, state string) error
}

// LinkIndex finds one link at a time, by either side: the event
// pipeline's SCIM target looks up the account of each delivery in the
// push's links (TargetLinks).
type LinkIndex interface {
	// LinkOf returns the link of localID (ok false when it has none).
	LinkOf(ctx context.Context, scope, kind, localID string) (l Link, ok bool, err error)
	// LinkTo returns the link that holds remoteID (ok false when none
	// does).
	LinkTo(ctx context.Context, scope, kind, remoteID string) (l Link, ok bool, err error)
	PutLinks(ctx context.Context, scope string, links []Link) error
	DeleteLinks(ctx context.Context, scope, kind string, localIDs []string) error
}

// TargetLinks are the push links of target ("push:" + target) as its SCIM
// target reads and keeps them when it delivers events: the push and the
// event pipeline then agree on which downstream account is whose. A link
// the pipeline records remembers the rule whose event made it
// (EventLinkHash), not what was sent: the next push reads and compares
// that account.
func TargetLinks(links LinkIndex, target string) scimclient.Links {
	return targetLinks{links: links, scope: "push:" + target}
}

type targetLinks struct {
	links LinkIndex
	scope string
}

func (t targetLinks) RemoteOf(ctx context.Context, localID string) (string, error) {
	l, _, err := t.links.LinkOf(ctx, t.scope, "User", localID)
	return l.RemoteID, err
}

func (t targetLinks) OwnerOf(ctx context.Context, remoteID string) (string, error) {
	l, _, err := t.links.LinkTo(ctx, t.scope, "User", remoteID)
	return l.LocalID, err
}

func (t targetLinks) Link(ctx context.Context, localID, remoteID, rule string) error {
	return t.links.PutLinks(ctx, t.scope, []Link{{Kind: "User", LocalID: localID, RemoteID: remoteID, Hash: EventLinkHash(rule),
		Updated: time.Now().UTC()}})
}

func (t targetLinks) Unlink(ctx context.Context, localID string) error {
	return t.links.DeleteLinks(ctx, t.scope, "User", []string{localID})
}

// EventLinkHash is the hash of a link the event pipeline recorded for a
// delivery of rule: it matches no payload the push sent.
func EventLinkHash(rule string) string { return eventLinkPrefix + rule }

const eventLinkPrefix = "event:"
