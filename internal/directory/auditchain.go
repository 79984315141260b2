package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// The audit log is a hash chain: each record's Hash is the SHA-256 of the
// record together with the previous record's hash. Editing a record changes
// its hash; removing or reordering records breaks the links; removing
// records from the end leaves the chain shorter than its head, which the
// store keeps apart. Retention pruning removes the oldest records in one
// audited step that records where the chain now starts.

// AuditTimeLayout is how times enter the hash: UTC, microseconds, which both
// stores keep exactly.
const AuditTimeLayout = "2006-01-02T15:04:05.000000Z"

// AuditHash computes a record's hash from its fields and prev.
func AuditHash(prev string, e *AuditEntry) string {
	nullable := func(b json.RawMessage) any {
		if b == nil {
			return nil
		}
		return string(b)
	}
	rec := []any{
		e.Seq, e.Time.UTC().Format(AuditTimeLayout), e.Actor.Kind, e.Actor.AppID, e.Actor.AppName,
		e.Actor.TokenID, e.Actor.RequestID, e.Action, e.ResourceType, e.ResourceID,
		nullable(e.Before), nullable(e.After), prev,
	}
	b, _ := json.Marshal(rec) // strings, numbers and nulls only: cannot fail
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// AuditReader is what verification reads.
type AuditReader interface {
	// AuditChain calls fn for every record in seq order.
	AuditChain(ctx context.Context, fn func(*AuditEntry) error) error
	// AuditHead returns the seq and hash of the last record appended.
	AuditHead(ctx context.Context) (int64, string, error)
}

// AuditProblem is one thing verification found wrong.
type AuditProblem struct {
	Seq    int64  `json:"seq"`
	Reason string `json:"reason"`
}

// AuditReport is the result of verification.
type AuditReport struct {
	Records  int64          `json:"records"`
	FirstSeq int64          `json:"firstSeq"`
	LastSeq  int64          `json:"lastSeq"`
	HeadHash string         `json:"headHash"`
	OK       bool           `json:"ok"`
	Problems []AuditProblem `json:"problems,omitempty"`
}

// PruneAction is the action of the record retention pruning appends; its
// After holds where the chain now starts.
const PruneAction = "audit.prune"

type pruneInfo struct {
	ThroughSeq int64  `json:"throughSeq"`
	Anchor     string `json:"anchor"`
	Count      int64  `json:"count"`
}

// VerifyAudit walks the whole chain and reports every record that was
// edited, removed or moved, and whether records are missing from the end.
// It reports at most 100 problems.
func VerifyAudit(ctx context.Context, r AuditReader) (*AuditReport, error) {
	// Retention pruning records where the chain starts afterwards.
	anchors := map[int64]string{} // first remaining seq → expected prev hash
	err := r.AuditChain(ctx, func(e *AuditEntry) error {
		if e.Action == PruneAction {
			var pi pruneInfo
			if json.Unmarshal(e.After, &pi) == nil {
				anchors[pi.ThroughSeq+1] = pi.Anchor
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep := &AuditReport{OK: true}
	problem := func(seq int64, format string, args ...any) {
		rep.OK = false
		if len(rep.Problems) < 100 {
			rep.Problems = append(rep.Problems, AuditProblem{Seq: seq, Reason: fmt.Sprintf(format, args...)})
		}
	}
	var prevSeq int64
	prevHash := ""
	first := true
	err = r.AuditChain(ctx, func(e *AuditEntry) error {
		rep.Records++
		if first {
			rep.FirstSeq = e.Seq
			want, pruned := anchors[e.Seq]
			switch {
			case e.Seq == 1 && e.PrevHash != "":
				problem(e.Seq, "the first record does not start the chain")
			case e.Seq > 1 && !pruned:
				problem(e.Seq, "records 1 to %d are missing and no retention pruning removed them", e.Seq-1)
			case e.Seq > 1 && e.PrevHash != want:
				problem(e.Seq, "the chain does not start where retention pruning left it")
			}
		} else {
			if e.Seq != prevSeq+1 {
				problem(e.Seq, "records %d to %d are missing", prevSeq+1, e.Seq-1)
			}
			if e.PrevHash != prevHash {
				problem(e.Seq, "does not follow record %d: a record before it was removed, changed or moved", prevSeq)
			}
		}
		if got := AuditHash(e.PrevHash, e); got != e.Hash {
			problem(e.Seq, "was changed after it was written (its hash does not match its contents)")
		}
		first = false
		prevSeq, prevHash = e.Seq, e.Hash
		rep.LastSeq = e.Seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	headSeq, headHash, err := r.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	rep.HeadHash = headHash
	if headSeq != rep.LastSeq || headHash != prevHash {
		if headSeq > rep.LastSeq {
			problem(headSeq, "records %d to %d were removed from the end", rep.LastSeq+1, headSeq)
		} else {
			problem(rep.LastSeq, "the chain's head (record %d) does not match its last record", headSeq)
		}
	}
	return rep, nil
}

// PruneAuditInfo builds the After snapshot of a prune record.
func PruneAuditInfo(throughSeq int64, anchor string, count int64) json.RawMessage {
	b, _ := json.Marshal(pruneInfo{ThroughSeq: throughSeq, Anchor: anchor, Count: count})
	return b
}

// AuditRetention is MLPS 2.0's minimum log retention, the default.
const AuditRetention = 180 * 24 * time.Hour
