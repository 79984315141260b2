// Command floor is the second yardstick of docs/benchmarks.md: the least
// any server must do to answer GET /scim/v2/Users/{id} from Gatehouse's
// database — read the user's row by id with the same driver Gatehouse uses
// (modernc.org/sqlite through database/sql, or pgx) and write its columns
// as a JSON object. No authentication, no logging, no SCIM document, no
// groups or externalId; the bench/wrk scripts run against it unchanged
// (it ignores their Authorization header). Its rate, as a ratio of the
// trivial handler's, bounds what Gatehouse's GET by id can reach on a
// machine.
//
//	go run ./bench/floor -database-url /tmp/bench/sqlite-1000000/gatehouse.db -listen 127.0.0.1:18083
//	go run ./bench/floor -database-url 'postgres://postgres@127.0.0.1:5432/gatehouse_bench?sslmode=disable'
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"log"
	"net/http"
	"net/url"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite"
)

const query = `SELECT id, user_name, display_name, active, attrs, created, modified, version FROM users WHERE id = `

type row struct {
	ID          string          `json:"id"`
	UserName    string          `json:"userName"`
	DisplayName *string         `json:"displayName,omitempty"`
	Active      bool            `json:"active"`
	Attrs       json.RawMessage `json:"attrs"`
	Created     string          `json:"created"`
	Modified    string          `json:"modified"`
	Version     int64           `json:"version"`
}

func main() {
	dbURL := flag.String("database-url", "", "SQLite file or postgres:// URL of a seeded Gatehouse database")
	addr := flag.String("listen", "127.0.0.1:18083", "listen address")
	flag.Parse()
	var read func(ctx context.Context, id string) (*row, error)
	if strings.HasPrefix(*dbURL, "postgres://") || strings.HasPrefix(*dbURL, "postgresql://") {
		cfg, err := pgxpool.ParseConfig(*dbURL)
		if err != nil {
			log.Fatal(err)
		}
		cfg.MaxConns = int32(4 * runtime.GOMAXPROCS(0)) // Gatehouse's pool
		pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
		if err != nil {
			log.Fatal(err)
		}
		read = func(ctx context.Context, id string) (*row, error) {
			var r row
			var created, modified any
			err := pool.QueryRow(ctx, query+`$1`, id).Scan(&r.ID, &r.UserName, &r.DisplayName, &r.Active, &r.Attrs, &created, &modified, &r.Version)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, nil
			}
			return &r, err
		}
	} else {
		// Gatehouse's read connections: query_only, no memory map.
		db, err := sql.Open("sqlite", "file:"+url.PathEscape(*dbURL)+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=mmap_size(0)")
		if err != nil {
			log.Fatal(err)
		}
		conns := max(4, 2*runtime.GOMAXPROCS(0))
		db.SetMaxOpenConns(conns)
		db.SetMaxIdleConns(conns)
		stmt, err := db.Prepare(query + `?`)
		if err != nil {
			log.Fatal(err)
		}
		read = func(_ context.Context, id string) (*row, error) {
			var r row
			var attrs string
			err := stmt.QueryRow(id).Scan(&r.ID, &r.UserName, &r.DisplayName, &r.Active, &attrs, &r.Created, &r.Modified, &r.Version)
			if errors.Is(err, sql.ErrNoRows) {
				return nil, nil
			}
			r.Attrs = json.RawMessage(attrs)
			return &r, err
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("GET /scim/v2/Users/{id}", func(w http.ResponseWriter, req *http.Request) {
		r, err := read(req.Context(), req.PathValue("id"))
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case r == nil:
			http.NotFound(w, req)
		default:
			b, _ := json.Marshal(r)
			w.Header().Set("Content-Type", "application/scim+json")
			_, _ = w.Write(b)
		}
	})
	log.Fatal(http.ListenAndServe(*addr, mux))
}
