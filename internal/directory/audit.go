package directory

import (
	"encoding/json"
	"time"
)

// Audit snapshots are the resource's state with secrets removed: a password
// appears only as whether one is set. A user's or group's externalId is the
// one in the provisioning domain of the change (its actor's; none for the
// command line).

// UserSnapshot is how the audit log (and the event outbox) records a user.
type UserSnapshot struct {
	ID          string    `json:"id"`
	UserName    string    `json:"userName"`
	ExternalID  string    `json:"externalId,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	Active      bool      `json:"active"`
	OrgID       string    `json:"organizationId"`
	PasswordSet bool      `json:"passwordSet"`
	Attrs       Attrs     `json:"attributes,omitempty"`
	Version     int64     `json:"version"`
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"lastModified"`
	// DroppedValues and RetypedValues, in the after snapshot of a change,
	// name the emails and phone numbers the application's extra-values
	// option dropped, and the one it kept as "work" though sent with
	// another type (by position and type, without the values).
	DroppedValues []ValueNote `json:"droppedValues,omitempty"`
	RetypedValues []ValueNote `json:"retypedValues,omitempty"`
}

// GroupSnapshot is how the audit log (and the event outbox) records a group.
type GroupSnapshot struct {
	ID             string    `json:"id"`
	DisplayName    string    `json:"displayName"`
	ExternalID     string    `json:"externalId,omitempty"`
	OrgID          string    `json:"organizationId"`
	Attrs          Attrs     `json:"attributes,omitempty"`
	Version        int64     `json:"version"`
	Created        time.Time `json:"created"`
	Modified       time.Time `json:"lastModified"`
	MembersAdded   []string  `json:"membersAdded,omitempty"`
	MembersRemoved []string  `json:"membersRemoved,omitempty"`
}

func marshalSnapshot(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		// Attrs come from decoded JSON and always marshal; keep the entry
		// rather than lose the audit record.
		b, _ = json.Marshal(map[string]string{"error": "snapshot failed: " + err.Error()})
	}
	return b
}

func userSnap(u *User) json.RawMessage {
	if u == nil {
		return nil
	}
	return marshalSnapshot(UserSnapshot{
		ID: u.ID, UserName: u.UserName, ExternalID: u.ExternalID, DisplayName: u.DisplayName,
		Active: u.Active, OrgID: u.OrgID, PasswordSet: u.PasswordHash != "", Attrs: u.Attrs, Version: u.Version,
		Created: u.Created, Modified: u.Modified, DroppedValues: u.Dropped, RetypedValues: u.Retyped,
	})
}

// Snapshot is how the audit log and the outbox record u (nil: none):
// for writers outside the Service (the login service).
func Snapshot(u *User) json.RawMessage { return userSnap(u) }

func (s *Service) audit(actor Actor, action string, before, after *User, at time.Time) *AuditEntry {
	e := &AuditEntry{Time: at, Actor: actor, Action: action, ResourceType: "User", Before: userSnap(before), After: userSnap(after)}
	if after != nil {
		e.ResourceID = after.ID
	} else if before != nil {
		e.ResourceID = before.ID
	}
	return e
}

func groupSnap(g *Group, added, removed []string) json.RawMessage {
	if g == nil {
		return nil
	}
	return marshalSnapshot(GroupSnapshot{
		ID: g.ID, DisplayName: g.DisplayName, ExternalID: g.ExternalID, OrgID: g.OrgID, Attrs: g.Attrs,
		Version: g.Version, Created: g.Created, Modified: g.Modified, MembersAdded: added, MembersRemoved: removed,
	})
}

// auditGroup records a group change; membership changes are recorded as the
// members added and removed (on the after snapshot, or the before snapshot
// when the group was deleted).
func (s *Service) auditGroup(actor Actor, action string, before, after *Group, added, removed []string, at time.Time) *AuditEntry {
	e := &AuditEntry{Time: at, Actor: actor, Action: action, ResourceType: "Group"}
	if after != nil {
		e.ResourceID = after.ID
		e.Before = groupSnap(before, nil, nil)
		e.After = groupSnap(after, added, removed)
	} else {
		e.ResourceID = before.ID
		e.Before = groupSnap(before, nil, removed)
	}
	return e
}

func (s *Service) auditOrg(actor Actor, action string, before, after *Organization, at time.Time) *AuditEntry {
	e := &AuditEntry{Time: at, Actor: actor, Action: action, ResourceType: "Organization"}
	if before != nil {
		e.ResourceID = before.ID
		e.Before = marshalSnapshot(before)
	}
	if after != nil {
		e.ResourceID = after.ID
		e.After = marshalSnapshot(after)
	}
	return e
}
