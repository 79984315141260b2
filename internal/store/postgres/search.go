package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/search"
	"github.com/gatehouse-id/gatehouse/internal/search/embedded"
)

// The embedded search index's tables (migration 0016; docs/search.md).

var _ embedded.Store = (*Store)(nil)

// SearchGeneration implements embedded.Store.
func (s *Store) SearchGeneration(ctx context.Context) (int64, error) {
	var gen int64
	err := s.pool.QueryRow(ctx, `SELECT generation FROM search_meta WHERE id = 1`).Scan(&gen)
	return gen, err
}

const searchChunkCols = `id, collection, source, url, title, breadcrumb, body, groups, hash, vector`

// SearchChanges implements embedded.Store, in one repeatable-read
// transaction (one snapshot).
func (s *Store) SearchChanges(ctx context.Context, after int64, fn func(search.Chunk) error) (embedded.Changes, error) {
	var ch embedded.Changes
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return ch, err
	}
	defer tx.Rollback(ctx)
	var reset int64
	err = tx.QueryRow(ctx, `SELECT analyzer, model, dims, generation, reset_generation FROM search_meta WHERE id = 1`).
		Scan(&ch.Meta.Analyzer, &ch.Meta.Model, &ch.Meta.Dims, &ch.Generation, &reset)
	if err != nil {
		return ch, fmt.Errorf("read search index: %w", err)
	}
	ch.Full = after <= 0 || reset > after
	from := after
	if ch.Full {
		from = -1
	}
	rows, err := tx.Query(ctx, `SELECT `+searchChunkCols+` FROM search_chunks WHERE generation > $1 ORDER BY id`, from)
	if err != nil {
		return ch, fmt.Errorf("read search index: %w", err)
	}
	for rows.Next() {
		var c search.Chunk
		var crumbs, groups, vec []byte
		if err := rows.Scan(&c.ID, &c.Collection, &c.Source, &c.URL, &c.Title, &crumbs, &c.Text, &groups, &c.Hash, &vec); err != nil {
			rows.Close()
			return ch, fmt.Errorf("read search index: %w", err)
		}
		if err := json.Unmarshal(crumbs, &c.Breadcrumb); err != nil {
			rows.Close()
			return ch, fmt.Errorf("read search chunk %s: %w", c.ID, err)
		}
		if err := json.Unmarshal(groups, &c.Groups); err != nil {
			rows.Close()
			return ch, fmt.Errorf("read search chunk %s: %w", c.ID, err)
		}
		if c.Vector, err = decodeVector(vec); err != nil {
			rows.Close()
			return ch, fmt.Errorf("read search chunk %s: %w", c.ID, err)
		}
		if err := fn(c); err != nil {
			rows.Close()
			return ch, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return ch, fmt.Errorf("read search index: %w", err)
	}
	if !ch.Full {
		rows, err := tx.Query(ctx, `SELECT id FROM search_removed WHERE generation > $1`, after)
		if err != nil {
			return ch, fmt.Errorf("read search index: %w", err)
		}
		if ch.Removed, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return ch, fmt.Errorf("read search index: %w", err)
		}
	}
	return ch, nil
}

// SearchRefs implements embedded.Store.
func (s *Store) SearchRefs(ctx context.Context, collection string) ([]search.ChunkRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, source, hash FROM search_chunks WHERE collection = $1 ORDER BY id`, collection)
	if err != nil {
		return nil, fmt.Errorf("read search index: %w", err)
	}
	refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (search.ChunkRef, error) {
		var c search.ChunkRef
		err := r.Scan(&c.ID, &c.Source, &c.Hash)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read search index: %w", err)
	}
	return refs, nil
}

// ResetSearch implements embedded.Store.
func (s *Store) ResetSearch(ctx context.Context, m search.Meta) error {
	return s.write(ctx, func(t *tx) error {
		// The meta row first: its lock orders this reset with every other
		// change of the index.
		_, err := t.tx.Exec(ctx, `UPDATE search_meta SET analyzer = $1, model = $2, dims = $3,
			generation = generation + 1, reset_generation = generation + 1 WHERE id = 1`, m.Analyzer, m.Model, m.Dims)
		if err != nil {
			return fmt.Errorf("reset search index: %w", err)
		}
		for _, q := range []string{`DELETE FROM search_chunks`, `DELETE FROM search_removed`} {
			if _, err := t.tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("reset search index: %w", err)
			}
		}
		return nil
	})
}

// ApplySearch implements embedded.Store: the chunks, the removals and the
// document events in one transaction, under a new generation. The meta
// row's lock makes generations follow commit order; the audit head's lock
// (taken by every writer of events) makes the events' seqs follow it too.
func (s *Store) ApplySearch(ctx context.Context, b search.Batch, evs []*directory.EventRecord) error {
	return s.write(ctx, func(t *tx) error {
		if len(evs) > 0 {
			if _, err := t.tx.Exec(ctx, `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
		}
		var gen int64
		if err := t.tx.QueryRow(ctx, `UPDATE search_meta SET generation = generation + 1 WHERE id = 1 RETURNING generation`).Scan(&gen); err != nil {
			return fmt.Errorf("write search index: %w", err)
		}
		if len(b.Delete) > 0 {
			if _, err := t.tx.Exec(ctx, `DELETE FROM search_chunks WHERE id = ANY($1)`, b.Delete); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
			if _, err := t.tx.Exec(ctx, `INSERT INTO search_removed (id, generation) SELECT unnest($1::text[]), $2
				ON CONFLICT (id) DO UPDATE SET generation = excluded.generation`, b.Delete, gen); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
		}
		for i := 0; i < len(b.Put); i += 500 {
			batch := &pgx.Batch{}
			var ids []string
			for _, c := range b.Put[i:min(i+500, len(b.Put))] {
				crumbs, _ := json.Marshal(nonNilStrings(c.Breadcrumb))
				groups, _ := json.Marshal(nonNilStrings(c.Groups))
				batch.Queue(`INSERT INTO search_chunks (`+searchChunkCols+`, generation)
					VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
					ON CONFLICT (id) DO UPDATE SET collection = excluded.collection, source = excluded.source, url = excluded.url,
						title = excluded.title, breadcrumb = excluded.breadcrumb, body = excluded.body, groups = excluded.groups,
						hash = excluded.hash, vector = excluded.vector, generation = excluded.generation`,
					c.ID, c.Collection, c.Source, c.URL, c.Title, string(crumbs), c.Text, string(groups), c.Hash, encodeVector(c.Vector), gen)
				ids = append(ids, c.ID)
			}
			if err := t.tx.SendBatch(ctx, batch).Close(); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
			if _, err := t.tx.Exec(ctx, `DELETE FROM search_removed WHERE id = ANY($1)`, ids); err != nil {
				return fmt.Errorf("write search index: %w", err)
			}
		}
		return t.AppendEvents(ctx, evs)
	})
}

// AppendDocumentEvents writes document events alone (for a backend
// outside the database).
func (s *Store) AppendDocumentEvents(ctx context.Context, evs []*directory.EventRecord) error {
	return s.write(ctx, func(t *tx) error {
		if _, err := t.tx.Exec(ctx, `SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE`); err != nil {
			return fmt.Errorf("append events: %w", err)
		}
		return t.AppendEvents(ctx, evs)
	})
}

func nonNilStrings(s []string) []string {
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
