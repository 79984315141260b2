package directory

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// The audit log is a hash chain: each record's Hash is the SHA-256 of the
// record together with the previous record's hash. Editing a record changes
// its hash; removing or reordering records breaks the links; removing
// records from the end leaves the chain shorter than its head, which the
// store keeps apart. Retention pruning removes the oldest records in one
// audited step that records where the chain now starts.
//
// Whoever can write the database can also move the head back, or rewrite
// the chain and the head consistently. Checkpoints are what the database
// cannot vouch for itself: signed statements, kept outside it, that record
// Seq had hash Hash at a time (internal/checkpoint signs and reads them).
// Verification compares the chain with every checkpoint it is given.

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

// AuditUnsealedReader is implemented by stores whose writers append audit
// records without taking the chain's head, to be sealed into the chain
// after their commit (PostgreSQL): verification reports the records
// committed but not sealed yet.
type AuditUnsealedReader interface {
	// AuditUnsealed returns how many records are committed but not yet
	// in the chain, and the time of the oldest.
	AuditUnsealed(ctx context.Context) (int64, time.Time, error)
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
	// Checkpoints says what the chain was compared with outside the
	// database (nil: nothing).
	Checkpoints *CheckpointSummary `json:"checkpoints,omitempty"`
	// Unsealed is how many records are committed but not yet sealed into
	// the chain (AuditUnsealedReader), and UnsealedSince the time of the
	// oldest. Nothing vouches for them until they are: they are not
	// counted in Records.
	Unsealed      int64     `json:"unsealed,omitempty"`
	UnsealedSince time.Time `json:"unsealedSince,omitzero"`
}

