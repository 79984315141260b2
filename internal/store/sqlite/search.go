package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/embedded"
)

// The embedded search index's tables (migration 0016; docs/search.md).

var _ embedded.Store = (*Store)(nil)

// SearchGeneration implements embedded.Store.
func (s *Store) SearchGeneration(ctx context.Context) (int64, error) {
	var gen int64
	err := s.r.QueryRowContext(ctx, `SELECT generation FROM search_meta WHERE id = 1`).Scan(&gen)
	return gen, err
}

const searchChunkCols = `id, collection, source, url, title, breadcrumb, body, groups, hash, vector`

// SearchChanges implements embedded.Store, in one read transaction.
func (s *Store) SearchChanges(ctx context.Context, after int64, fn func(search.Chunk) error) (embedded.Changes, error) {
	var ch embedded.Changes
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return ch, err
	}
	defer tx.Rollback()
	var reset int64
	err = tx.QueryRowContext(ctx, `SELECT analyzer, model, dims, generation, reset_generation FROM search_meta WHERE id = 1`).
		Scan(&ch.Meta.Analyzer, &ch.Meta.Model, &ch.Meta.Dims, &ch.Generation, &reset)
	if err != nil {
		return ch, fmt.Errorf("read search index: %w", err)
	}
	ch.Full = after <= 0 || reset > after
	from := after
	if ch.Full {
		from = -1
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+searchChunkCols+` FROM search_chunks WHERE generation > ? ORDER BY id`, from)
	if err != nil {
		return ch, fmt.Errorf("read search index: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var c search.Chunk
		var crumbs, groups string
		var vec []byte
		if err := rows.Scan(&c.ID, &c.Collection, &c.Source, &c.URL, &c.Title, &crumbs, &c.Text, &groups, &c.Hash, &vec); err != nil {
			return ch, fmt.Errorf("read search index: %w", err)
		}
		if err := json.Unmarshal([]byte(crumbs), &c.Breadcrumb); err != nil {
			return ch, fmt.Errorf("read search chunk %s: %w", c.ID, err)
		}
		if err := json.Unmarshal([]byte(groups), &c.Groups); err != nil {
			return ch, fmt.Errorf("read search chunk %s: %w", c.ID, err)
		}
		if c.Vector, err = decodeVector(vec); err != nil {
			return ch, fmt.Errorf("read search chunk %s: %w", c.ID, err)
		}
		if err := fn(c); err != nil {
			return ch, err
		}
	}
	if err := rows.Err(); err != nil {
		return ch, fmt.Errorf("read search index: %w", err)
	}
	if !ch.Full {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM search_removed WHERE generation > ?`, after)
		if err != nil {
			return ch, fmt.Errorf("read search index: %w", err)
		}
		if ch.Removed, err = collectStrings(rows); err != nil {
			return ch, fmt.Errorf("read search index: %w", err)
		}
	}
	return ch, nil
}

// SearchRefs implements embedded.Store.
func (s *Store) SearchRefs(ctx context.Context, collection string) ([]search.ChunkRef, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, source, hash FROM search_chunks WHERE collection = ? ORDER BY id`, collection)
	if err != nil {
		return nil, fmt.Errorf("read search index: %w", err)
	}
	return collect(rows, func(sc scanner) (search.ChunkRef, error) {
		var r search.ChunkRef
		err := sc.Scan(&r.ID, &r.Source, &r.Hash)
		return r, err
	})
}

// ResetSearch implements embedded.Store.
func (s *Store) ResetSearch(ctx context.Context, m search.Meta) error {
	return s.submit(ctx, func(t *tx) error {
		for _, q := range []string{`DELETE FROM search_chunks`, `DELETE FROM search_removed`} {
			if _, err := t.tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("reset search index: %w", err)
			}
		}
		_, err := t.tx.ExecContext(ctx, `UPDATE search_meta SET analyzer = ?, model = ?, dims = ?,
			generation = generation + 1, reset_generation = generation + 1 WHERE id = 1`, m.Analyzer, m.Model, m.Dims)
		if err != nil {
			return fmt.Errorf("reset search index: %w", err)
		}
		return nil
	})
}

// ApplySearch implements embedded.Store: the chunks, the removals and the
// document events in one transaction, under a new generation.
func (s *Store) ApplySearch(ctx context.Context, b search.Batch, evs []*directory.EventRecord) error {
	return s.submit(ctx, func(t *tx) error {
		var gen int64
		if err := t.tx.QueryRowContext(ctx, `UPDATE search_meta SET generation = generation + 1 WHERE id = 1 RETURNING generation`).Scan(&gen); err != nil {
			return fmt.Errorf("write search index: %w", err)
		}
		for _, id := range b.Delete {
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM search_chunks WHERE id = ?`, id); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
			if _, err := t.tx.ExecContext(ctx, `INSERT INTO search_removed (id, generation) VALUES (?, ?)
				ON CONFLICT (id) DO UPDATE SET generation = excluded.generation`, id, gen); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
		}
		for _, c := range b.Put {
			crumbs, _ := json.Marshal(nonNil(c.Breadcrumb))
			groups, _ := json.Marshal(nonNil(c.Groups))
			_, err := t.tx.ExecContext(ctx, `INSERT INTO search_chunks (`+searchChunkCols+`, generation)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET collection = excluded.collection, source = excluded.source, url = excluded.url,
					title = excluded.title, breadcrumb = excluded.breadcrumb, body = excluded.body, groups = excluded.groups,
					hash = excluded.hash, vector = excluded.vector, generation = excluded.generation`,
				c.ID, c.Collection, c.Source, c.URL, c.Title, string(crumbs), c.Text, string(groups), c.Hash, encodeVector(c.Vector), gen)
			if err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
			if _, err := t.tx.ExecContext(ctx, `DELETE FROM search_removed WHERE id = ?`, c.ID); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
		}
		return t.AppendEvents(ctx, evs)
	})
}

// AppendDocumentEvents writes document events alone (for a backend
// outside the database).
func (s *Store) AppendDocumentEvents(ctx context.Context, evs []*directory.EventRecord) error {
	return s.submit(ctx, func(t *tx) error { return t.AppendEvents(ctx, evs) })
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// encodeVector stores a vector as little-endian float32s (nil: NULL).
func encodeVector(v []float32) []byte {
	if v == nil {
		return nil
	}
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

func decodeVector(b []byte) ([]float32, error) {
	if b == nil {
		return nil, nil
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("vector of %d bytes", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
