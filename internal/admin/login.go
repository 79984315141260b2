package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// Sign-in administration (docs/sso.md): a person's login state and
// sessions, a password reset to a temporary password, unlocking, ending
// every session; and the groups of single sign-on applications.

// groupIDs resolves groups given by id or display name to ids.
func (o *Ops) groupIDs(ctx context.Context, refs []string) ([]string, error) {
	return o.groupIDsFor(ctx, "allowedGroups", refs)
}

// groupIDsFor resolves group references (ids or display names) to ids;
// field names the input in errors.
func (o *Ops) groupIDsFor(ctx context.Context, field string, refs []string) ([]string, error) {
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		if g, err := o.Dir.Group(ctx, adminProfile(), ref, directory.ReadOptions{}); err == nil {
			out = append(out, g.ID)
			continue
		} else if !errors.Is(err, directory.ErrNotFound) {
			return nil, err
		}
		lit, _ := json.Marshal(ref)
		e, err := filter.Parse("displayName eq " + string(lit))
		if err == nil && o.Schemas != nil {
			err = filter.Resolve(e, o.Schemas.Group)
		}
		if err != nil {
			return nil, invalid(field, "%q is not a group id or name", ref)
		}
		page, err := o.Dir.Groups(ctx, adminProfile(), directory.Query{Filter: e, Limit: 2})
		if err != nil {
			return nil, err
		}
		if len(page.Items) != 1 {
			return nil, invalid(field, "no group has the id or the name %q", ref)
		}
		out = append(out, page.Items[0].ID)
	}
	return out, nil
}

// LoginState is a person's sign-in state, as administrators see it.
type LoginState struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	// Sessions are the person's valid sessions, newest first.
	Sessions []SessionView `json:"sessions"`
	// Failures counts the failed logins from clients that are not her
	// trusted devices since her last success; SlowedUntil is when such
	// clients may try again (absent when they may now).
	Failures    int        `json:"failures"`
	SlowedUntil *time.Time `json:"slowedUntil,omitempty"`
	// MustChange: the next login must set a new password (a reset);
	// TemporaryExpires is when the temporary password stops working.
	MustChange       bool       `json:"mustChangePassword"`
	TemporaryExpires *time.Time `json:"temporaryPasswordExpires,omitempty"`
	// Directory names the directory that checks her password (delegated
	// authentication), absent when it is Gatehouse's.
	Directory string `json:"directory,omitempty"`
	// Factors are her second factors (never their secrets);
	// RecoveryCodesLeft her unused recovery codes.
	Factors           []login.FactorInfo `json:"factors"`
	RecoveryCodesLeft int                `json:"recoveryCodesLeft"`
	// FactorFailures counts the wrong second factors from browsers she has
	// not signed in with before; FactorLocked: they may no longer try
	// (until an unlock).
	FactorFailures int  `json:"factorFailures"`
	FactorLocked   bool `json:"factorLocked"`
}

// SessionView is a session without its token.
type SessionView struct {
	ID       string    `json:"id"`
	AuthTime time.Time `json:"authTime"`
	AMR      []string  `json:"amr"`
	ACR      string    `json:"acr"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"lastSeen"`
	Expires  time.Time `json:"expires"`
}

// PasswordReset is the answer of a reset: the temporary password, shown
// this once.
type PasswordReset struct {
	UserID            string    `json:"userId"`
	UserName          string    `json:"userName"`
	TemporaryPassword string    `json:"temporaryPassword"`
	Expires           time.Time `json:"expires"`
	// SessionsEnded: every session of the person ended.
	SessionsEnded bool `json:"sessionsEnded"`
}

// SessionsEnded is the answer of ending a person's sessions.
type SessionsEnded struct {
	UserID string `json:"userId"`
	Ended  int    `json:"ended"`
	// GrantsRevoked counts her single sign-on grants (OpenID Connect
	// refresh tokens) revoked with them.
	GrantsRevoked int `json:"grantsRevoked"`
}

// GrantsRevoked is the answer of revoking a person's single sign-on
// grants.
type GrantsRevoked struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	Revoked  int    `json:"revoked"`
}

func (o *Ops) loginService() (*login.Service, error) {
	if o.Login == nil {
		return nil, invalid("user", "sign-in is not available here")
	}
	return o.Login, nil
}

