package login

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// Every login, failure, lock, unlock, logout and password change is an
// audit record and an event, written in the transaction of the change
// (the outbox). Audit records hold the client address (a security record);
// events do not: rules forward them to other systems.

// Audit actions.
const (
	ActionLogin          = "login.success"
	ActionLoginFailed    = "login.failure"
	ActionLocked         = "login.lock"
	ActionUnlocked       = "login.unlock"
	ActionLogout         = "login.logout"
	ActionRevoked        = "login.revoke"
	ActionGrantsRevoked  = "login.grants.revoke"
	ActionPasswordChange = "user.password.change"
	ActionPasswordReset  = "user.password.reset"
	// Second factors (factors.go).
	ActionFactorAdd        = "user.factor.add"
	ActionFactorRemove     = "user.factor.remove"
	ActionFactorReset      = "user.factor.reset"
	ActionRecoveryGenerate = "user.recovery.generate"
	ActionRecoveryUse      = "user.recovery.use"
)

// Detail is the login part of an audit record (with Client) and of an
// event's detail (detail.login, without it).
type Detail struct {
	// Method is how the first factor was checked: "password" (the hash
	// Gatehouse keeps) or the directory's domain ("ldap:corp").
	Method  string   `json:"method,omitempty"`
	AMR     []string `json:"amr,omitempty"`
	Factors int      `json:"factors,omitempty"`
	ACR     string   `json:"acr,omitempty"`
	// AppID is the application the login was for ("" for Gatehouse's own
	// pages).
	AppID     string `json:"appId,omitempty"`
	SessionID string `json:"sessionId,omitempty"`
	// Reason is why a login failed or a session ended ("invalid-password",
	// "inactive", "locked", "logout", "revoked", "password-changed"…).
	Reason string `json:"reason,omitempty"`
	// Scope and Until describe a lock: "network", "device" or "account"
	// (the slow-down), until when.
	Scope string     `json:"scope,omitempty"`
	Until *time.Time `json:"until,omitempty"`
	// Sessions counts the sessions a change ended; Grants the single
	// sign-on grants (OpenID Connect refresh tokens) it revoked.
	Sessions int `json:"sessionsEnded,omitempty"`
	Grants   int `json:"grantsRevoked,omitempty"`
	// By says who changed a password: "self" or "administrator"; Forced
	// that it was the change a reset forced.
	By     string `json:"by,omitempty"`
	Forced bool   `json:"forced,omitempty"`
	// Factor is the second factor added, removed or used (never its
	// secret); DuringLogin: added by the login that asked for it (the
	// person had none).
	Factor      *FactorRef `json:"factor,omitempty"`
	DuringLogin bool       `json:"duringLogin,omitempty"`
	// CodesLeft counts the recovery codes left (after one was used, or
	// new ones were made).
	CodesLeft *int `json:"recoveryCodesLeft,omitempty"`
	// Removed counts the factors an administrator's reset removed.
	Removed int `json:"factorsRemoved,omitempty"`
	// Client is the client address (audit records only).
	Client string `json:"client,omitempty"`
}

// FactorRef names a second factor in records: its id, kind ("totp",
// "webauthn", "recovery" for the recovery codes) and the person's label.
type FactorRef struct {
	ID   string `json:"id,omitempty"`
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
}

func personActor(requestID string) directory.Actor {
	return directory.Actor{Kind: "user", RequestID: requestID}
}

// record appends the audit record of action about u and, when typ is not
// "", its event.
func (s *Service) record(ctx context.Context, tx Tx, actor directory.Actor, action, typ string, u *directory.User, d Detail, before, after *directory.User) error {
	now := s.stamp()
	auditDetail := d
	body, _ := json.Marshal(map[string]any{"login": auditDetail})
	e := &directory.AuditEntry{Time: now, Actor: actor, Action: action, ResourceType: "User", ResourceID: u.ID, After: body}
	if before != nil || after != nil {
		// A change of the user (her password): the snapshots, as every
		// user change records them, and the detail beside them.
		e.Before, e.After = directory.Snapshot(before), directory.Snapshot(after)
		var m map[string]any
		_ = json.Unmarshal(e.After, &m)
		m["login"] = auditDetail
		e.After, _ = json.Marshal(m)
	}
	if err := tx.AppendAudit(ctx, e); err != nil {
		return err
	}
	if typ == "" {
		return nil
	}
	d.Client = ""
	login, _ := json.Marshal(d)
	cur := u
	if after != nil {
		cur = after
	}
	data := directory.EventData{After: directory.Snapshot(cur), Login: login}
	if before != nil {
		data.Before = directory.Snapshot(before)
	}
	raw, _ := json.Marshal(data)
	ev := &directory.EventRecord{ID: s.newEventID(), Type: typ, Subject: "users/" + u.ID, Time: now, Actor: actor,
		ResourceType: "User", ResourceID: u.ID, Data: raw}
	return tx.AppendEvents(ctx, []*directory.EventRecord{ev})
}

func (s *Service) newEventID() string {
	if s.opt.NewID != nil {
		return s.opt.NewID()
	}
	t, _ := NewToken()
	return t
}

// RecordIssued appends an SSO protocol's audit record: what it gave an
// application for a session.
func (s *Service) RecordIssued(ctx context.Context, r *http.Request, is Issued) error {
	if is.Action == "" || is.UserID == "" {
		return wrapf("record issued", directory.Errorf(directory.ErrInvalid, "action", "an issued record needs an action and a user"))
	}
	detail := map[string]any{"appId": is.AppID}
	if is.SessionID != "" {
		detail["sessionId"] = is.SessionID
	}
	if is.Detail != nil {
		detail["detail"] = is.Detail
	}
	body, err := json.Marshal(map[string]any{"issued": detail})
	if err != nil {
		return wrapf("record issued", err)
	}
	actor := personActor(RequestID(r))
	actor.AppID = is.AppID
	if a, err := s.apps.App(ctx, is.AppID); err == nil {
		actor.AppName = a.Name
	}
	return s.write(ctx, func(tx Tx) error {
		return tx.AppendAudit(ctx, &directory.AuditEntry{Time: s.stamp(), Actor: actor, Action: is.Action, ResourceType: "User",
			ResourceID: is.UserID, After: body})
	})
}

// RequestID is the request id of r's context ("" when r is nil), for
// audit records.
func RequestID(r *http.Request) string {
	if r == nil {
		return ""
	}
	return logging.RequestID(r.Context())
}
