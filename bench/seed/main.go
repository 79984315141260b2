// Command seed fills a Gatehouse database with synthetic users for the
// benchmarks in docs/benchmarks.md, writing straight to the store in large
// transactions (seeding 1,000,000 users through the API would measure the
// API, not set up the data). It also creates an application and a token,
// and writes the ids, user names and token the load scripts read.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

func main() {
	var (
		dbURL = flag.String("database-url", "", "database (SQLite path or postgres:// URL)")
		n     = flag.Int("users", 100000, "number of users")
		batch = flag.Int("batch", 5000, "users per transaction")
		out   = flag.String("out", "bench/out", "directory for ids.txt, names.txt, token.txt and client.txt")
		keep  = flag.Int("keep", 20000, "how many ids and names to write for the load scripts (random sample by stride)")
	)
	flag.Parse()
	ctx := context.Background()
	cfg := config.Default()
	cfg.DatabaseURL = *dbURL
	cfg.SQLiteSynchronous = "NORMAL" // seeding only; the server under test uses its own setting
	st, err := app.OpenStore(ctx, cfg, slog.Default())
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	ids, err := os.Create(filepath.Join(*out, "ids.txt"))
	if err != nil {
		log.Fatal(err)
	}
	defer ids.Close()
	names, err := os.Create(filepath.Join(*out, "names.txt"))
	if err != nil {
		log.Fatal(err)
	}
	defer names.Close()

	// The application first: the users' externalIds are in its
	// provisioning domain (its id), as if it had pushed them.
	svc := auth.NewService(st, auth.Options{NewID: app.NewID})
	bench := directory.Actor{Kind: "cli", RequestID: "bench-seed"}
	appl, err := svc.CreateApp(ctx, bench, auth.AppSpec{Name: fmt.Sprintf("bench-%d", time.Now().UnixNano()), Profile: directory.IDaaSProfile()})
	if err != nil {
		log.Fatal(err)
	}

	depts := []string{"Engineering", "Sales", "Finance", "Legal", "Support", "Marketing", "Operations", "Research"}
	stride := max(*n / *keep, 1)
	start := time.Now()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for lo := 0; lo < *n; lo += *batch {
		hi := min(lo+*batch, *n)
		err := st.Write(ctx, func(tx directory.Tx) error {
			for i := lo; i < hi; i++ {
				name := fmt.Sprintf("user%07d@example.com", i)
				u := &directory.User{
					ID: app.NewID(), UserName: name,
					DisplayName: fmt.Sprintf("User %d", i), Active: true, OrgID: directory.RootOrgID,
					Attrs: directory.Attrs{
						"name":   map[string]any{"givenName": "User", "familyName": fmt.Sprintf("Number%07d", i)},
						"emails": []any{map[string]any{"value": name, "type": "work", "primary": true}},
						directory.EnterpriseURN: map[string]any{
							"department": depts[i%len(depts)], "employeeNumber": fmt.Sprintf("%07d", i),
						},
					},
					Created: now, Modified: now, Version: 1,
				}
				if err := tx.InsertUser(ctx, u); err != nil {
					return err
				}
				if err := tx.SetUserExternalID(ctx, u.ID, appl.ID, fmt.Sprintf("ext-%07d", i)); err != nil {
					return err
				}
				if i%stride == 0 {
					fmt.Fprintln(ids, u.ID)
					fmt.Fprintln(names, name)
				}
			}
			return nil
		})
		if err != nil {
			log.Fatal(err)
		}
		if hi%100000 == 0 || hi == *n {
			log.Printf("%d users, %.0f/s", hi, float64(hi)/time.Since(start).Seconds())
		}
	}
	_, secret, err := svc.CreateToken(ctx, bench, appl.ID, 0)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "token.txt"), []byte(secret+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	// A server application with a client secret, for the token endpoint
	// benchmark (client.txt holds "client_id:secret").
	srv, err := svc.CreateApp(ctx, bench, auth.AppSpec{Name: fmt.Sprintf("bench-oauth-%d", time.Now().UnixNano()), Kind: auth.KindServerApp})
	if err != nil {
		log.Fatal(err)
	}
	_, cs, err := svc.CreateSecret(ctx, bench, srv.ID)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*out, "client.txt"), []byte(srv.ID+":"+cs+"\n"), 0o600); err != nil {
		log.Fatal(err)
	}
	log.Printf("seeded %d users in %s", *n, time.Since(start).Round(time.Millisecond))
}
