package login

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// A user name that is no account must answer as an account does, or the
// answers tell which names exist (an enumeration): the same messages, the
// same password-hashing work, the same locks after the same failures for
// the same time, the same account-wide slow-down. Such a name goes through
// the limits of an account (chargeTx, lockAfter) on a ghost: an account
// kept in memory, per replica, under the SHA-256 of the lower-cased name
// (never the name: it may be a mistyped password).

// maxGhosts bounds the names remembered; past it, those whose limits have
// ended are forgotten first, then any.
const maxGhosts = 100000

// ghosts is the in-memory login state of the names that are no account.
type ghosts struct {
	mu       sync.Mutex
	accounts map[string]Account
	locks    map[[2]string]Lock
}

func newGhosts() *ghosts {
	return &ghosts{accounts: map[string]Account{}, locks: map[[2]string]Lock{}}
}

// ghostID is the id a name that is no account has among the ghosts.
func ghostID(userName string) string {
	h := sha256.Sum256([]byte(strings.ToLower(userName)))
	return "ghost:" + hex.EncodeToString(h[:16])
}

// write runs fn as one transaction: what it puts is kept only if it
// returns nil.
func (g *ghosts) write(now time.Time, window time.Duration, fn func(lockTx) error) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	tx := &ghostTx{g: g, accounts: map[string]Account{}, locks: map[[2]string]Lock{}}
	if err := fn(tx); err != nil {
		return err
	}
	for k, a := range tx.accounts {
		g.accounts[k] = a
	}
	for k, l := range tx.locks {
		g.locks[k] = l
	}
	if len(g.accounts)+len(g.locks) > maxGhosts {
		g.prune(now, window)
	}
	return nil
}

// prune forgets the names whose limits have ended, then, if too many are
// left, any.
func (g *ghosts) prune(now time.Time, window time.Duration) {
	for k, a := range g.accounts {
		if now.Sub(a.LastFailure) >= window && !now.Before(a.NextAttempt) {
			delete(g.accounts, k)
		}
	}
	for k, l := range g.locks {
		if now.Sub(l.First) >= window && !now.Before(l.LockedUntil) {
			delete(g.locks, k)
		}
	}
	for k := range g.accounts {
		if len(g.accounts)+len(g.locks) <= maxGhosts/2 {
			break
		}
		delete(g.accounts, k)
	}
	for k := range g.locks {
		if len(g.accounts)+len(g.locks) <= maxGhosts/2 {
			break
		}
		delete(g.locks, k)
	}
}

// ghostTx is a lockTx over the ghosts (their mutex held).
type ghostTx struct {
	g        *ghosts
	accounts map[string]Account
	locks    map[[2]string]Lock
}

func (t *ghostTx) AccountForUpdate(_ context.Context, userID string) (*Account, error) {
	if a, ok := t.accounts[userID]; ok {
		return &a, nil
	}
	if a, ok := t.g.accounts[userID]; ok {
		return &a, nil
	}
	return &Account{UserID: userID}, nil
}

func (t *ghostTx) PutAccount(_ context.Context, a *Account) error {
	t.accounts[a.UserID] = *a
	return nil
}

func (t *ghostTx) LockForUpdate(_ context.Context, userID, key string) (*Lock, error) {
	k := [2]string{userID, key}
	if l, ok := t.locks[k]; ok {
		return &l, nil
	}
	if l, ok := t.g.locks[k]; ok {
		return &l, nil
	}
	return &Lock{UserID: userID, Key: key}, nil
}

func (t *ghostTx) PutLock(_ context.Context, l *Lock) error {
	t.locks[[2]string{l.UserID, l.Key}] = *l
	return nil
}

// unknownName answers a password for a user name that is no account as
// one for an account would be answered: counted and limited as an
// account's attempt, the same hashing work, a failure that locks as an
// account's does. Its audit record (login.failure, reason "unknown-user")
// names no account and not the name; there is no event, as there is no
// user for it to be about.
func (s *Service) unknownName(ctx context.Context, p *Pending, c Client, userName string) error {
	id := ghostID(userName)
	key, _ := s.clientKey(ctx, id, c) // the device look-up an account's attempt makes
	win := s.opt.Lockout.Window
	if err := s.ghosts.write(s.stamp(), win, func(tx lockTx) error { return s.chargeTx(ctx, tx, id, key, false, false) }); err != nil {
		return err
	}
	s.burn(ctx)
	s.addrs.Fail(auth.AddrKey(c.Addr))
	if err := s.ghosts.write(s.stamp(), win, func(tx lockTx) error {
		_, err := s.lockAfter(ctx, tx, id, key, false, false)
		return err
	}); err != nil {
		return err
	}
	body, _ := json.Marshal(map[string]any{"login": Detail{Method: "password", AppID: p.AppID, Reason: "unknown-user", Client: c.Addr}})
	err := s.write(ctx, func(tx Tx) error {
		return tx.AppendAudit(ctx, &directory.AuditEntry{Time: s.stamp(), Actor: personActor(c.RequestID), Action: ActionLoginFailed,
			ResourceType: "User", After: body})
	})
	if err != nil {
		return err
	}
	return fail("invalid")
}
