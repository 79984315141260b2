package directory

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Retention pruning deletes the oldest records of the chain. It is the one
// deletion the append-only log allows, so it must not become a way to
// delete records that are not old:
//
//   - It deletes only the start of the chain whose records are all older
//     than the cutoff: it stops before the first record that is not, even
//     when later records claim to be older. Back-dating one record does not
//     take the records before it along.
//   - It checks the part it deletes before deleting it: where it starts
//     (record 1, or where the last pruning left the chain), that no record
//     is missing, that each record's hash matches its contents and follows
//     the one before, and that the first record it keeps (or the head)
//     follows the last it deletes. When any of that fails the log was
//     altered: it deletes nothing and says which record and why
//     (ErrTampered), leaving the evidence to verification.
//
// It does not hold the records' times to their order: they are not ordered
// in honest logs (a write takes its time before it takes the chain's head,
// and several hosts' clocks may write), and an attacker who rewrites a
// record's hash can give it any time. What bounds a rewrite that passes
// these checks is verification against the checkpoints (VerifyAudit).

// AuditPruneTx is what retention pruning reads and writes, in the one
// transaction that deletes the records and appends the audit.prune record.
type AuditPruneTx interface {
	// AuditPruneBounds returns the seq of the chain's first and last
	// records (0 and 0 when it is empty) and of the first record, in seq
	// order, whose time is at or after cutoff (0: none).
	AuditPruneBounds(ctx context.Context, cutoff time.Time) (first, last, young int64, err error)
	// LastAuditPrune returns the last audit.prune record (nil: none).
	LastAuditPrune(ctx context.Context) (*AuditEntry, error)
	// AuditRange calls fn for each record with from <= seq <= to, in seq
	// order.
	AuditRange(ctx context.Context, from, to int64, fn func(*AuditEntry) error) error
	// AuditHead returns the seq and hash of the last record appended.
	AuditHead(ctx context.Context) (int64, string, error)
	// DeleteAuditThrough deletes the records with seq <= through, past the
	// append-only guard, and returns how many it deleted.
	DeleteAuditThrough(ctx context.Context, through int64) (int64, error)
	AppendAudit(ctx context.Context, e *AuditEntry) error
}

// PruneAuditLog deletes the start of the chain whose records are all older
// than before, after checking it, and appends the audit.prune record saying
// where the chain now starts (stamped now). It returns how many records it
// deleted. When the part to delete was altered it deletes nothing and
// returns an *Error of kind ErrTampered.
func PruneAuditLog(ctx context.Context, tx AuditPruneTx, before time.Time, actor Actor, now time.Time) (int64, error) {
	first, last, young, err := tx.AuditPruneBounds(ctx, before)
	if err != nil {
		return 0, err
	}
	through := last
	if young > 0 {
		through = young - 1
	}
	if first == 0 || through < first {
		return 0, nil
	}
	// Where the chain starts: record 1, or where the last pruning left it.
	c := chainCheck{seq: first - 1, start: true}
	if first > 1 {
		p, err := tx.LastAuditPrune(ctx)
		if err != nil {
			return 0, err
		}
		var pi pruneInfo
		if p == nil || json.Unmarshal(p.After, &pi) != nil || pi.ThroughSeq != first-1 {
			return 0, tampered("%s and no retention pruning removed them", missing(1, first-1))
		}
		c.hash = pi.Anchor
	}
	// The records to delete, and the link to the first one kept.
	var anchor string
	kept := false
	err = tx.AuditRange(ctx, first, through+1, func(e *AuditEntry) error {
		if e.Seq > through {
			kept = true
			return c.follows(e)
		}
		if err := c.next(e); err != nil {
			return err
		}
		anchor = e.Hash
		return nil
	})
	if err != nil {
		return 0, err
	}
	if c.seq < through {
		return 0, tampered("%s", missing(c.seq+1, through))
	}
	if !kept {
		// Nothing after the records to delete: they end at the head, unless
		// a record was appended since (another transaction's).
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return 0, err
		}
		switch {
		case seq == through && hash != anchor:
			return 0, tampered("record %d, the last, does not match the chain's head: the head or the record was changed", through)
		case seq < through:
			return 0, tampered("record %d comes after the chain's head (record %d): the head was moved back", through, seq)
		case seq > through:
			err := tx.AuditRange(ctx, through+1, through+1, func(e *AuditEntry) error {
				kept = true
				return c.follows(e)
			})
			if err != nil {
				return 0, err
			}
			if !kept {
				return 0, tampered("the chain's head is record %d, but the chain ends at record %d: %s removed from the end",
					seq, through, removed(through+1, seq))
			}
		}
	}
	n, err := tx.DeleteAuditThrough(ctx, through)
	if err != nil {
		return 0, err
	}
	return n, tx.AppendAudit(ctx, &AuditEntry{
		Time: now, Actor: actor, Action: PruneAction, ResourceType: "AuditLog", ResourceID: "audit",
		After: PruneAuditInfo(through, anchor, n, before),
	})
}

// chainCheck follows the chain record by record from the record seq, whose
// hash is hash (at the start: where the chain must start).
type chainCheck struct {
	seq   int64
	hash  string
	start bool
}

// next checks that e is the next record, whole, and moves on to it.
func (c *chainCheck) next(e *AuditEntry) error {
	if err := c.follows(e); err != nil {
		return err
	}
	if AuditHash(e.PrevHash, e) != e.Hash {
		return tampered("record %d was changed after it was written (its hash does not match its contents)", e.Seq)
	}
	c.seq, c.hash, c.start = e.Seq, e.Hash, false
	return nil
}

// follows checks that e comes right after the record c is at.
func (c *chainCheck) follows(e *AuditEntry) error {
	switch {
	case e.Seq != c.seq+1 && c.start:
		return tampered("%s and no retention pruning removed them", missing(c.seq+1, e.Seq-1))
	case e.Seq != c.seq+1:
		return tampered("%s", missing(c.seq+1, e.Seq-1))
	case e.PrevHash != c.hash && c.seq == 0:
		return tampered("record %d, the first, does not start the chain", e.Seq)
	case e.PrevHash != c.hash && c.start:
		return tampered("record %d, the first, does not follow where retention pruning left the chain", e.Seq)
	case e.PrevHash != c.hash:
		return tampered("record %d does not follow record %d: a record before it was removed, changed or moved", e.Seq, c.seq)
	}
	return nil
}

// tampered is the error of retention pruning that found the log altered.
func tampered(format string, args ...any) error {
	return &Error{Kind: ErrTampered, Op: "prune audit",
		Msg: fmt.Sprintf("the audit log was altered: %s; retention pruning deleted nothing (run `gatehouse audit verify`)",
			fmt.Sprintf(format, args...))}
}

// missing says that records from to to are missing.
func missing(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d is missing", from)
	}
	return fmt.Sprintf("records %d to %d are missing", from, to)
}

// removed names records from to to, for "… removed".
func removed(from, to int64) string {
	if from == to {
		return fmt.Sprintf("record %d was", from)
	}
	return fmt.Sprintf("records %d to %d were", from, to)
}
