package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/provision"
)

var (
	_ provision.LinkStore = (*Store)(nil)
	_ provision.LinkIndex = (*Store)(nil)
)

// Links returns every link of scope.
func (s *Store) Links(ctx context.Context, scope string) ([]provision.Link, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, local_id, remote_id, hash, updated FROM sync_links WHERE scope = $1
		ORDER BY kind, local_id COLLATE "C"`, scope)
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (provision.Link, error) {
		var l provision.Link
		err := r.Scan(&l.Kind, &l.LocalID, &l.RemoteID, &l.Hash, &l.Updated)
		l.Updated = l.Updated.UTC()
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	return out, nil
}

// LinkOf returns the link of localID (ok false when it has none).
func (s *Store) LinkOf(ctx context.Context, scope, kind, localID string) (provision.Link, bool, error) {
	return s.oneLink(ctx, `SELECT kind, local_id, remote_id, hash, updated FROM sync_links WHERE scope = $1 AND kind = $2 AND local_id = $3`,
		scope, kind, localID)
}

// LinkTo returns the link that holds remoteID (ok false when none does).
func (s *Store) LinkTo(ctx context.Context, scope, kind, remoteID string) (provision.Link, bool, error) {
	return s.oneLink(ctx, `SELECT kind, local_id, remote_id, hash, updated FROM sync_links WHERE scope = $1 AND kind = $2 AND remote_id = $3`,
		scope, kind, remoteID)
}

func (s *Store) oneLink(ctx context.Context, query string, args ...any) (provision.Link, bool, error) {
	var l provision.Link
	err := s.pool.QueryRow(ctx, query, args...).Scan(&l.Kind, &l.LocalID, &l.RemoteID, &l.Hash, &l.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return provision.Link{}, false, nil
	}
	if err != nil {
		return provision.Link{}, false, fmt.Errorf("link: %w", err)
	}
	l.Updated = l.Updated.UTC()
	return l, true, nil
}

// PutLinks creates or replaces links, in one transaction.
func (s *Store) PutLinks(ctx context.Context, scope string, links []provision.Link) error {
	if len(links) == 0 {
		return nil
	}
	kinds, locals, remotes, hashes := make([]string, len(links)), make([]string, len(links)), make([]string, len(links)), make([]string, len(links))
	updated := make([]time.Time, len(links))
	for i, l := range links {
		kinds[i], locals[i], remotes[i], hashes[i], updated[i] = l.Kind, l.LocalID, l.RemoteID, l.Hash, l.Updated.UTC()
		if l.Updated.IsZero() {
			updated[i] = time.Now().UTC()
		}
	}
	return s.write(ctx, func(t *tx) error {
		if _, err := t.tx.Exec(ctx, `DELETE FROM sync_links l USING unnest($2::text[], $3::text[], $4::text[]) AS n (kind, local_id, remote_id)
			WHERE l.scope = $1 AND l.kind = n.kind AND l.remote_id = n.remote_id AND l.local_id <> n.local_id`,
			scope, kinds, locals, remotes); err != nil {
			return fmt.Errorf("put links: %w", err)
		}
		if _, err := t.tx.Exec(ctx, `INSERT INTO sync_links (scope, kind, local_id, remote_id, hash, updated)
			SELECT $1, n.kind, n.local_id, n.remote_id, n.hash, n.updated
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[]) AS n (kind, local_id, remote_id, hash, updated)
			ON CONFLICT (scope, kind, local_id) DO UPDATE SET remote_id = excluded.remote_id, hash = excluded.hash, updated = excluded.updated`,
			scope, kinds, locals, remotes, hashes, updated); err != nil {
			return conflict(err, "put links")
		}
		return nil
	})
}

// DeleteLinks removes the links of these local ids.
func (s *Store) DeleteLinks(ctx context.Context, scope, kind string, localIDs []string) error {
	if len(localIDs) == 0 {
		return nil
	}
	_, err := s.writeExec(ctx, "delete links", `DELETE FROM sync_links WHERE scope = $1 AND kind = $2 AND local_id = ANY($3)`, scope, kind, localIDs)
	return err
}

// SyncState returns the state saved for scope.
func (s *Store) SyncState(ctx context.Context, scope string) (string, error) {
	var state string
	err := s.pool.QueryRow(ctx, `SELECT state FROM sync_state WHERE scope = $1`, scope).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sync state: %w", err)
	}
	return state, nil
}

// SetSyncState saves the state of scope.
func (s *Store) SetSyncState(ctx context.Context, scope, state string) error {
	_, err := s.writeExec(ctx, "set sync state", `INSERT INTO sync_state (scope, state, updated) VALUES ($1, $2, $3)
		ON CONFLICT (scope) DO UPDATE SET state = excluded.state, updated = excluded.updated`, scope, state, time.Now().UTC())
	return err
}

// AddSyncState saves state as the state of scope unless scope has one,
// and returns the state scope has: state, or the one saved first.
func (s *Store) AddSyncState(ctx context.Context, scope, state string) (string, error) {
	var stored string
	err := s.write(ctx, func(t *tx) error {
		if _, err := t.tx.Exec(ctx, `INSERT INTO sync_state (scope, state, updated) VALUES ($1, $2, $3)
			ON CONFLICT (scope) DO NOTHING`, scope, state, time.Now().UTC()); err != nil {
			return err
		}
		return t.tx.QueryRow(ctx, `SELECT state FROM sync_state WHERE scope = $1`, scope).Scan(&stored)
	})
	if err != nil {
		return "", fmt.Errorf("add sync state: %w", err)
	}
	return stored, nil
}

// GroupIDByDisplayName finds a group by its display name, ignoring case
// (directory.ErrNotFound when none has it): the login policy binds the
// names of its configuration to groups with it.
func (s *Store) GroupIDByDisplayName(ctx context.Context, displayName string) (string, error) {
	var id string
	err := s.pool.QueryRow(ctx, `SELECT id FROM groups WHERE display_name_lower = $1`, strings.ToLower(displayName)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", notFound("Group", displayName)
	}
	return id, err
}
