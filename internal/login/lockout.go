package login

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Lockout and throttling. Four limits apply to guessing, each chosen so
// that an attacker elsewhere can never lock a person out for good:
//
//  1. Per client address (an IPv6 /64), whatever the account: AddressFailures
//     failures per AddressWindow (in memory, per replica), then 429.
//  2. Per account and client key — the client's network (IPv4 /24, IPv6
//     /64), or one of the account's trusted devices (a browser that signed
//     in to it before, known by its cookie): Failures failures within
//     Window lock that key out of that account for Duration. Other
//     networks and the person's trusted devices are not affected.
//  3. Per account, from clients that are not its trusted devices: past
//     AccountFailures failures, each attempt must wait twice as long as the
//     last (1 s, 2 s, 4 s … at most AccountMaxDelay). The person's trusted
//     devices are never slowed; elsewhere she waits at most AccountMaxDelay.
//  4. Second factors, per account, from clients that are not its trusted
//     devices: FactorFailures wrong second factors (since the last right
//     one from such a client) stop second-factor attempts from them until
//     an administrator unlocks the account. Whoever reaches the second
//     factor knows the password; the limit keeps the 10⁶ TOTP codes (3
//     valid at a time) out of reach: 10 guesses succeed with probability
//     3·10⁻⁵. The person's trusted devices still sign in.
//
// Each attempt is counted before its password is checked (and refunded if
// the check could not be made), so that attempts in parallel cannot exceed
// the limits. A success forgets the count of its key and the account-wide
// one. Locks end by themselves; an administrator can end them sooner
// (Unlock). Attempts refused by a limit check no password and write no
// audit record (they cannot flood the log); the lock itself is recorded.

// clientKey is the key of limit 2: the trusted device, when the client
// presents one of userID's, else its network.
func (s *Service) clientKey(ctx context.Context, userID string, c Client) (key string, device *Device) {
	if c.Device != "" && tokenOK(c.Device) {
		d, err := s.store.Device(ctx, HashToken(c.Device))
		if err == nil && d.UserID == userID {
			return "dev:" + d.ID, d
		}
	}
	return auth.NetworkKey(c.Addr), nil
}

// lockTx is what the limits read and write: an account's login state and
// its failures per client key. A login Tx, or (for a user name that is no
// account) its ghost in one (ghostTx), which applies the same limits to
// it.
type lockTx interface {
	AccountForUpdate(ctx context.Context, userID string) (*Account, error)
	PutAccount(ctx context.Context, a *Account) error
	LockForUpdate(ctx context.Context, userID, key string) (*Lock, error)
	PutLock(ctx context.Context, l *Lock) error
}

// charge counts an attempt of userID from key before its check, or
// refuses it with the time to wait. factor: the attempt is a second
// factor's.
func (s *Service) charge(ctx context.Context, userID, key string, trusted, factor bool) error {
	return s.store.WriteLogin(ctx, func(tx Tx) error { return s.chargeTx(ctx, tx, userID, key, trusted, factor) })
}

