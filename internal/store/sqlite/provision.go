package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/provision"
)

var (
	_ provision.LinkStore = (*Store)(nil)
	_ provision.LinkIndex = (*Store)(nil)
)

// Links returns every link of scope.
func (s *Store) Links(ctx context.Context, scope string) ([]provision.Link, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT kind, local_id, remote_id, hash, updated FROM sync_links WHERE scope = ? ORDER BY kind, local_id`, scope)
	if err != nil {
		return nil, fmt.Errorf("links: %w", err)
	}
	defer rows.Close()
	var out []provision.Link
	for rows.Next() {
		var l provision.Link
		var updated string
		if err := rows.Scan(&l.Kind, &l.LocalID, &l.RemoteID, &l.Hash, &updated); err != nil {
			return nil, fmt.Errorf("links: %w", err)
		}
		if l.Updated, err = parseTime(updated); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// LinkOf returns the link of localID (ok false when it has none).
func (s *Store) LinkOf(ctx context.Context, scope, kind, localID string) (provision.Link, bool, error) {
	return s.oneLink(ctx, `SELECT kind, local_id, remote_id, hash, updated FROM sync_links WHERE scope = ? AND kind = ? AND local_id = ?`,
		scope, kind, localID)
}

// LinkTo returns the link that holds remoteID (ok false when none does).
func (s *Store) LinkTo(ctx context.Context, scope, kind, remoteID string) (provision.Link, bool, error) {
	return s.oneLink(ctx, `SELECT kind, local_id, remote_id, hash, updated FROM sync_links WHERE scope = ? AND kind = ? AND remote_id = ?`,
		scope, kind, remoteID)
}

func (s *Store) oneLink(ctx context.Context, query string, args ...any) (provision.Link, bool, error) {
	var l provision.Link
	var updated string
	err := s.r.QueryRowContext(ctx, query, args...).Scan(&l.Kind, &l.LocalID, &l.RemoteID, &l.Hash, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return provision.Link{}, false, nil
	}
	if err != nil {
		return provision.Link{}, false, fmt.Errorf("link: %w", err)
	}
	if l.Updated, err = parseTime(updated); err != nil {
		return provision.Link{}, false, err
	}
	return l, true, nil
}

// PutLinks creates or replaces links, in one transaction.
func (s *Store) PutLinks(ctx context.Context, scope string, links []provision.Link) error {
	if len(links) == 0 {
		return nil
	}
	return s.submit(ctx, func(t *tx) error {
		for _, l := range links {
			updated := l.Updated
			if updated.IsZero() {
				updated = time.Now()
			}
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM sync_links WHERE scope = ? AND kind = ? AND remote_id = ? AND local_id <> ?`,
				scope, l.Kind, l.RemoteID, l.LocalID); err != nil {
				return fmt.Errorf("put link: %w", err)
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO sync_links (scope, kind, local_id, remote_id, hash, updated) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (scope, kind, local_id) DO UPDATE SET remote_id = excluded.remote_id, hash = excluded.hash, updated = excluded.updated`,
				scope, l.Kind, l.LocalID, l.RemoteID, l.Hash, fmtTime(updated)); err != nil {
				return fmt.Errorf("put link: %w", err)
			}
		}
		return nil
	})
}

// DeleteLinks removes the links of these local ids.
func (s *Store) DeleteLinks(ctx context.Context, scope, kind string, localIDs []string) error {
	if len(localIDs) == 0 {
		return nil
	}
	return s.submit(ctx, func(t *tx) error {
		for _, id := range localIDs {
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM sync_links WHERE scope = ? AND kind = ? AND local_id = ?`, scope, kind, id); err != nil {
				return fmt.Errorf("delete link: %w", err)
			}
		}
		return nil
	})
}

// SyncState returns the state saved for scope.
func (s *Store) SyncState(ctx context.Context, scope string) (string, error) {
	var state string
	err := s.r.QueryRowContext(ctx, `SELECT state FROM sync_state WHERE scope = ?`, scope).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("sync state: %w", err)
	}
	return state, nil
}

// SetSyncState saves the state of scope.
func (s *Store) SetSyncState(ctx context.Context, scope, state string) error {
	_, err := s.writeExec(ctx, `INSERT INTO sync_state (scope, state, updated) VALUES (?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET state = excluded.state, updated = excluded.updated`, scope, state, fmtTime(time.Now()))
	if err != nil {
		return fmt.Errorf("set sync state: %w", err)
	}
	return nil
}

// AddSyncState saves state as the state of scope unless scope has one,
// and returns the state scope has: state, or the one saved first.
func (s *Store) AddSyncState(ctx context.Context, scope, state string) (string, error) {
	var stored string
	err := s.submit(ctx, func(t *tx) error {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO sync_state (scope, state, updated) VALUES (?, ?, ?)
			ON CONFLICT (scope) DO NOTHING`, scope, state, fmtTime(time.Now())); err != nil {
			return err
		}
		return t.tx.QueryRowContext(ctx, `SELECT state FROM sync_state WHERE scope = ?`, scope).Scan(&stored)
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
	err := s.r.QueryRowContext(ctx, `SELECT id FROM groups WHERE display_name_lower = ?`, strings.ToLower(displayName)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("Group", displayName)
	}
	return id, err
}