// loginUser returns the sign-in service and the user ref names (her id
// or userName).
func (o *Ops) loginUser(ctx context.Context, ref string) (*login.Service, *directory.User, error) {
	svc, err := o.loginService()
	if err != nil {
		return nil, nil, err
	}
	u, err := o.findUser(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	return svc, u, nil
}

// findUser finds a user by id or userName.
func (o *Ops) findUser(ctx context.Context, ref string) (*directory.User, error) {
	u, err := o.Dir.User(ctx, adminProfile(), ref, directory.ReadOptions{})
	if err == nil || !errors.Is(err, directory.ErrNotFound) {
		return u, err
	}
	svc, err := o.loginService()
	if err != nil {
		return nil, err
	}
	return svc.FindUser(ctx, ref)
}

// LoginState returns a person's sign-in state.
func (o *Ops) LoginState(ctx context.Context, ref string) (*LoginState, error) {
	svc, u, err := o.loginUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	st, err := svc.State(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	sessions, err := svc.Sessions(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	dir, err := svc.Delegated(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	factors, err := svc.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	out := &LoginState{UserID: u.ID, UserName: u.UserName, Sessions: make([]SessionView, 0, len(sessions)), Failures: st.Failures,
		SlowedUntil: optTime(st.Slowed), MustChange: st.MustChange, TemporaryExpires: optTime(st.TempExpires), Directory: dir,
		Factors: factors.Factors, RecoveryCodesLeft: factors.RecoveryCodes, FactorFailures: st.FactorFailures, FactorLocked: st.FactorLocked}
	for _, s := range sessions {
		out.Sessions = append(out.Sessions, SessionView{ID: s.ID, AuthTime: s.AuthTime, AMR: s.AMR, ACR: s.ACR(), Created: s.Created,
			LastSeen: s.LastSeen, Expires: s.Expires})
	}
	return out, nil
}

// ResetPassword gives a person a temporary password that her next login
// must replace, and ends her sessions.
func (o *Ops) ResetPassword(ctx context.Context, actor directory.Actor, ref string) (*PasswordReset, error) {
	svc, u, err := o.loginUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	temp, err := svc.ResetPassword(ctx, actor, u.ID)
	if err != nil {
		return nil, err
	}
	st, err := svc.State(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	return &PasswordReset{UserID: u.ID, UserName: u.UserName, TemporaryPassword: temp, Expires: st.TempExpires, SessionsEnded: true}, nil
}

// Unlock ends a person's login locks and slow-down.
func (o *Ops) Unlock(ctx context.Context, actor directory.Actor, ref string) (*LoginState, error) {
	svc, u, err := o.loginUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := svc.Unlock(ctx, actor, u.ID); err != nil {
		return nil, err
	}
	return o.LoginState(ctx, u.ID)
}

// EndSessions ends every session of a person.
func (o *Ops) EndSessions(ctx context.Context, actor directory.Actor, ref string) (*SessionsEnded, error) {
	svc, u, err := o.loginUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	n, g, err := svc.RevokeSessions(ctx, actor, u.ID)
	if err != nil {
		return nil, err
	}
	return &SessionsEnded{UserID: u.ID, Ended: n, GrantsRevoked: g}, nil
}

// RevokeGrants revokes every single sign-on grant of a person: her
// applications' refresh tokens stop working; her sessions stay.
func (o *Ops) RevokeGrants(ctx context.Context, actor directory.Actor, ref string) (*GrantsRevoked, error) {
	svc, u, err := o.loginUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	n, err := svc.RevokeGrants(ctx, actor, u.ID)
	if err != nil {
		return nil, err
	}
	return &GrantsRevoked{UserID: u.ID, UserName: u.UserName, Revoked: n}, nil
}

// ---- HTTP

func (a *API) loginRoutes() {
	a.handle("GET /users/{user}/login", func(r *http.Request, _ directory.Actor) (int, any, error) {
		st, err := a.ops.LoginState(r.Context(), r.PathValue("user"))
		return http.StatusOK, st, err
	})
	a.handle("POST /users/{user}/reset-password", func(r *http.Request, actor directory.Actor) (int, any, error) {
		x, err := a.ops.ResetPassword(r.Context(), actor, r.PathValue("user"))
		return http.StatusOK, x, err
	})
	a.handle("POST /users/{user}/unlock", func(r *http.Request, actor directory.Actor) (int, any, error) {
		st, err := a.ops.Unlock(r.Context(), actor, r.PathValue("user"))
		return http.StatusOK, st, err
	})
	a.handle("DELETE /users/{user}/sessions", func(r *http.Request, actor directory.Actor) (int, any, error) {
		x, err := a.ops.EndSessions(r.Context(), actor, r.PathValue("user"))
		return http.StatusOK, x, err
	})
	a.handle("DELETE /users/{user}/grants", func(r *http.Request, actor directory.Actor) (int, any, error) {
		x, err := a.ops.RevokeGrants(r.Context(), actor, r.PathValue("user"))
		return http.StatusOK, x, err
	})
}
