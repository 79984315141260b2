package directory

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// memChain is an audit chain in memory, for verification's rules.
type memChain struct {
	recs     []*AuditEntry
	headSeq  int64
	headHash string
}

func (m *memChain) AuditChain(_ context.Context, fn func(*AuditEntry) error) error {
	for _, e := range m.recs {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (m *memChain) AuditHead(context.Context) (int64, string, error) {
	return m.headSeq, m.headHash, nil
}

func (m *memChain) append(e *AuditEntry) *AuditEntry {
	e.Seq, e.PrevHash, e.Time = m.headSeq+1, m.headHash, e.Time.UTC()
	e.Hash = AuditHash(e.PrevHash, e)
	m.recs = append(m.recs, e)
	m.headSeq, m.headHash = e.Seq, e.Hash
	return e
}

// TestEarlyPrunes: verification holds retention pruning to the signing
// times of the checkpoints. Records 1 to 3 are written at t0, t0+1m,
// t0+2m; a checkpoint of record 1 signed at t0+30s shows that records 2
// and 3 were written after it, so they are kept until t0+30s+180d. The
// pruning of records 1 to 3 (its audit.prune record is record 4) happened
// by the earliest of the time that record states, the first checkpoint
// anchoring it, and now.
func TestEarlyPrunes(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	kept := t0.Add(30*time.Second + AuditRetention)
	type want struct {
		OK           bool
		Problems     []int64
		Pruned       int
		RemovedEarly int
	}
	for _, tc := range []struct {
		name       string
		prunedAt   time.Time  // the time the audit.prune record states
		anchoredAt *time.Time // when a checkpoint of the audit.prune record was signed (nil: none)
		now        time.Time
		first      bool          // the only checkpoint before the pruning is of record 3, the last pruned
		retention  time.Duration // 0: AuditRetention
		want       want
	}{
		{name: "after the retention", prunedAt: kept.Add(time.Second), now: kept.Add(time.Hour),
			want: want{OK: true, Pruned: 1}},
		{name: "within the tolerance", prunedAt: kept.Add(-30 * time.Minute), now: kept.Add(time.Hour),
			want: want{OK: true, Pruned: 1}},
		{name: "two hours early", prunedAt: kept.Add(-2 * time.Hour), now: kept.Add(time.Hour),
			want: want{Problems: []int64{3}, RemovedEarly: 1}},
		{name: "minutes after writing", prunedAt: t0.Add(5 * time.Minute), now: t0.Add(6 * time.Minute),
			want: want{Problems: []int64{3}, RemovedEarly: 1}},
		{name: "stated time forged later, anchored early", prunedAt: kept.Add(240 * time.Hour), anchoredAt: ptr(kept.Add(-2 * time.Hour)),
			now: kept.Add(480 * time.Hour), want: want{Problems: []int64{3}, RemovedEarly: 1}},
		{name: "stated time forged later, verified early", prunedAt: kept.Add(240 * time.Hour), now: kept.Add(-2 * time.Hour),
			want: want{Problems: []int64{3}, RemovedEarly: 1}},
		{name: "stated time forged later, verified late", prunedAt: kept.Add(240 * time.Hour), now: kept.Add(480 * time.Hour),
			want: want{OK: true, Pruned: 1}},
		{name: "older than every checkpoint", first: true, prunedAt: t0.Add(5 * time.Minute), now: t0.Add(6 * time.Minute),
			want: want{OK: true, Pruned: 1}},
		{name: "held to a shorter retention", retention: 24 * time.Hour, prunedAt: t0.Add(25 * time.Hour), now: t0.Add(26 * time.Hour),
			want: want{OK: true, Pruned: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &memChain{}
			var recs []*AuditEntry
			for i := range 3 {
				recs = append(recs, m.append(&AuditEntry{Time: t0.Add(time.Duration(i) * time.Minute), Actor: Actor{Kind: "cli"},
					Action: "org.create", ResourceType: "Organization", ResourceID: "o"}))
			}
			cps := []AuditCheckpoint{{Seq: 1, Hash: recs[0].Hash, Time: t0.Add(30 * time.Second), Source: "cp:1"}}
			if tc.first {
				cps = []AuditCheckpoint{{Seq: 3, Hash: recs[2].Hash, Time: t0.Add(150 * time.Second), Source: "cp:1"}}
			}
			m.recs = nil
			retention := tc.retention
			if retention == 0 {
				retention = AuditRetention
			}
			p := m.append(&AuditEntry{Time: tc.prunedAt, Actor: Actor{Kind: "system"}, Action: PruneAction, ResourceType: "AuditLog",
				ResourceID: "audit", After: PruneAuditInfo(3, recs[2].Hash, 3, tc.prunedAt.Add(-retention))})
			if tc.anchoredAt != nil {
				cps = append(cps, AuditCheckpoint{Seq: p.Seq, Hash: p.Hash, Time: *tc.anchoredAt, Source: "cp:2"})
			}
			rep, err := VerifyAudit(context.Background(), m, VerifyOptions{Checkpoints: cps, Retention: retention, Now: tc.now})
			if err != nil {
				t.Fatal(err)
			}
			got := want{OK: rep.OK, Pruned: rep.Checkpoints.Pruned, RemovedEarly: rep.Checkpoints.RemovedEarly}
			for _, pr := range rep.Problems {
				got.Problems = append(got.Problems, pr.Seq)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\n%+v", diff, rep.Problems)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// liveChain is a chain a server writes to while it is verified: records are
// appended after each walk and after each read of the head.
type liveChain struct{ memChain }

func (l *liveChain) write(n int) {
	for range n {
		l.append(&AuditEntry{Action: "user.update", Time: time.Now()})
	}
}

func (l *liveChain) AuditChain(ctx context.Context, fn func(*AuditEntry) error) error {
	err := l.memChain.AuditChain(ctx, fn)
	l.write(3)
	return err
}

func (l *liveChain) AuditHead(ctx context.Context) (int64, string, error) {
	seq, hash, err := l.memChain.AuditHead(ctx)
	l.write(1)
	return seq, hash, err
}

// TestVerifyLiveChain: records appended while verification walks the chain
// are not records removed from the end (the head read after the walk is
// ahead of it), and a chain that ends before the head read before the walk
// still is.
func TestVerifyLiveChain(t *testing.T) {
	ctx := context.Background()
	l := &liveChain{}
	l.write(5)
	rep, err := VerifyAudit(ctx, l, VerifyOptions{Now: time.Now()})
	if err != nil || !rep.OK || rep.LastSeq != 6 || rep.HeadHash != l.recs[5].Hash {
		t.Fatalf("live chain: %+v, %v", rep, err)
	}
	// A server that stopped writing: the chain must end at the head.
	for _, tc := range []struct {
		name   string
		tamper func(m *memChain)
		want   string
	}{
		{"the last two records removed", func(m *memChain) { m.recs = m.recs[:len(m.recs)-2] }, "records 9 to 10 were removed from the end"},
		{"a record added past the head", func(m *memChain) {
			seq, hash := m.headSeq, m.headHash
			m.append(&AuditEntry{Action: "user.delete", Time: time.Now()})
			m.headSeq, m.headHash = seq, hash
		}, "the chain's head (record 10) does not match its last record"},
		{"the head's hash changed", func(m *memChain) { m.headHash = AuditHash("forged", m.recs[0]) }, "the chain's head does not match the record it names"},
	} {
		m := &memChain{recs: slices.Clone(l.recs), headSeq: l.headSeq, headHash: l.headHash}
		if rep, err := VerifyAudit(ctx, m, VerifyOptions{Now: time.Now()}); err != nil || !rep.OK {
			t.Fatalf("%s: untouched: %+v, %v", tc.name, rep, err)
		}
		tc.tamper(m)
		if rep, err := VerifyAudit(ctx, m, VerifyOptions{Now: time.Now()}); err != nil || rep.OK || !slices.ContainsFunc(rep.Problems, func(p AuditProblem) bool { return p.Reason == tc.want }) {
			t.Errorf("%s: %+v, %v; want %q", tc.name, rep, err, tc.want)
		}
	}
}

// pruningChain is a chain whose retention pruning runs while it is
// verified: right after the head is read, before the walk.
type pruningChain struct {
	memChain
	pruned bool
}

func (p *pruningChain) AuditHead(ctx context.Context) (int64, string, error) {
	seq, hash, err := p.memChain.AuditHead(ctx)
	if !p.pruned {
		p.pruned = true
		last := p.recs[2]
		p.recs = slices.Clone(p.recs[3:])
		p.append(&AuditEntry{Time: time.Now(), Actor: Actor{Kind: "system"}, Action: PruneAction, ResourceType: "AuditLog",
			ResourceID: "audit", After: PruneAuditInfo(3, last.Hash, 3, time.Now().Add(-AuditRetention))})
	}
	return seq, hash, err
}

// TestVerifyDuringPruning: records that retention pruning removes while
// verification runs are not reported missing (it read the pruning records
// in a walk of their own, before: a pruning in between was not among them).
func TestVerifyDuringPruning(t *testing.T) {
	p := &pruningChain{}
	for range 6 {
		p.append(&AuditEntry{Action: "user.update", Time: time.Now()})
	}
	rep, err := VerifyAudit(context.Background(), p, VerifyOptions{Now: time.Now()})
	if err != nil || !rep.OK || rep.FirstSeq != 4 || rep.LastSeq != 7 {
		t.Fatalf("pruned during verification: %+v, %v", rep, err)
	}
}
