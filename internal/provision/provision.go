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
