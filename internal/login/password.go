package login

import (
	"context"
	"crypto/rand"
	"errors"
	"math/big"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Passwords kept by Gatehouse (the argon2id hashes SCIM's password sets)
// can be changed here: by their owner with the current one, at a login an
// administrator's reset forced it, and reset by an administrator to a
// temporary password. A directory's passwords (delegated authentication)
// are changed in the directory.

// ChangePassword changes the password of sess's user: current must be
// right (it counts as a login attempt, locks included), next must satisfy
// the password policy and be typed twice alike. The user's other sessions
// end; this one stays.
func (s *Service) ChangePassword(ctx context.Context, sess *Session, c Client, current, next, confirm string) error {
	u, err := s.store.User(ctx, sess.UserID, directory.ReadOptions{})
	if err != nil {
		return err
	}
	if d, _, err := s.delegated(ctx, u); err != nil {
		return err
	} else if d != nil {
		return &Failure{Reason: "not-here", Detail: d.Domain()}
	}
	if current == "" || len(current) > s.maxPasswordBytes() {
		return fail("invalid")
	}
	if err := s.checkNew(u, next, confirm); err != nil {
		return err
	}
	if d := s.addrs.Wait(auth.AddrKey(c.Addr)); d > 0 {
		return &Failure{Reason: "throttled", RetryAfter: d}
	}
	key, dev := s.clientKey(ctx, u.ID, c)
	if err := s.charge(ctx, u.ID, key, dev != nil, false); err != nil {
		return err
	}
	_, err = s.checkPassword(ctx, u, current)
	switch {
	case errors.Is(err, ErrInvalidCredentials):
		if err := s.failed(ctx, u, key, dev != nil, false, c, Detail{Method: "password", SessionID: sess.ID, Reason: "invalid-current-password"}); err != nil {
			return err
		}
		return fail("invalid")
	case err != nil:
		s.refund(ctx, u.ID, key, dev != nil, false)
		if f, ok := isFailure(err); ok {
			return f
		}
		return err
	}
	if current == next {
		s.refund(ctx, u.ID, key, dev != nil, false)
		return fail("same-password")
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx Tx) error {
		if _, err := succeeded(ctx, tx, u.ID, key, dev != nil, false, s.stamp()); err != nil {
			return err
		}
		return s.setPassword(ctx, tx, personActor(c.RequestID), u.ID, hash, sess.ID, false, Detail{By: "self", SessionID: sess.ID, Client: c.Addr})
	})
}

// ForcedChange sets the new password a reset forced (login p at
// StageChange), then moves the login on.
func (s *Service) ForcedChange(ctx context.Context, p *Pending, c Client, next, confirm string) (*Outcome, error) {
	if p.Stage != StageChange || p.UserID == "" {
		return nil, fail("expired")
	}
	u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
	if err != nil || !u.Active {
		return nil, fail("expired")
	}
	if err := s.checkNew(u, next, confirm); err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return nil, err
	}
	// The temporary password may not be kept.
	if ok, err := s.verify(ctx, next, u.PasswordHash); err == nil && ok {
		return nil, fail("same-password")
	}
	err = s.write(ctx, func(tx Tx) error {
		return s.setPassword(ctx, tx, personActor(c.RequestID), u.ID, hash, "", false,
			Detail{By: "self", Forced: true, AppID: p.AppID, Client: c.Addr})
	})
	if err != nil {
		return nil, err
	}
	nextP := *p
	nextP.Stage = StageStep
	return s.advance(ctx, &nextP, c, "password")
}

// checkNew checks a new password against the policy and its confirmation.
func (s *Service) checkNew(u *directory.User, next, confirm string) error {
	if next != confirm {
		return fail("mismatch")
	}
	if len(next) > s.maxPasswordBytes() {
		return &Failure{Reason: "password-policy", Detail: "the password is too long"}
	}
	if err := s.opt.PasswordPolicy.Check(next, u.UserName); err != nil {
		return &Failure{Reason: "password-policy", Detail: err.Error()}
	}
	return nil
}

