package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// Store-level benchmarks: the cost below HTTP. The end-to-end figures in
// docs/benchmarks.md come from bench/run.sh.

func seeded(b *testing.B, n int) (*sqlite.Store, []string) {
	b.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	ids := make([]string, 0, n)
	now := time.Now().UTC()
	for lo := 0; lo < n; lo += 1000 {
		err := st.Write(ctx, func(tx directory.Tx) error {
			for i := lo; i < min(lo+1000, n); i++ {
				u := &directory.User{
					ID: uuid.NewString(), UserName: fmt.Sprintf("user%07d@example.com", i), Active: true, OrgID: directory.RootOrgID,
					Attrs:   directory.Attrs{"emails": []any{map[string]any{"value": fmt.Sprintf("user%07d@example.com", i), "type": "work"}}},
					Created: now, Modified: now, Version: 1,
				}
				ids = append(ids, u.ID)
				if err := tx.InsertUser(ctx, u); err != nil {
					return err
				}
				if err := tx.SetUserExternalID(ctx, u.ID, benchDomain, fmt.Sprintf("ext-%07d", i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return st, ids
}

// benchDomain is the provisioning domain of the benchmarks' externalIds.
const benchDomain = "bench-app"

func BenchmarkGetUser(b *testing.B) {
	st, ids := seeded(b, 10000)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := st.User(ctx, ids[i%len(ids)], directory.ReadOptions{Groups: true, Domain: benchDomain}); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}

func benchFilter(b *testing.B, f func(i int) string) {
	st, _ := seeded(b, 10000)
	reg, _ := schema.NewRegistry(nil)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		e, err := filter.Parse(f(i % 10000))
		if err != nil {
			b.Fatal(err)
		}
		if err := filter.Resolve(e, reg.User); err != nil {
			b.Fatal(err)
		}
		p, err := st.Users(ctx, directory.Query{Filter: e, Limit: 100, Count: true, Read: directory.ReadOptions{Domain: benchDomain}})
		if err != nil || len(p.Items) != 1 {
			b.Fatalf("%v %d", err, len(p.Items))
		}
		i += 7919
	}
}

func BenchmarkFilterUserName(b *testing.B) {
	benchFilter(b, func(i int) string { return fmt.Sprintf(`userName eq "USER%07d@example.com"`, i) })
}

func BenchmarkFilterExternalID(b *testing.B) {
	benchFilter(b, func(i int) string { return fmt.Sprintf(`externalId eq "ext-%07d"`, i) })
}

func BenchmarkFilterEmail(b *testing.B) {
	benchFilter(b, func(i int) string {
		return fmt.Sprintf(`emails[type eq "work" and value eq "user%07d@example.com"]`, i)
	})
}

func BenchmarkCreateUser(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := directory.NewService(st, directory.Options{Policy: directory.DefaultPasswordPolicy(), NewID: uuid.NewString})
	i := 0
	for b.Loop() {
		_, _, err := svc.CreateUser(ctx, directory.Actor{Kind: "bench"}, directory.IDaaSProfile(), &directory.User{
			UserName: fmt.Sprintf("new%08d@example.com", i), Active: true,
			Attrs: directory.Attrs{"emails": []any{map[string]any{"value": fmt.Sprintf("new%08d@example.com", i), "type": "work"}}},
		})
		if err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCreateUserParallel creates users from 16 goroutines per CPU: the
// case group commit is for.
func BenchmarkCreateUserParallel(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := directory.NewService(st, directory.Options{Policy: directory.DefaultPasswordPolicy(), NewID: uuid.NewString})
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			_, _, err := svc.CreateUser(ctx, directory.Actor{Kind: "bench"}, directory.IDaaSProfile(), &directory.User{
				UserName: fmt.Sprintf("new%08d@example.com", i), Active: true,
				Attrs: directory.Attrs{"emails": []any{map[string]any{"value": fmt.Sprintf("new%08d@example.com", i), "type": "work"}}},
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}