func (s *Service) chargeTx(ctx context.Context, tx lockTx, userID, key string, trusted, factor bool) error {
	lo := s.opt.Lockout
	now := s.stamp()
	acct, err := tx.AccountForUpdate(ctx, userID)
	if err != nil {
		return err
	}
	l, err := tx.LockForUpdate(ctx, userID, key)
	if err != nil {
		return err
	}
	if now.Before(l.LockedUntil) {
		return &Failure{Reason: "locked", RetryAfter: l.LockedUntil.Sub(now)}
	}
	if !l.First.IsZero() && (now.Sub(l.First) >= lo.Window || !l.LockedUntil.IsZero()) {
		*l = Lock{UserID: userID, Key: key} // the window, or the lock, is over
	}
	if l.Failures >= lo.Failures {
		// Attempts in flight already fill the allowance.
		return &Failure{Reason: "locked", RetryAfter: time.Second}
	}
	if l.First.IsZero() {
		l.First = now
	}
	l.Failures++
	if err := tx.PutLock(ctx, l); err != nil {
		return err
	}
	if trusted {
		return nil
	}
	if factor {
		if acct.FactorFailures >= lo.FactorFailures {
			return &Failure{Reason: "factor-locked"}
		}
		acct.FactorFailures++
	}
	if !acct.LastFailure.IsZero() && now.Sub(acct.LastFailure) >= lo.Window && !now.Before(acct.NextAttempt) {
		acct.Failures, acct.NextAttempt = 0, time.Time{}
	}
	if now.Before(acct.NextAttempt) {
		// Refunds the lock's count: this attempt checks nothing.
		return &Failure{Reason: "slowed", RetryAfter: acct.NextAttempt.Sub(now)}
	}
	acct.Failures++
	acct.LastFailure = now
	if over := acct.Failures - lo.AccountFailures; over > 0 {
		acct.NextAttempt = now.Add(accountDelay(over, lo.AccountMaxDelay))
	}
	return tx.PutAccount(ctx, acct)
}

// accountDelay is the wait after the over-th failure past the account's
// allowance: 1 s, 2 s, 4 s … at most max.
func accountDelay(over int, max time.Duration) time.Duration {
	if over > 30 {
		return max
	}
	return min(time.Duration(1<<(over-1))*time.Second, max)
}

// refund takes back an attempt whose check could not be made (the
// directory was unavailable, hashing was busy).
func (s *Service) refund(ctx context.Context, userID, key string, trusted, factor bool) {
	err := s.store.WriteLogin(ctx, func(tx Tx) error { return s.refundTx(ctx, tx, userID, key, trusted, factor) })
	if err != nil {
		s.opt.Log.WarnContext(ctx, "login: could not refund an attempt", "err", err)
	}
}

// refundTx is refund's work in tx.
func (s *Service) refundTx(ctx context.Context, tx lockTx, userID, key string, trusted, factor bool) error {
	acct, err := tx.AccountForUpdate(ctx, userID)
	if err != nil {
		return err
	}
	l, err := tx.LockForUpdate(ctx, userID, key)
	if err != nil {
		return err
	}
	if l.Failures > 0 {
		l.Failures--
		if err := tx.PutLock(ctx, l); err != nil {
			return err
		}
	}
	if !trusted && factor && acct.FactorFailures > 0 {
		acct.FactorFailures--
	}
	if !trusted && acct.Failures > 0 {
		acct.Failures--
		if acct.Failures <= s.opt.Lockout.AccountFailures {
			acct.NextAttempt = time.Time{}
		}
		return tx.PutAccount(ctx, acct)
	}
	return nil
}

// failed records a failed check of userID from key: its audit record and
// User.LoginFailed, and — when this failure fills the key's allowance or
// crosses the account's, or the account's second-factor allowance — the
// lock with its User.Locked.
func (s *Service) failed(ctx context.Context, u *directory.User, key string, trusted, factor bool, c Client, d Detail) error {
	s.addrs.Fail(auth.AddrKey(c.Addr))
	return s.write(ctx, func(tx Tx) error {
		locks, err := s.lockAfter(ctx, tx, u.ID, key, trusted, factor)
		if err != nil {
			return err
		}
		actor := personActor(c.RequestID)
		d.Client = c.Addr
		if err := s.record(ctx, tx, actor, ActionLoginFailed, directory.UserLoginFailed, u, d, nil, nil); err != nil {
			return err
		}
		for _, ld := range locks {
			ld.Client = c.Addr
			if err := s.record(ctx, tx, actor, ActionLocked, directory.UserLocked, u, ld, nil, nil); err != nil {
				return err
			}
		}
		return nil
	})
}

