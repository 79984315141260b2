package login

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// touchEvery is how stale a session's LastSeen may be before a use writes
// it again: the idle timeout is exact to within it, and a busy session
// does not write on every request.
const touchEvery = time.Minute

// Session returns the valid session whose cookie token is token, or nil,
// nil: the token is unknown, the session has expired or idled out, its user
// no longer exists or is disabled. It reads the database every time.
func (s *Service) Session(ctx context.Context, token string) (*Session, error) {
	if !tokenOK(token) {
		return nil, nil
	}
	sess, err := s.store.SessionByHash(ctx, HashToken(token))
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, wrapf("session", err)
	}
	now := s.stamp()
	if !now.Before(sess.Expires) || now.Sub(sess.LastSeen) >= s.opt.SessionIdle {
		return nil, nil
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		err := s.store.WriteLogin(ctx, func(tx Tx) error { return tx.TouchSession(ctx, sess.ID, now) })
		if err != nil {
			s.opt.Log.WarnContext(ctx, "login: could not record a session's use", "err", err)
		}
		sess.LastSeen = now
	}
	return sess, nil
}

// Recent reports whether sess authenticated recently enough for a
// sensitive action (login.reauth).
func (s *Service) Recent(sess *Session) bool {
	return sess != nil && s.stamp().Sub(sess.AuthTime) <= s.opt.Reauth
}

// Logout ends the session whose cookie token is token (whatever its
// state), with its audit record and User.LoggedOut. It returns the ended
// session, nil if there was none.
func (s *Service) Logout(ctx context.Context, token string, c Client) (*Session, error) {
	if !tokenOK(token) {
		return nil, nil
	}
	sess, err := s.store.SessionByHash(ctx, HashToken(token))
	if errors.Is(err, directory.ErrNotFound) {
		// Unknown, or its user is disabled or gone; either way nothing is
		// left to end but the row, if any (pruned later).
		return nil, nil
	}
	if err != nil {
		return nil, wrapf("logout", err)
	}
	u, err := s.store.User(ctx, sess.UserID, directory.ReadOptions{})
	if err != nil {
		return nil, wrapf("logout", err)
	}
	ended := false
	err = s.write(ctx, func(tx Tx) error {
		var err error
		if ended, err = tx.DeleteSession(ctx, sess.ID); err != nil || !ended {
			return err
		}
		return s.record(ctx, tx, personActor(c.RequestID), ActionLogout, directory.UserLoggedOut, u,
			Detail{SessionID: sess.ID, Reason: "logout", Client: c.Addr}, nil, nil)
	})
	if err != nil {
		return nil, wrapf("logout", err)
	}
	if !ended {
		return nil, nil
	}
	return sess, nil
}

// RevokeSessions signs a user out everywhere (an administrator's
// action): it ends every session of hers and revokes her single sign-on
// grants, with the audit record and User.LoggedOut. It returns how many
// sessions it ended and grants it revoked.
func (s *Service) RevokeSessions(ctx context.Context, actor directory.Actor, userID string) (sessions, grants int, err error) {
	return s.everywhere(ctx, actor, ActionRevoked, "revoked", userID, "")
}

// LogoutEverywhere signs the person of the session with this token out
// everywhere (her own choice): every session of hers ends and her single
// sign-on grants are revoked, audited as login.logout (reason
// "logout-everywhere") with User.LoggedOut. It returns the session (nil
// when the token names none) and how many sessions and grants ended.
func (s *Service) LogoutEverywhere(ctx context.Context, token string, c Client) (*Session, int, int, error) {
	sess, err := s.Session(ctx, token)
	if err != nil || sess == nil {
		return nil, 0, 0, err
	}
	actor := personActor(c.RequestID)
	n, g, err := s.everywhere(ctx, actor, ActionLogout, "logout-everywhere", sess.UserID, c.Addr)
	return sess, n, g, err
}

// everywhere ends every session of a user and revokes her grants, with
// the audit record action (User.LoggedOut).
func (s *Service) everywhere(ctx context.Context, actor directory.Actor, action, reason, userID, client string) (sessions, grants int, err error) {
	u, err := s.store.User(ctx, userID, directory.ReadOptions{})
	if err != nil {
		return 0, 0, err
	}
	err = s.write(ctx, func(tx Tx) error {
		ids, err := tx.DeleteUserSessions(ctx, userID, "")
		if err != nil {
			return err
		}
		g, err := tx.RevokeUserGrants(ctx, userID, s.stamp())
		if err != nil {
			return err
		}
		sessions, grants = len(ids), int(g)
		return s.record(ctx, tx, actor, action, directory.UserLoggedOut, u,
			Detail{Reason: reason, Sessions: sessions, Grants: grants, Client: client}, nil, nil)
	})
	return sessions, grants, err
}

// RevokeGrants revokes every single sign-on grant of a user (an
// administrator's action): her applications' refresh tokens stop working
// (invalid_grant) and the access tokens they issued are refused at
// UserInfo; her browser sessions stay. Audited as login.grants.revoke. It
// returns how many grants it revoked.
func (s *Service) RevokeGrants(ctx context.Context, actor directory.Actor, userID string) (int, error) {
	u, err := s.store.User(ctx, userID, directory.ReadOptions{})
	if err != nil {
		return 0, err
	}
	var n int
	err = s.write(ctx, func(tx Tx) error {
		g, err := tx.RevokeUserGrants(ctx, userID, s.stamp())
		if err != nil {
			return err
		}
		n = int(g)
		return s.record(ctx, tx, actor, ActionGrantsRevoked, "", u, Detail{Reason: "revoked", Grants: n}, nil, nil)
	})
	return n, err
}

// Sessions lists a user's sessions that are still valid, newest first.
func (s *Service) Sessions(ctx context.Context, userID string) ([]*Session, error) {
	all, err := s.store.UserSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	now := s.stamp()
	out := all[:0]
	for _, x := range all {
		if now.Before(x.Expires) && now.Sub(x.LastSeen) < s.opt.SessionIdle {
			out = append(out, x)
		}
	}
	return out, nil
}

// Prune deletes what has ended: sessions, logins in progress, locks and
// client counts past their window, devices unused for DeviceLifetime.
func (s *Service) Prune(ctx context.Context) (int64, error) {
	now := s.stamp()
	var n int64
	err := s.store.WriteLogin(ctx, func(tx Tx) error {
		var err error
		n, err = tx.PruneLogin(ctx, now.Add(-s.opt.Lockout.Window), now.Add(-s.opt.DeviceLifetime))
		return err
	})
	return n, err
}