func (s *Service) hash(ctx context.Context, password string) (string, error) {
	hctx, cancel := context.WithTimeout(ctx, s.opt.HashWait)
	defer cancel()
	h, err := s.opt.Hasher.Hash(hctx, password)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return "", &Failure{Reason: "busy", RetryAfter: 5 * time.Second}
	}
	return h, err
}

// setPassword stores a new password hash for userID in tx: the user's
// sessions but keep end, the forced change is over (or, with temporary,
// starts), and the change is recorded (User.PasswordChanged).
func (s *Service) setPassword(ctx context.Context, tx Tx, actor directory.Actor, userID, hash, keep string, temporary bool, d Detail) error {
	now := s.stamp()
	before, err := tx.UserForUpdate(ctx, userID, "")
	if err != nil {
		return err
	}
	if err := tx.SetPasswordHash(ctx, userID, hash, now); err != nil {
		return err
	}
	after := before.Clone()
	after.PasswordHash, after.Modified, after.Version = hash, now, before.Version+1
	acct, err := tx.AccountForUpdate(ctx, userID)
	if err != nil {
		return err
	}
	acct.PasswordChanged = now
	acct.MustChange, acct.TempExpires = temporary, time.Time{}
	if temporary {
		acct.TempExpires = now.Add(s.opt.TempPasswordLifetime)
		acct.Failures, acct.NextAttempt, acct.LastFailure = 0, time.Time{}, time.Time{}
		if _, err := tx.DeleteLocks(ctx, userID); err != nil {
			return err
		}
	}
	if err := tx.PutAccount(ctx, acct); err != nil {
		return err
	}
	ended, err := tx.DeleteUserSessions(ctx, userID, keep)
	if err != nil {
		return err
	}
	d.Sessions = len(ended)
	// Her applications' refresh tokens were got with the old password.
	grants, err := tx.RevokeUserGrants(ctx, userID, now)
	if err != nil {
		return err
	}
	d.Grants = int(grants)
	action := ActionPasswordChange
	if temporary {
		action = ActionPasswordReset
	}
	return s.record(ctx, tx, actor, action, directory.UserPasswordChanged, after, d, before, after)
}

// ResetPassword gives a user a temporary password, returned once and
// never stored in clear: it works for TempPasswordLifetime, for a login
// that must set a new password. Every session of the user ends, and her
// locks. A directory's account is refused: its password is the
// directory's.
func (s *Service) ResetPassword(ctx context.Context, actor directory.Actor, userID string) (string, error) {
	u, err := s.store.User(ctx, userID, directory.ReadOptions{})
	if err != nil {
		return "", err
	}
	if d, _, err := s.delegated(ctx, u); err != nil {
		return "", err
	} else if d != nil {
		return "", directory.Errorf(directory.ErrInvalid, "password", "%s signs in with the password of the directory %s (delegated authentication): reset it there", u.UserName, d.Domain())
	}
	temp, err := TemporaryPassword(s.opt.PasswordPolicy, u.UserName)
	if err != nil {
		return "", err
	}
	hash, err := s.hash(ctx, temp)
	if err != nil {
		return "", err
	}
	err = s.write(ctx, func(tx Tx) error {
		return s.setPassword(ctx, tx, actor, userID, hash, "", true, Detail{By: "administrator"})
	})
	if err != nil {
		return "", err
	}
	return temp, nil
}

// tempAlphabet leaves out look-alike characters (0/O, 1/l/I).
const tempAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"

// TemporaryPassword returns a random password (groups of four characters
// joined by "-", about 5.8 bits each, at least 16 of them) that
// satisfies policy for userName.
func TemporaryPassword(policy directory.PasswordPolicy, userName string) (string, error) {
	n := max(16, policy.MinLength)
	n = (n + 3) / 4 * 4
	for range 100 {
		var b strings.Builder
		for i := range n {
			if i > 0 && i%4 == 0 {
				b.WriteByte('-')
			}
			k, err := rand.Int(rand.Reader, big.NewInt(int64(len(tempAlphabet))))
			if err != nil {
				return "", err
			}
			b.WriteByte(tempAlphabet[k.Int64()])
		}
		pw := b.String()
		if policy.Check(pw, userName) == nil {
			return pw, nil
		}
	}
	return "", errors.New("cannot make a temporary password that satisfies the password policy")
}