// lockAfter applies a failed check of userID from key to the limits: it
// locks the key when the failure fills its allowance, and returns the
// detail of each lock this failure starts (the key's, the account-wide
// slow-down, the second factors').
func (s *Service) lockAfter(ctx context.Context, tx lockTx, userID, key string, trusted, factor bool) ([]Detail, error) {
	lo := s.opt.Lockout
	now := s.stamp()
	acct, err := tx.AccountForUpdate(ctx, userID)
	if err != nil {
		return nil, err
	}
	l, err := tx.LockForUpdate(ctx, userID, key)
	if err != nil {
		return nil, err
	}
	var out []Detail
	if l.Failures >= lo.Failures && l.LockedUntil.IsZero() {
		l.LockedUntil = now.Add(lo.Duration)
		if err := tx.PutLock(ctx, l); err != nil {
			return nil, err
		}
		scope := "network"
		if trusted {
			scope = "device"
		}
		until := l.LockedUntil
		out = append(out, Detail{Scope: scope, Until: &until, Reason: "failures"})
	}
	if !trusted && acct.Failures == lo.AccountFailures+1 {
		until := acct.NextAttempt
		out = append(out, Detail{Scope: "account", Until: &until, Reason: "failures"})
	}
	if !trusted && factor && acct.FactorFailures == lo.FactorFailures {
		// Until an administrator's unlock: no Until.
		out = append(out, Detail{Scope: "factor", Reason: "factor-failures"})
	}
	return out, nil
}

// succeeded forgets the failures of key and the account-wide count
// (inside the transaction that finishes the first factor), and with
// factor, from an untrusted client, the second-factor count.
func succeeded(ctx context.Context, tx Tx, userID, key string, trusted, factor bool, now time.Time) (*Account, error) {
	acct, err := tx.AccountForUpdate(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := tx.PutLock(ctx, &Lock{UserID: userID, Key: key, First: now}); err != nil {
		return nil, err
	}
	if !trusted {
		acct.Failures, acct.NextAttempt = 0, time.Time{}
		if factor {
			acct.FactorFailures = 0
		}
	}
	return acct, nil
}

// Unlock ends every lock of a user and the account-wide slow-down (an
// administrator's action): the audit record and User.Unlocked.
func (s *Service) Unlock(ctx context.Context, actor directory.Actor, userID string) error {
	u, err := s.store.User(ctx, userID, directory.ReadOptions{})
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx Tx) error {
		acct, err := tx.AccountForUpdate(ctx, userID)
		if err != nil {
			return err
		}
		n, err := tx.DeleteLocks(ctx, userID)
		if err != nil {
			return err
		}
		acct.Failures, acct.NextAttempt, acct.LastFailure, acct.FactorFailures = 0, time.Time{}, time.Time{}, 0
		if err := tx.PutAccount(ctx, acct); err != nil {
			return err
		}
		_ = n
		return s.record(ctx, tx, actor, ActionUnlocked, directory.UserUnlocked, u, Detail{Reason: "administrator"}, nil, nil)
	})
}

// LockState is what an administrator sees of a user's locks.
type LockState struct {
	// Slowed is when the account-wide slow-down lets untrusted clients
	// try again (zero: not slowed); Failures the count behind it.
	Slowed   time.Time
	Failures int
	// MustChange and TempExpires are the forced change a reset set.
	MustChange  bool
	TempExpires time.Time
	// FactorFailures counts the wrong second factors from untrusted
	// clients; FactorLocked: they may no longer try (until an unlock).
	FactorFailures int
	FactorLocked   bool
}

// State returns a user's login state.
func (s *Service) State(ctx context.Context, userID string) (*LockState, error) {
	a, err := s.store.Account(ctx, userID)
	if err != nil {
		return nil, err
	}
	st := &LockState{Failures: a.Failures, MustChange: a.MustChange, TempExpires: a.TempExpires, FactorFailures: a.FactorFailures,
		FactorLocked: a.FactorFailures >= s.opt.Lockout.FactorFailures}
	if s.stamp().Before(a.NextAttempt) {
		st.Slowed = a.NextAttempt
	}
	return st, nil
}

func isFailure(err error) (*Failure, bool) {
	var f *Failure
	ok := errors.As(err, &f)
	return f, ok
}
