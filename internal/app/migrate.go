package app

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/store/postgres"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlite"
)

// MigrationStatus is where the configured database's schema stands: the
// migrations this build embeds, which are applied, which are pending.
type MigrationStatus struct {
	// Database is "sqlite" or "postgres"; Path is the SQLite file (a
	// PostgreSQL URL is not shown: it may hold a password).
	Database string `json:"database"`
	Path     string `json:"path,omitempty"`
	// Exists is false when there is no database yet (no SQLite file, or no
	// Gatehouse tables in the PostgreSQL database).
	Exists     bool             `json:"exists"`
	Migrations []MigrationState `json:"migrations"`
	Pending    int              `json:"pending"`
	// Unknown counts applied migrations this build does not have: the
	// database was used by a newer Gatehouse.
	Unknown int `json:"unknown"`
}

// MigrationState is one migration and whether the database has it.
type MigrationState struct {
	Version int        `json:"version"`
	Name    string     `json:"name,omitempty"`
	About   string     `json:"about,omitempty"`
	Applied *time.Time `json:"applied,omitempty"`
	// Unknown: applied by a newer Gatehouse; this build does not have it.
	Unknown bool   `json:"unknown,omitempty"`
	SQL     string `json:"-"`
}

// Migrations reports the configured database's migrations without
// changing the database, nor creating it.
func Migrations(ctx context.Context, cfg config.Config) (*MigrationStatus, error) {
	kind, loc, err := cfg.Database()
	if err != nil {
		return nil, err
	}
	st := &MigrationStatus{Database: kind}
	type mig struct {
		version          int
		name, about, sql string
	}
	var embedded []mig
	var applied map[int]time.Time
	switch kind {
	case "postgres":
		ms, err := postgres.Migrations()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			embedded = append(embedded, mig{m.Version, m.Name, m.About, m.SQL})
		}
		if applied, st.Exists, err = postgres.AppliedMigrations(ctx, loc, ""); err != nil {
			return nil, err
		}
	default:
		st.Path = loc
		ms, err := sqlite.Migrations()
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			embedded = append(embedded, mig{m.Version, m.Name, m.About, m.SQL})
		}
		if applied, st.Exists, err = sqlite.AppliedMigrations(ctx, loc); err != nil {
			return nil, err
		}
	}
	known := map[int]bool{}
	for _, m := range embedded {
		known[m.version] = true
		s := MigrationState{Version: m.version, Name: m.name, About: m.about, SQL: m.sql}
		if at, ok := applied[m.version]; ok {
			s.Applied = &at
		} else {
			st.Pending++
		}
		st.Migrations = append(st.Migrations, s)
	}
	for v, at := range applied {
		if !known[v] {
			st.Migrations = append(st.Migrations, MigrationState{Version: v, Applied: &at, Unknown: true})
			st.Unknown++
		}
	}
	slices.SortFunc(st.Migrations, func(a, b MigrationState) int { return cmp.Compare(a.Version, b.Version) })
	return st, nil
}

// Migrate applies the pending migrations to the configured database (each
// in its own transaction, as serve does at start) and reports the status
// after. It does not create an SQLite database that does not exist: that
// is serve's first start.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) (*MigrationStatus, error) {
	st, err := Migrations(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if st.Database == "sqlite" && !st.Exists {
		return nil, ErrNoDatabase
	}
	s, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	return Migrations(ctx, cfg)
}