// AuditCheckpoint is a signed statement, kept outside the database, that
// the chain's record Seq had hash Hash at Time. Only checkpoints whose
// signature was checked reach verification.
type AuditCheckpoint struct {
	Seq  int64     `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	// KeyID names the key that signed it.
	KeyID string `json:"keyId"`
	// Source is where it was read ("FILE:LINE").
	Source string `json:"source"`
}

// CheckpointSummary is what verification compared the chain with.
type CheckpointSummary struct {
	// Read is how many distinct checkpoints with a valid signature were
	// compared.
	Read int `json:"read"`
	// Matched is how many of them name a record that is in the chain with
	// the hash they anchor.
	Matched int `json:"matched"`
	// Pruned is how many name a record that retention pruning removed
	// since: consistent, but no longer comparable.
	Pruned int `json:"pruned"`
	// RemovedEarly is how many name a record that an audit.prune record
	// claims retention removed, though the checkpoints' times show it
	// removed records before their retention ended (each such pruning is
	// a problem of the report).
	RemovedEarly int `json:"removedEarly"`
	// Latest is the checkpoint of the highest seq (the most recent of
	// those), nil when none was read.
	Latest *AuditCheckpoint `json:"latest,omitempty"`
	// Unanchored is how many records come after Latest: no checkpoint
	// covers them yet, only the chain itself does.
	Unanchored int64 `json:"unanchored"`
	// Rejected is how many checkpoints were refused before comparison:
	// malformed, forged, or signed by a key that is not trusted.
	Rejected int `json:"rejected"`
	// Sources names what checkpoints were read from.
	Sources []string `json:"sources"`
}

// PruneAction is the action of the record retention pruning appends; its
// After holds where the chain now starts.
const PruneAction = "audit.prune"

type pruneInfo struct {
	ThroughSeq int64  `json:"throughSeq"`
	Anchor     string `json:"anchor"`
	Count      int64  `json:"count"`
	// Before is the cutoff: the records deleted were older (absent from
	// the records of older versions).
	Before time.Time `json:"before,omitzero"`
	// Seq and Time are the audit.prune record's own.
	Seq  int64     `json:"-"`
	Time time.Time `json:"-"`
}

// AuditClockTolerance is how far apart verification lets the clocks be
// that stamp the records and sign the checkpoints (several hosts, a write
// that takes its time before it takes the chain's head) when it holds
// retention pruning to the checkpoints' times: pruning is reported only
// when it happened more than this before the retention could have ended.
const AuditClockTolerance = time.Hour

// VerifyOptions is what VerifyAudit compares the chain with.
type VerifyOptions struct {
	// Checkpoints are signed checkpoints whose signatures the caller has
	// checked.
	Checkpoints []AuditCheckpoint
	// Retention is the audit retention pruning is held to (0: no pruning
	// is held to the checkpoints' times).
	Retention time.Duration
	// Now is when verification runs.
	Now time.Time
}

// VerifyAudit walks the whole chain and reports every record that was
// edited, removed or moved, and whether records are missing from the end.
// It compares the chain with each checkpoint: the record a checkpoint names
// must be in the chain with the hash it anchors, or have been removed by
// retention pruning, and no retention pruning may have removed records the
// checkpoints show were younger than the retention (earlyPrunes). It
// reports at most 100 problems.
func VerifyAudit(ctx context.Context, r AuditReader, opt VerifyOptions) (*AuditReport, error) {
	checkpoints := opt.Checkpoints
	// Retention pruning records where the chain starts afterwards: the
	// first record is checked against them once the walk has read them
	// all (a pruning during the walk included).
	anchors := map[int64]string{} // first remaining seq → expected prev hash
	var prunes []pruneInfo
	rep := &AuditReport{OK: true}
	problem := func(seq int64, format string, args ...any) {
		rep.OK = false
		if len(rep.Problems) < 100 {
			rep.Problems = append(rep.Problems, AuditProblem{Seq: seq, Reason: fmt.Sprintf(format, args...)})
		}
	}
	bySeq := map[int64][]int{} // seq → indexes of its checkpoints
	for i, c := range checkpoints {
		bySeq[c.Seq] = append(bySeq[c.Seq], i)
	}
	seen := make([]string, len(checkpoints)) // the hash found at each checkpoint's seq
	found := make([]bool, len(checkpoints))
	// On a live server records are appended while the walk reads (in
	// pages, each as of its own moment), and the head moves with them. So
	// the head is read before the walk and again after it: the walk must
	// reach at least the first and at most the second, and hold the hash
	// that each of them names at its record, if it reached it.
	headSeq0, headHash0, err := r.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	atHead0 := ""
	var prevSeq int64
	prevHash, firstPrev := "", ""
	first := true
	err = r.AuditChain(ctx, func(e *AuditEntry) error {
		rep.Records++
		for _, i := range bySeq[e.Seq] {
			seen[i], found[i] = e.Hash, true
		}
		if e.Action == PruneAction {
			var pi pruneInfo
			if json.Unmarshal(e.After, &pi) == nil {
				pi.Seq, pi.Time = e.Seq, e.Time
				anchors[pi.ThroughSeq+1] = pi.Anchor
				prunes = append(prunes, pi)
			}
		}
		if first {
			rep.FirstSeq, firstPrev = e.Seq, e.PrevHash
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
		if e.Seq == headSeq0 {
			atHead0 = e.Hash
		}
		first = false
		prevSeq, prevHash = e.Seq, e.Hash
		rep.LastSeq = e.Seq
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !first {
		// Where the chain starts, reported first.
		want, pruned := anchors[rep.FirstSeq]
		reason := ""
		switch {
		case rep.FirstSeq == 1 && firstPrev != "":
			reason = "the first record does not start the chain"
		case rep.FirstSeq > 1 && !pruned:
			reason = fmt.Sprintf("records 1 to %d are missing and no retention pruning removed them", rep.FirstSeq-1)
		case rep.FirstSeq > 1 && firstPrev != want:
			reason = "the chain does not start where retention pruning left it"
		}
		if reason != "" {
			rep.OK = false
			rep.Problems = append([]AuditProblem{{Seq: rep.FirstSeq, Reason: reason}}, rep.Problems...)[:min(len(rep.Problems)+1, 100)]
		}
	}
	headSeq, headHash, err := r.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	rep.HeadHash = prevHash // the hash of the last record walked: the head as of the walk
	switch {
	case rep.LastSeq < headSeq0:
		problem(headSeq0, "records %d to %d were removed from the end", rep.LastSeq+1, headSeq0)
	case rep.LastSeq > headSeq:
		problem(rep.LastSeq, "the chain's head (record %d) does not match its last record", headSeq)
	case headSeq0 > 0 && atHead0 != headHash0, rep.LastSeq == headSeq && prevHash != headHash:
		problem(rep.LastSeq, "the chain's head does not match the record it names")
	}
	if u, ok := r.(AuditUnsealedReader); ok {
		if rep.Unsealed, rep.UnsealedSince, err = u.AuditUnsealed(ctx); err != nil {
			return nil, err
		}
	}
	if len(checkpoints) > 0 {
		early := earlyPrunes(checkpoints, found, seen, prunes, opt, problem)
		rep.Checkpoints = compareCheckpoints(rep, checkpoints, found, seen, prunes, early, problem)
	}
	return rep, nil
}

// earlyPrunes holds each retention pruning still in the chain to the
// checkpoints' times, and returns the seqs of the audit.prune records of
// those that removed records before their retention ended.
//
// A checkpoint of record S signed at T says the head was S at T: every
// record after S was written after T. Retention pruning deletes a record
// only once it is Retention old, so records after S can only have been
// pruned after T+Retention. The pruning happened before its audit.prune
// record was anchored: before the first checkpoint that anchors that
// record (or a later one), else before now, and (when the record tells the
// truth) at the record's time. A pruning that removed a record after S
// earlier than T+Retention (less AuditClockTolerance) did not prune by
// retention. Records older than every checkpoint have no such bound.
func earlyPrunes(cps []AuditCheckpoint, found []bool, seen []string, prunes []pruneInfo, opt VerifyOptions,
	problem func(seq int64, format string, args ...any)) map[int64]bool {
	early := map[int64]bool{}
	if opt.Retention <= 0 {
		return early
	}
	// The checkpoints in seq order; for each position, the latest-signed
	// checkpoint up to it, and the earliest-signed matched one from it on.
	order := make([]int, len(cps))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(cps[a].Seq, cps[b].Seq) })
	latestUpTo, earliestFrom := make([]int, len(order)), make([]int, len(order)+1)
	for k, i := range order {
		latestUpTo[k] = i
		if k > 0 && !cps[i].Time.After(cps[latestUpTo[k-1]].Time) {
			latestUpTo[k] = latestUpTo[k-1]
		}
	}
	earliestFrom[len(order)] = -1
	for k := len(order) - 1; k >= 0; k-- {
		i, next := order[k], earliestFrom[k+1]
		earliestFrom[k] = next
		if found[i] && seen[i] == cps[i].Hash && (next < 0 || cps[i].Time.Before(cps[next].Time)) {
			earliestFrom[k] = i
		}
	}
	firstAtOrAbove := func(seq int64) int {
		k, _ := slices.BinarySearchFunc(order, seq, func(i int, seq int64) int { return cmp.Compare(cps[i].Seq, seq) })
		return k
	}
	for _, p := range prunes {
		// The latest time after which the pruning's last record was
		// written: the latest checkpoint of an earlier record.
		k := firstAtOrAbove(p.ThroughSeq)
		if k == 0 {
			continue
		}
		after := &cps[latestUpTo[k-1]]
		// The earliest time by which the pruning had happened.
		by, how := p.Time, "the time the audit.prune record states"
		if !opt.Now.IsZero() && opt.Now.Before(by) {
			by, how = opt.Now, "now"
		}
		if i := earliestFrom[firstAtOrAbove(p.Seq)]; i >= 0 && cps[i].Time.Before(by) {
			c := &cps[i]
			by, how = c.Time, fmt.Sprintf("the checkpoint signed %s (%s) anchors the audit.prune record", c.Time.UTC().Format(time.RFC3339), c.Source)
		}
		kept := after.Time.Add(opt.Retention)
		if !by.Add(AuditClockTolerance).Before(kept) {
			continue
		}
		early[p.Seq] = true
		why := fmt.Sprintf("was removed before its retention ended: the checkpoint signed %s (%s) anchors record %d, "+
			"so the records after it, %d among them, were written after %s and the %s retention kept them until %s; "+
			"yet the audit.prune record %d says retention removed the records up to %d, by %s (%s)",
			after.Time.UTC().Format(time.RFC3339), after.Source, after.Seq, p.ThroughSeq, after.Time.UTC().Format(time.RFC3339),
			fmtRetention(opt.Retention), kept.UTC().Format(time.RFC3339), p.Seq, p.ThroughSeq, by.UTC().Format(time.RFC3339), how)
		if applied := p.Time.Sub(p.Before); !p.Before.IsZero() && applied < opt.Retention {
			// What an honest log shows too after audit.retention was
			// lengthened: say so.
			why += fmt.Sprintf("; it pruned with a retention of %s, shorter than the %s verification holds pruning to "+
				"(if audit.retention was lengthened since, verify with the one it ran under)",
				fmtRetention(applied.Round(time.Second)), fmtRetention(opt.Retention))
		}
		problem(p.ThroughSeq, "%s", why)
	}
	return early
}

// fmtRetention writes a retention in days when it is whole days.
func fmtRetention(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

// compareCheckpoints checks each checkpoint against what the walk found at
// its seq.
func compareCheckpoints(rep *AuditReport, cps []AuditCheckpoint, found []bool, seen []string, prunes []pruneInfo,
	early map[int64]bool, problem func(seq int64, format string, args ...any)) *CheckpointSummary {
	sum := &CheckpointSummary{Read: len(cps)}
	byThrough := slices.Clone(prunes)
	slices.SortStableFunc(byThrough, func(a, b pruneInfo) int { return cmp.Compare(a.ThroughSeq, b.ThroughSeq) })
	latest := 0
	for i := range cps {
		c := &cps[i]
		if l := &cps[latest]; c.Seq > l.Seq || c.Seq == l.Seq && c.Time.After(l.Time) {
			latest = i
		}
		signed := fmt.Sprintf("the checkpoint signed %s (%s)", c.Time.UTC().Format(time.RFC3339), c.Source)
		switch {
		case found[i] && seen[i] == c.Hash:
			sum.Matched++
		case found[i]:
			problem(c.Seq, "does not match %s: it anchors hash %s, the record has %s; the chain was rewritten",
				signed, short(c.Hash), short(seen[i]))
		case c.Seq > rep.LastSeq && rep.Records == 0:
			problem(c.Seq, "is missing: %s anchors the chain up to record %d, but the chain is empty", signed, c.Seq)
		case c.Seq > rep.LastSeq:
			removed := fmt.Sprintf("records %d to %d were", rep.LastSeq+1, c.Seq)
			if c.Seq == rep.LastSeq+1 {
				removed = fmt.Sprintf("record %d was", c.Seq)
			}
			problem(c.Seq, "is missing: %s anchors the chain up to record %d, but it ends at record %d; %s removed "+
				"and the head moved back (or the database was restored from an older backup)", signed, c.Seq, rep.LastSeq, removed)
		default:
			// Before the chain's first record, or in a gap: only retention
			// pruning may have removed it.
			// The first pruning that reached it.
			var through *pruneInfo
			if j, _ := slices.BinarySearchFunc(byThrough, c.Seq, func(p pruneInfo, seq int64) int {
				return cmp.Compare(p.ThroughSeq, seq)
			}); j < len(byThrough) {
				through = &byThrough[j]
			}
			switch {
			case c.Seq > rep.FirstSeq || through == nil:
				problem(c.Seq, "is missing: %s anchors it, and no retention pruning removed it", signed)
			case through.ThroughSeq == c.Seq && through.Anchor != c.Hash:
				problem(c.Seq, "was pruned with hash %s, but %s anchors hash %s; the chain was rewritten",
					short(through.Anchor), signed, short(c.Hash))
			case early[through.Seq]:
				sum.RemovedEarly++ // the pruning's problem says why
			default:
				sum.Pruned++
			}
		}
	}
	l := cps[latest]
	sum.Latest = &l
	sum.Unanchored = max(0, rep.LastSeq-l.Seq)
	return sum
}

// short abbreviates a hash for messages.
func short(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	if h == "" {
		return "(none)"
	}
	return h
}

// PruneAuditInfo builds the After snapshot of a prune record.
func PruneAuditInfo(throughSeq int64, anchor string, count int64, before time.Time) json.RawMessage {
	b, _ := json.Marshal(pruneInfo{ThroughSeq: throughSeq, Anchor: anchor, Count: count, Before: before.UTC()})
	return b
}

// AuditRetention is MLPS 2.0's minimum log retention, the default.
const AuditRetention = 180 * 24 * time.Hour
