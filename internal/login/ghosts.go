package login

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// A user name that is no account must answer as an account does, or the
// answers tell which names exist (an enumeration): the same messages, the
// same password-hashing work, the same locks after the same failures for
// the same time, the same account-wide slow-down. Such a name goes through
// the limits of an account (chargeTx, lockAfter) on a ghost: an account
// kept in the database (Tx.GhostForUpdate, PutGhost), under a keyed hash
// of the lower-cased name (never the name: it may be a mistyped password;
// keyed, so that the database alone does not let anyone test guesses).
// In the database, not in a replica's memory: with three replicas behind
// a load balancer, a name kept apart by each would lock after three times
// an account's failures, and that difference would tell.

// ghostID is the id a name that is no account has among the ghosts: a
// keyed hash of the lower-cased name (Sealer.NameID, the key file every
// replica shares); without a factor key (commands that never sign anyone
// in, some tests), its SHA-256.
func (s *Service) ghostID(userName string) string {
	name := strings.ToLower(userName)
	if s.sealer != nil {
		return "ghost:" + hex.EncodeToString(s.sealer.NameID(name))
	}
	h := sha256.Sum256([]byte(name))
	return "ghost:" + hex.EncodeToString(h[:16])
}

// ghostState is a ghost's limits as stored.
type ghostState struct {
	Account Account `json:"account"`
	Locks   []Lock  `json:"locks,omitempty"`
}

// ghostTx is a lockTx over one ghost, in a login transaction: its state
// is read (and locked) on first use and written back by flush.
type ghostTx struct {
	tx     Tx
	id     string
	window time.Duration
	st     *ghostState
	dirty  bool
}

func (t *ghostTx) load(ctx context.Context) error {
	if t.st != nil {
		return nil
	}
	raw, err := t.tx.GhostForUpdate(ctx, t.id)
	if err != nil {
		return err
	}
	t.st = &ghostState{Account: Account{UserID: t.id}}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, t.st); err != nil {
			return fmt.Errorf("login ghost: %w", err)
		}
	}
	return nil
}

// flush writes the ghost back if it changed, with the time after which
// its limits have all ended.
func (t *ghostTx) flush(ctx context.Context) error {
	if !t.dirty {
		return nil
	}
	until := t.st.Account.LastFailure.Add(t.window)
	later := func(x time.Time) {
		if x.After(until) {
			until = x
		}
	}
	later(t.st.Account.NextAttempt)
	for _, l := range t.st.Locks {
		later(l.First.Add(t.window))
		later(l.LockedUntil)
	}
	raw, err := json.Marshal(t.st)
	if err != nil {
		return err
	}
	return t.tx.PutGhost(ctx, t.id, raw, until)
}

func (t *ghostTx) AccountForUpdate(ctx context.Context, userID string) (*Account, error) {
	if userID != t.id {
		return nil, fmt.Errorf("login ghost: asked for %q", userID)
	}
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	a := t.st.Account
	return &a, nil
}

func (t *ghostTx) PutAccount(ctx context.Context, a *Account) error {
	if err := t.load(ctx); err != nil {
		return err
	}
	t.st.Account, t.dirty = *a, true
	return nil
}

func (t *ghostTx) LockForUpdate(ctx context.Context, userID, key string) (*Lock, error) {
	if err := t.load(ctx); err != nil {
		return nil, err
	}
	for _, l := range t.st.Locks {
		if l.Key == key {
			return &l, nil
		}
	}
	return &Lock{UserID: userID, Key: key}, nil
}

func (t *ghostTx) PutLock(ctx context.Context, l *Lock) error {
	if err := t.load(ctx); err != nil {
		return err
	}
	t.dirty = true
	for i := range t.st.Locks {
		if t.st.Locks[i].Key == l.Key {
			t.st.Locks[i] = *l
			return nil
		}
	}
	t.st.Locks = append(t.st.Locks, *l)
	return nil
}

// ghostWrite runs fn over ghost id in one login transaction, then then
// (when not nil) in the same transaction.
func (s *Service) ghostWrite(ctx context.Context, id string, fn func(lockTx) error, then func(Tx) error) error {
	return s.store.WriteLogin(ctx, func(tx Tx) error {
		g := &ghostTx{tx: tx, id: id, window: s.opt.Lockout.Window}
		if err := fn(g); err != nil {
			return err
		}
		if err := g.flush(ctx); err != nil {
			return err
		}
		if then != nil {
			return then(tx)
		}
		return nil
	})
}

// unknownName answers a password for a user name that is no account as
// one for an account would be answered: counted and limited as an
// account's attempt, the same hashing work, a failure that locks as an
// account's does. Its audit record (login.failure, reason "unknown-user")
// names no account and not the name; there is no event, as there is no
// user for it to be about.
func (s *Service) unknownName(ctx context.Context, p *Pending, c Client, userName string) error {
	id := s.ghostID(userName)
	key, _ := s.clientKey(ctx, id, c) // the device look-up an account's attempt makes
	if err := s.ghostWrite(ctx, id, func(tx lockTx) error { return s.chargeTx(ctx, tx, id, key, false, false) }, nil); err != nil {
		return err
	}
	if err := s.burn(ctx); err != nil {
		// As an account's check that could not be made: the attempt is
		// given back, the answer is the same (busy, or unavailable).
		if rerr := s.ghostWrite(ctx, id, func(tx lockTx) error { return s.refundTx(ctx, tx, id, key, false, false) }, nil); rerr != nil {
			s.opt.Log.WarnContext(ctx, "login: could not refund an attempt", "err", rerr)
		}
		return s.notChecked(ctx, "password", err)
	}
	s.addrs.Fail(auth.AddrKey(c.Addr))
	body, _ := json.Marshal(map[string]any{"login": Detail{Method: "password", AppID: p.AppID, Reason: "unknown-user", Client: c.Addr}})
	// The failure and its audit record in one transaction, as an
	// account's (failed): the same number of writes.
	err := s.ghostWrite(ctx, id, func(tx lockTx) error {
		_, err := s.lockAfter(ctx, tx, id, key, false, false)
		return err
	}, func(tx Tx) error {
		return tx.AppendAudit(ctx, &directory.AuditEntry{Time: s.stamp(), Actor: personActor(c.RequestID), Action: ActionLoginFailed,
			ResourceType: "User", After: body})
	})
	if err != nil {
		return err
	}
	if s.opt.OnCommit != nil {
		s.opt.OnCommit()
	}
	return fail("invalid")
}
