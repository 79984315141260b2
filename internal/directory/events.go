package directory

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"time"
)

// Every change also writes its lifecycle events, in the transaction of the
// change (a transactional outbox): no change without its events, no event
// without its change. The records hold what the change was — the resource
// before and after, as the audit log's snapshots, and the member added or
// removed — and the event pipeline (internal/events) turns them into the
// documents rules see.

// Event types.
const (
	UserCreated         = "User.Created"
	UserUpdated         = "User.Updated"
	UserDisabled        = "User.Disabled"
	UserEnabled         = "User.Enabled"
	UserDeleted         = "User.Deleted"
	GroupCreated        = "Group.Created"
	GroupUpdated        = "Group.Updated"
	GroupDeleted        = "Group.Deleted"
	GroupMemberAdded    = "Group.MemberAdded"
	GroupMemberRemoved  = "Group.MemberRemoved"
	OrganizationCreated = "Organization.Created"
	OrganizationUpdated = "Organization.Updated"
	OrganizationDeleted = "Organization.Deleted"

	// Sign-in events (internal/login): written by the login service, with
	// the user's snapshot and EventData.Login.
	UserLoggedIn        = "User.LoggedIn"
	UserLoginFailed     = "User.LoginFailed"
	UserLocked          = "User.Locked"
	UserUnlocked        = "User.Unlocked"
	UserLoggedOut       = "User.LoggedOut"
	UserPasswordChanged = "User.PasswordChanged"
	// Second factors: added (an authenticator app, a security key, new
	// recovery codes), removed (by the person or an administrator's
	// reset), a recovery code used.
	UserFactorAdded      = "User.FactorAdded"
	UserFactorRemoved    = "User.FactorRemoved"
	UserRecoveryCodeUsed = "User.RecoveryCodeUsed"
	// UserSSORefused: a single sign-on to an application was refused for
	// a reason the person's account gives (internal/sso/saml: another
	// account would be given the same NameID).
	UserSSORefused = "User.SSORefused"
)

// EventTypes lists every event type Gatehouse emits: the lifecycle events
// of directory changes, then the sign-in events.
func EventTypes() []string {
	return []string{UserCreated, UserUpdated, UserDisabled, UserEnabled, UserDeleted, GroupCreated, GroupUpdated,
		GroupDeleted, GroupMemberAdded, GroupMemberRemoved, OrganizationCreated, OrganizationUpdated, OrganizationDeleted,
		UserLoggedIn, UserLoginFailed, UserLocked, UserUnlocked, UserLoggedOut, UserPasswordChanged,
		UserFactorAdded, UserFactorRemoved, UserRecoveryCodeUsed, UserSSORefused}
}

// EventRecord is one event as the change writes it.
type EventRecord struct {
	Seq     int64 // assigned by the store, in commit order
	ID      string
	Type    string
	Subject string // "users/<id>", "groups/<id>", "organizations/<id>"
	Time    time.Time
	// Actor made the change; for a received event, the application that
	// posted it.
	Actor Actor
	// Source is a received event's CloudEvents source (POST /events);
	// empty for Gatehouse's own events.
	Source       string
	ResourceType string
	ResourceID   string
	Data         json.RawMessage // EventData
}

// EventData is what an EventRecord's Data holds.
type EventData struct {
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
	Changed []string        `json:"changed,omitempty"` // attributes that changed (updates)
	Member  string          `json:"member,omitempty"`  // the user added or removed
	// FirstActivation: the account is active for the first time (a user
	// created active, or enabled for the first time).
	FirstActivation bool `json:"firstActivation,omitempty"`
	// Login is a sign-in event's own detail (detail.login): the method,
	// the factors, the reason of a failure, the lock. Never a password,
	// a token or a client address.
	Login json.RawMessage `json:"login,omitempty"`
}

// eventRecord is an event of the change audited by e, with its before and
// after.
func (s *Service) eventRecord(typ, kind, id string, e *AuditEntry, d EventData) *EventRecord {
	d.Before, d.After = e.Before, e.After
	return s.eventRecordOf(typ, kind, id, e, d)
}

// eventRecordOf is an event of the change audited by e, with the snapshots
// in d.
func (s *Service) eventRecordOf(typ, kind, id string, e *AuditEntry, d EventData) *EventRecord {
	data, _ := json.Marshal(d) // raw JSON and strings: cannot fail
	sub := map[string]string{"User": "users/", "Group": "groups/", "Organization": "organizations/"}[kind] + id
	return &EventRecord{ID: s.newID(), Type: typ, Subject: sub, Time: e.Time, Actor: e.Actor, ResourceType: kind, ResourceID: id, Data: data}
}

// userEvents are the events of a user change: one per change, Disabled or
// Enabled when active flips, else Created, Updated or Deleted. first: the
// change activates the account for the first time.
func (s *Service) userEvents(e *AuditEntry, before, after *User, first bool) []*EventRecord {
	switch {
	case before == nil:
		return []*EventRecord{s.eventRecord(UserCreated, "User", after.ID, e, EventData{FirstActivation: first})}
	case after == nil:
		return []*EventRecord{s.eventRecord(UserDeleted, "User", before.ID, e, EventData{})}
	}
	typ := UserUpdated
	if before.Active && !after.Active {
		typ = UserDisabled
	} else if !before.Active && after.Active {
		typ = UserEnabled
	}
	return []*EventRecord{s.eventRecord(typ, "User", after.ID, e, EventData{Changed: changedUser(before, after), FirstActivation: first})}
}

