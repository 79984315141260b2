package cli

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

// migrate is `gatehouse migrate status|up`: the database schema. serve
// applies pending migrations at start; these commands show them first,
// and apply them as a step of their own (docs/operations.md, "Upgrading").

func (e *env) migrate(args []string) error {
	var dry, showSQL *bool
	load := func(c *cmd) (config.Config, error) { return config.Load(c.flags, c.e.getenv) }
	subs := map[string]*sub{
		"status": {
			about: "list the migrations this build has and which the database has applied; change nothing",
			noApp: true,
			run: func(c *cmd) error {
				cfg, err := load(c)
				if err != nil {
					return err
				}
				st, err := app.Migrations(c.e.ctx, cfg)
				if err != nil {
					return err
				}
				return c.print(st, func() { c.printMigrations(st, false) })
			},
		},
		"up": {
			about: "apply the pending migrations (--dry-run: list them, with --sql their SQL; change nothing)",
			noApp: true,
			flags: func(fs *flag.FlagSet) func() error {
				dry = fs.Bool("dry-run", false, "list the migrations that would be applied; change nothing")
				showSQL = fs.Bool("sql", false, "with --dry-run: print each pending migration's SQL")
				return func() error {
					if *showSQL && !*dry {
						return usagef("migrate up: --sql goes with --dry-run")
					}
					return nil
				}
			},
			run: func(c *cmd) error {
				cfg, err := load(c)
				if err != nil {
					return err
				}
				st, err := app.Migrations(c.e.ctx, cfg)
				if err != nil {
					return err
				}
				if st.Database == "sqlite" && !st.Exists {
					return fmt.Errorf("there is no database at %s: check --data-dir or --database-url (gatehouse serve creates a new one)", st.Path)
				}
				if *dry {
					return c.print(st, func() {
						c.printMigrations(st, true)
						if *showSQL {
							for _, m := range st.Migrations {
								if m.Applied == nil {
									c.printf("\n-- %s\n%s\n", m.Name, strings.TrimRight(m.SQL, "\n"))
								}
							}
						}
					})
				}
				before := st.Pending
				log, _ := logging.New(c.e.stderr, logging.Options{Format: "text", Level: slog.LevelWarn})
				after, err := app.Migrate(c.e.ctx, cfg, log)
				if errors.Is(err, app.ErrNoDatabase) {
					return fmt.Errorf("there is no database at %s", st.Path)
				}
				if err != nil {
					return err
				}
				return c.print(after, func() {
					c.printf("Applied %d migration(s) to %s; %d pending.\n", before-after.Pending, dbName(after), after.Pending)
				})
			},
		},
	}
	return e.runGroup(&group{name: "migrate", about: "The database schema. serve applies pending migrations when it starts; these commands show\n" +
		"them first and apply them as a step of their own. Back up before an upgrade (docs/operations.md).",
		order: []string{"status", "up"}, subs: subs}, args)
}

func dbName(st *app.MigrationStatus) string {
	if st.Database == "sqlite" {
		return "SQLite database " + st.Path
	}
	return "the PostgreSQL database"
}

// printMigrations prints the migrations table and what it means.
func (c *cmd) printMigrations(st *app.MigrationStatus, dry bool) {
	if !st.Exists {
		c.printf("There is no database yet (%s): every migration is pending; serve applies them when it creates it.\n", dbName(st))
	} else {
		c.printf("%s: %d migration(s) applied, %d pending.\n", dbName(st), len(st.Migrations)-st.Pending-st.Unknown, st.Pending)
	}
	var rows [][]string
	for _, m := range st.Migrations {
		state := "pending"
		switch {
		case m.Unknown:
			state = "applied " + fmtTime(*m.Applied) + " (unknown to this build)"
		case m.Applied != nil:
			state = "applied " + fmtTime(*m.Applied)
		}
		rows = append(rows, []string{strconv.Itoa(m.Version), m.Name, state, m.About})
	}
	_ = table(c.e.stdout, []string{"VERSION", "NAME", "STATE", "WHAT"}, rows)
	if st.Unknown > 0 {
		c.printf("The database has %d migration(s) this build does not know: it was used by a newer Gatehouse. Run that version.\n", st.Unknown)
	}
	if dry && st.Exists {
		if st.Pending == 0 {
			c.printf("Nothing to apply.\n")
		} else {
			c.printf("Dry run: `gatehouse migrate up` (or starting serve) would apply the %d pending migration(s), each in its own transaction. Nothing was changed.\n", st.Pending)
		}
	}
}
