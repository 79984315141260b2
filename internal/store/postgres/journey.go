package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// What a person's journey reads (admin.JourneyStore): the events about one
// user by the indexes of migration 0005, and the documents, deliveries and
// attempts of a set of events (sent as one bigint[] parameter).

// UserIDByUserName returns the id of the user with userName, compared as
// the directory compares it (case-insensitively).
func (s *Store) UserIDByUserName(ctx context.Context, userName string) (string, error) {
	if !storable(userName) {
		return "", notFound("User", userName)
	}
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM users WHERE user_name_lower = $1`, strings.ToLower(userName)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("User", userName)
	}
	if err != nil {
		return "", fmt.Errorf("find user: %w", err)
	}
	return id, nil
}

// UserExternalIDs returns the user's externalIds by provisioning domain.
func (s *Store) UserExternalIDs(ctx context.Context, userID string) (map[string]string, error) {
	out := map[string]string{}
	if !storable(userID) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT x.domain, x.external_id FROM user_external_ids x JOIN users u ON u.seq = x.user_seq WHERE u.id = $1`, userID)
	if err != nil {
		return nil, fmt.Errorf("user externalIds: %w", err)
	}
	defer rows.Close()
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
// Gatehouse's membership events whose data names the user as member. The
// second arm repeats the partial index's predicate so that the planner can
// use it.
func (s *Store) UserEvents(ctx context.Context, userID string, beforeSeq int64, limit int) ([]*directory.EventRecord, error) {
	if !storable(userID) {
		return nil, nil
	}
	if limit <= 0 {
		limit = 100
	}
	if beforeSeq <= 0 {
		beforeSeq = math.MaxInt64
	}
	rows, err := s.pool.Query(ctx, `(SELECT `+eventCols+` FROM events WHERE subject = $1 AND seq < $3 ORDER BY seq DESC LIMIT $4)
		UNION ALL
		(SELECT `+eventCols+` FROM events
			WHERE ((data::jsonb) ->> 'member') = $2 AND seq < $3
				AND source = '' AND type IN ('Group.MemberAdded', 'Group.MemberRemoved')
			ORDER BY seq DESC LIMIT $4)
		ORDER BY seq DESC LIMIT $4`,
		"users/"+userID, userID, beforeSeq, limit)
	if err != nil {
		return nil, fmt.Errorf("read user events: %w", err)
	}
	out, err := collect(rows, scanEventRecord)
	if err != nil {
		return nil, fmt.Errorf("read user events: %w", err)
	}
	return out, nil
}

// EventDocuments returns the documents still kept of the events seqs, in
// seq order.
func (s *Store) EventDocuments(ctx context.Context, seqs []int64) ([]*events.EventDoc, error) {
	if len(seqs) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT seq, id, doc FROM event_docs WHERE seq = ANY($1::bigint[]) ORDER BY seq`, slices.Clone(seqs))
	if err != nil {
		return nil, fmt.Errorf("read event documents: %w", err)
	}
	out, err := collect(rows, func(sc scanner) (*events.EventDoc, error) {
		var d events.EventDoc
		var doc string
		if err := sc.Scan(&d.Seq, &d.ID, &doc); err != nil {
			return nil, err
		}
		d.Doc = json.RawMessage(doc)
		return &d, nil
	})
	if err != nil {
		return nil, fmt.Errorf("read event documents: %w", err)
	}
	return out, nil
}

// EventDeliveries returns the deliveries of the events seqs, by event and
// creation, and their attempts, by delivery and number: one statement, so
// that attempts and deliveries agree.
func (s *Store) EventDeliveries(ctx context.Context, seqs []int64) ([]*events.Delivery, []*events.Attempt, error) {
	if len(seqs) == 0 {
		return nil, nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryCols+`, a.n, a.at, a.outcome, a.status, a.latency_us, a.response, a.error
		FROM deliveries d LEFT JOIN delivery_attempts a ON a.delivery_id = d.id
		WHERE d.event_seq = ANY($1::bigint[])
		ORDER BY d.event_seq, d.created, d.id COLLATE "C", a.n`, slices.Clone(seqs))
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
			n, status     pgtype.Int4
			us            pgtype.Int8
			at            pgtype.Timestamptz
			outcome       pgtype.Text
			resp, errText pgtype.Text
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
		att = append(att, &events.Attempt{DeliveryID: d.ID, N: int(n.Int32), At: at.Time.UTC(), Outcome: outcome.String,
			Status: int(status.Int32), Latency: time.Duration(us.Int64) * time.Microsecond, Response: resp.String, Error: errText.String})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("read deliveries: %w", err)
	}
	return ds, att, nil
}

// RuleStarts returns, for each rule that has come into force, the seq of
// the last event written before it did (it routes only the events after).
func (s *Store) RuleStarts(ctx context.Context) (map[string]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, seq FROM rule_starts`)
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