// changedUser names the attributes that differ: top-level SCIM names, and
// "<extension URN>:<attribute>" inside extensions.
func changedUser(a, b *User) []string {
	var out []string
	add := func(cond bool, name string) {
		if cond {
			out = append(out, name)
		}
	}
	add(a.UserName != b.UserName, "userName")
	add(a.ExternalID != b.ExternalID, "externalId")
	add(a.DisplayName != b.DisplayName, "displayName")
	add(a.Active != b.Active, "active")
	add(a.OrgID != b.OrgID, "organizationId")
	add(a.PasswordHash != b.PasswordHash, "password")
	keys := map[string]bool{}
	for k := range a.Attrs {
		keys[k] = true
	}
	for k := range b.Attrs {
		keys[k] = true
	}
	for k := range keys {
		av, bv := a.Attrs[k], b.Attrs[k]
		am, aok := av.(map[string]any)
		bm, bok := bv.(map[string]any)
		if len(k) > 4 && k[:4] == "urn:" && (aok || av == nil) && (bok || bv == nil) {
			sub := map[string]bool{}
			for sk := range am {
				sub[sk] = true
			}
			for sk := range bm {
				sub[sk] = true
			}
			for sk := range sub {
				add(!equalJSON(am[sk], bm[sk]), k+":"+sk)
			}
			continue
		}
		add(!equalJSON(av, bv), k)
	}
	sort.Strings(out)
	return out
}

func equalJSON(a, b any) bool {
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(ja) == string(jb)
}

// groupEvents are the events of a group change: Created, Updated (when its
// attributes changed) or Deleted, and one MemberAdded or MemberRemoved per
// member whose membership changed (a deleted group's members are removed).
func (s *Service) groupEvents(e *AuditEntry, before, after *Group, added, removed []string) []*EventRecord {
	var out []*EventRecord
	var id string
	switch {
	case before == nil:
		id = after.ID
		out = append(out, s.eventRecord(GroupCreated, "Group", id, e, EventData{}))
	case after == nil:
		id = before.ID
		out = append(out, s.eventRecord(GroupDeleted, "Group", id, e, EventData{}))
	default:
		id = after.ID
		var changed []string
		if before.DisplayName != after.DisplayName {
			changed = append(changed, "displayName")
		}
		if before.ExternalID != after.ExternalID {
			changed = append(changed, "externalId")
		}
		if before.OrgID != after.OrgID {
			changed = append(changed, "organizationId")
		}
		if !equalAttrs(before.Attrs, after.Attrs) {
			changed = append(changed, "attributes")
		}
		if len(changed) > 0 {
			out = append(out, s.eventRecord(GroupUpdated, "Group", id, e, EventData{Changed: changed}))
		}
	}
	if len(added)+len(removed) == 0 {
		return out
	}
	// A membership event carries the group without the change's member
	// lists: each names its member, and n events each holding the n
	// members would grow as n².
	slim := EventData{Before: groupSnap(before, nil, nil), After: groupSnap(after, nil, nil)}
	for _, m := range slices.Compact(slices.Sorted(slices.Values(added))) {
		d := slim
		d.Member = m
		out = append(out, s.eventRecordOf(GroupMemberAdded, "Group", id, e, d))
	}
	for _, m := range slices.Compact(slices.Sorted(slices.Values(removed))) {
		d := slim
		d.Member = m
		out = append(out, s.eventRecordOf(GroupMemberRemoved, "Group", id, e, d))
	}
	return out
}

func (s *Service) orgEvents(e *AuditEntry, before, after *Organization) []*EventRecord {
	switch {
	case before == nil:
		return []*EventRecord{s.eventRecord(OrganizationCreated, "Organization", after.ID, e, EventData{})}
	case after == nil:
		return []*EventRecord{s.eventRecord(OrganizationDeleted, "Organization", before.ID, e, EventData{})}
	}
	return []*EventRecord{s.eventRecord(OrganizationUpdated, "Organization", after.ID, e, EventData{})}
}

// record appends a change's audit entry, then its events. The order
// matters on PostgreSQL: the audit append takes the chain's head lock,
// which orders commits, and events appended after it get their sequence
// numbers in commit order (the dispatcher relies on that).
func (s *Service) record(ctx context.Context, tx Tx, e *AuditEntry, evs []*EventRecord) error {
	if err := tx.AppendAudit(ctx, e); err != nil {
		return err
	}
	return tx.AppendEvents(ctx, evs)
}

func (s *Service) recordUser(ctx context.Context, tx Tx, e *AuditEntry, before, after *User) error {
	// A disabled account is signed out everywhere; so is one whose
	// password was set (SCIM PUT or PATCH of password: an HR system's
	// reset, like an administrator's), so that whoever knew the old one
	// and signed in with it is out too.
	if before != nil && after != nil && (before.Active && !after.Active || before.PasswordHash != after.PasswordHash) {
		if err := tx.EndSessions(ctx, after.ID, e.Time); err != nil {
			return err
		}
	}
	first := false
	switch {
	case after != nil && after.Active && before == nil:
		// Created active: the account's first activation, which marks the
		// event, so that a rule can welcome a person once
		// (detail.firstActivation).
		if err := tx.AddActivation(ctx, after.ID, e.Time); err != nil {
			return err
		}
		first = true
	case after != nil && after.Active && !before.Active:
		// Enabled: the first activation only if it never was active.
		var err error
		if first, err = tx.MarkActivated(ctx, after.ID, e.Time); err != nil {
			return err
		}
	}
	return s.record(ctx, tx, e, s.userEvents(e, before, after, first))
}

func (s *Service) recordGroup(ctx context.Context, tx Tx, e *AuditEntry, before, after *Group, added, removed []string) error {
	return s.record(ctx, tx, e, s.groupEvents(e, before, after, added, removed))
}

func (s *Service) recordOrg(ctx context.Context, tx Tx, e *AuditEntry, before, after *Organization) error {
	return s.record(ctx, tx, e, s.orgEvents(e, before, after))
}
