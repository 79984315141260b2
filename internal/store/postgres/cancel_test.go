package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// A query whose context ends is cancelled in the server, not only
// abandoned by the client: when Users returns, the server no longer runs
// it. The query is made to wait, in the server, for a lock another session
// holds; it would wait as long as that session keeps it.
func TestDeadlineCancelsInServer(t *testing.T) {
	base := testURL(t)
	schemaName := freshSchema(t, base)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	appName := "gatehouse_cancel_" + hex.EncodeToString(b)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	s := openIn(t, u.String(), schemaName)
	mustWrite(t, s, insert("u1", "one@example.com"))

	ctx := context.Background()
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = pgx.Identifier{schemaName}.Sanitize()
	locker, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Close(ctx)
	lockTx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback(ctx) //nolint:errcheck
	if _, err := lockTx.Exec(ctx, `LOCK TABLE users IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	_, err = s.Users(qctx, directory.Query{Limit: 10, Count: true})
	if err == nil || !errors.Is(qctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("Users while the table is locked: %v, want the deadline to pass", err)
	}
	var running int
	if err := locker.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`, appName).Scan(&running); err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Errorf("%d statements still run in the server after their deadline", running)
	}
}
