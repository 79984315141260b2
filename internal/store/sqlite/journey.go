package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// What a person's journey reads (admin.JourneyStore): the events about one
// user by the indexes of migration 0005, and the documents, deliveries and
// attempts of a set of events. Sets of seqs travel as one JSON array
// parameter (json_each), whatever their size.

// UserIDByUserName returns the id of the user with userName, compared as
// the directory compares it (case-insensitively).
func (s *Store) UserIDByUserName(ctx context.Context, userName string) (string, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT id FROM users WHERE user_name_lower = ?`, strings.ToLower(userName)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("User", userName)
	}
	if err != nil {
		return "", fmt.Errorf("find user: %w", err)
	}
	return id, nil
}

// UserExternalIDs returns the user's externalIds by provisioning domain.
func (s *Store) UserExternalIDs(ctx context.Context, userID string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT x.domain, x.external_id FROM user_external_ids x JOIN users u ON u.seq = x.user_seq WHERE u.id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("user externalIds: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var d, v string
		if err := rows.Scan(&d, &v); err != nil {
			return nil, fmt.Errorf("user externalIds: %w", err)
		}
		out[d] = v
	}
	return out, rows.Err()
}

// UserEvents returns up to limit events about a user, newest first, before
// beforeSeq when it is positive: those whose subject is users/<id>, and
// Gatehouse's membership events whose data names the user as member.
func (s *Store) UserEvents(ctx context.Context, userID string, beforeSeq int64, limit int) ([]*directory.EventRecord, error) {
	if limit <= 0 {
		limit = 100
	}
	if beforeSeq <= 0 {
		beforeSeq = math.MaxInt64
	}
	const cols = `seq, id, source, type, subject, time, actor, resource_type, resource_id, data`
	rows, err := s.r.QueryContext(ctx, `SELECT * FROM (
			SELECT `+cols+` FROM events WHERE subject = ? AND seq < ? ORDER BY seq DESC LIMIT ?
		)
		UNION ALL
		SELECT * FROM (
			SELECT `+cols+` FROM events
			WHERE json_extract(data, '$.member') = ? AND seq < ?
				AND source = '' AND type IN ('Group.MemberAdded', 'Group.MemberRemoved')
			ORDER BY seq DESC LIMIT ?
		)
		ORDER BY seq DESC LIMIT ?`,
		"users/"+userID, beforeSeq, limit, userID, beforeSeq, limit, limit)
	if err != nil {
		return nil, fmt.Errorf("read user events: %w", err)
	}
	return collect(rows, scanEventRecord)
}

func seqList(seqs []int64) string {
	b, _ := json.Marshal(seqs) // integers: cannot fail
	return string(b)
}

// EventDocuments returns the documents still kept of the events seqs, in
// seq order.
func (s *Store) EventDocuments(ctx context.Context, seqs []int64) ([]*events.EventDoc, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT seq, id, doc FROM event_docs WHERE seq IN (SELECT value FROM json_each(?)) ORDER BY seq`, seqList(seqs))
	if err != nil {
		return nil, fmt.Errorf("read event documents: %w", err)
	}
	return collect(rows, func(sc scanner) (*events.EventDoc, error) {
		var d events.EventDoc
		var doc string
		if err := sc.Scan(&d.Seq, &d.ID, &doc); err != nil {
			return nil, err
		}
		d.Doc = json.RawMessage(doc)
		return &d, nil
	})
}

// EventDeliveries returns the deliveries of the events seqs, by event and
// creation, and their attempts, by delivery and number: one statement, so
// that attempts and deliveries agree.
func (s *Store) EventDeliveries(ctx context.Context, seqs []int64) ([]*events.Delivery, []*events.Attempt, error) {
	if len(seqs) == 0 {
		return nil, nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+deliveryCols+`, a.n, a.at, a.outcome, a.status, a.latency_us, a.response, a.error
		FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
		WHERE d.event_seq IN (SELECT value FROM json_each(?))
		ORDER BY d.event_seq, d.created, d.id, a.n`, seqList(seqs))
	if err != nil {
		return nil, nil, fmt.Errorf("read deliveries: %w", err)
	}
	defer rows.Close()
	var (
		ds  []*events.Delivery
		att []*events.Attempt
	)
	for rows.Next() {
		var (
			n, status, us sql.NullInt64
			at, outcome   sql.NullString
			resp, errText sql.NullString
		)
		d, err := scanDelivery(rows, &n, &at, &outcome, &status, &us, &resp, &errText)
		if err != nil {
			return nil, nil, fmt.Errorf("read deliveries: %w", err)
		}
		if len(ds) == 0 || ds[len(ds)-1].ID != d.ID {
			ds = append(ds, d)
		}
		if !n.Valid {
			continue
		}
		a := &events.Attempt{DeliveryID: d.ID, N: int(n.Int64), Outcome: outcome.String, Status: int(status.Int64),
			Latency: time.Duration(us.Int64) * time.Microsecond, Response: resp.String, Error: errText.String}
		if a.At, err = parseTime(at.String); err != nil {
			return nil, nil, fmt.Errorf("read deliveries: %w", err)
		}
		att = append(att, a)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read deliveries: %w", err)
	}
	return ds, att, nil
}

// RuleStarts returns, for each rule that has come into force, the seq of
// the last event written before it did (it routes only the events after).
func (s *Store) RuleStarts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, seq FROM rule_starts`)
	if err != nil {
		return nil, fmt.Errorf("rule starts: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return nil, fmt.Errorf("rule starts: %w", err)
		}
		out[name] = seq
	}
	return out, rows.Err()
}
