package cli

import (
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/checkpoint"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// The administration commands work on the configured database directly,
// through the same operations as the admin API (internal/admin), and print
// the same JSON with --json.

// sub is one subcommand: what it does, its positional arguments, its
// flags and how it runs.
type sub struct {
	about string
	args  []arg
	// more: the last argument may be given any number of times, or not at
	// all (deliveries replay ID…).
	more bool
	// need names the required flags for the usage line ("--app APP").
	need string
	// noApp: run without opening the database (cmd.a is nil; cmd.flags
	// are the configuration flags given).
	noApp bool
	flags func(fs *flag.FlagSet) func() error
	run   func(c *cmd) error
}

// cmd is a subcommand being run.
type cmd struct {
	e      *env
	a      *app.App
	flags  config.Flags
	pos    []string
	asJSON bool
	set    map[string]bool // flags given
}

// group is a command made of subcommands (app create, app list, …).
type group struct {
	name  string
	about string
	order []string
	subs  map[string]*sub
}

// printHelp lists the group's subcommands.
func (g *group) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: gatehouse %s <subcommand> [arguments] [flags]\n\n%s\n\nSubcommands:\n", g.name, g.about)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, name := range g.order {
		sc := g.subs[name]
		h := cmdHelp{name: name, args: sc.args, more: sc.more, need: sc.need}
		fmt.Fprintf(tw, "  %s\t%s\n", strings.TrimSuffix(strings.TrimPrefix(h.synopsis(), "gatehouse "), " [flags]"), sc.about)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun \"gatehouse %s <subcommand> -h\" for its arguments and flags.\n", g.name)
}

// unknown is the usage error for a subcommand that is not one of g's.
func (g *group) unknown(name string) error {
	msg := fmt.Sprintf("unknown %s subcommand %q", g.name, name)
	if strings.HasPrefix(name, "-") {
		msg = fmt.Sprintf("%s: give the subcommand first, then %s", g.name, name)
	} else if s := suggest(name, g.order); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return usagef("%s (one of: %s)\nRun \"gatehouse %s -h\" for what each does.", msg, strings.Join(g.order, ", "), g.name)
}

// help returns the help of subcommand name.
func (g *group) help(name string) cmdHelp {
	sc := g.subs[name]
	about := sc.about
	if about != "" {
		about = strings.ToUpper(about[:1]) + about[1:] + "."
	}
	return cmdHelp{name: g.name + " " + name, args: sc.args, more: sc.more, need: sc.need, about: about}
}

// run runs one of g's subcommands: "-h" or "help" lists them (stdout).
func (e *env) runGroup(g *group, args []string) error {
	if len(args) == 0 {
		return usagef("%s needs a subcommand: %s\nRun \"gatehouse %s -h\" for what each does.", g.name, strings.Join(g.order, ", "), g.name)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		g.printHelp(e.stdout)
		return flag.ErrHelp
	}
	sc, ok := g.subs[args[0]]
	if !ok || sc.run == nil {
		return g.unknown(args[0])
	}
	name := g.name + " " + args[0]
	fs := e.newFlagSet(g.help(args[0]))
	var f config.Flags
	f.Register(fs.FlagSet, false)
	asJSON := fs.Bool("json", false, "print JSON (the admin API's shapes)")
	check := func() error { return nil }
	if sc.flags != nil {
		if chk := sc.flags(fs.FlagSet); chk != nil {
			check = chk
		}
	}
	pos, err := fs.parse(args[1:])
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if err := checkArgs(name, sc, pos, fs.Lookup("app") != nil && !set["app"]); err != nil {
		return err
	}
	if err := check(); err != nil {
		return err
	}
	c := &cmd{e: e, flags: f, pos: pos, asJSON: *asJSON, set: set}
	if sc.noApp {
		return sc.run(c)
	}
	if c.a, err = e.open(f); err != nil {
		return err
	}
	defer c.a.Close()
	return sc.run(c)
}

// checkArgs checks the number of positional arguments. appMissing says
// the subcommand takes an --app that was not given: a word too many is
// then most likely the application ("token create my-idp").
func checkArgs(name string, sc *sub, pos []string, appMissing bool) error {
	n, want := len(pos), len(sc.args)
	if n == want || (sc.more && n >= want-1) {
		return nil
	}
	if appMissing && n == want+1 {
		return usagef("%s: the application is given with --app: gatehouse %s --app %s%s", name, name, pos[0], argText(pos[1:]))
	}
	switch {
	case want == 0:
		return usagef("%s takes no arguments (got %s)\nRun \"gatehouse %s -h\" for its flags.", name, strings.Join(quoteAll(pos), " "), name)
	case n > want:
		return usagef("%s: too many arguments (got %s; want %s)\nRun \"gatehouse %s -h\" for its arguments and flags.", name,
			strings.Join(quoteAll(pos), " "), argNames(sc.args), name)
	}
	var missing []string
	for _, a := range sc.args[n:] {
		missing = append(missing, a.help)
	}
	return usagef("%s: give %s\nUsage: %s", name, strings.Join(missing, " and "), cmdHelp{name: name, args: sc.args, more: sc.more, need: sc.need}.synopsis())
}

func argText(pos []string) string {
	if len(pos) == 0 {
		return ""
	}
	return " " + strings.Join(pos, " ")
}

func argNames(args []arg) string {
	var names []string
	for _, a := range args {
		names = append(names, a.name)
	}
	return strings.Join(names, " ")
}

func quoteAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = strconv.Quote(s)
	}
	return out
}

func (c *cmd) print(v any, human func()) error {
	if c.asJSON {
		return printJSON(c.e.stdout, v)
	}
	human()
	return nil
}

func (c *cmd) printf(format string, args ...any) { fmt.Fprintf(c.e.stdout, format, args...) }

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.DateTime)
}

func fmtOptTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return fmtTime(*t)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, f)
	}
	return out
}

// ---- applications

// appFlags are the settings shared by app create and app update.
type appFlags struct {
	kind, scopes, mode, extraValues, targetOrg, syncOrgs, syncGroups, ext, name *string
	// Single sign-on applications (docs/sso.md).
	allowedGroups        *string
	everyone, requireSSO *bool
	minFactors           *int
}

func (f *appFlags) register(fs *flag.FlagSet, update bool) {
	if update {
		f.name = fs.String("name", "", "new name")
	} else {
		f.kind = fs.String("kind", "scim-client", "scim-client (pushes accounts), server-app (reads them), admin, "+
			"or a single sign-on application: saml-sp (a SAML service provider) or oidc-client (an OpenID Connect relying party)")
	}
	f.allowedGroups = fs.String("allowed-groups", "", "single sign-on applications: the groups (names or ids, comma-separated) whose members may use it; none: nobody, unless --everyone")
	f.everyone = fs.Bool("everyone", false, "single sign-on applications: every active person may use it")
	f.requireSSO = fs.Bool("require-sso", false, "single sign-on applications: record that it accepts only Gatehouse sessions (turn its own sign-in off on its side; docs/sso.md)")
	f.minFactors = fs.Int("min-factors", 0, "single sign-on applications: the factors a session needs to use it (0: the groups' policy; 1; 2)")
	f.scopes = fs.String("scopes", "", "permission scopes, comma- or space-separated: /acs/scim (all of SCIM), scim:users:read, scim:users:write, scim:groups:read, scim:groups:write, admin, metrics, events:write, docs:search (default: by kind)")
	f.mode = fs.String("mode", "idaas", "idaas (IDaaS semantics: idempotent creates, one work email and phone) or rfc (strict RFC 7644)")
	f.extraValues = fs.String("extra-values", "refuse", "idaas mode: a second email or phone number, or one not of type work, is refused "+
		"(refuse: 400 naming the IdP mapping to change) or dropped (drop: the work value, else one without a type, else the primary, else the first, is kept as work; the audit record notes the rest)")
	f.targetOrg = fs.String("target-org", directory.RootOrgID, "organization where accounts without organizationId land")
	f.syncOrgs = fs.String("sync-orgs", "", "synchronization scope: organization ids (with everything below them) the application sees; empty: all")
	f.syncGroups = fs.String("sync-groups", "", "synchronization scope: group ids (with their members) the application sees")
	f.ext = fs.String("extension", "", "custom extension namespace (URN) the application speaks")
}

func (f *appFlags) syncScope() *directory.SyncScope {
	return &directory.SyncScope{OrgIDs: splitList(*f.syncOrgs), GroupIDs: splitList(*f.syncGroups)}
}

func (c *cmd) showApp(x *admin.App) error {
	return c.print(x, func() {
		c.printf("Name:          %s\n", x.Name)
		c.printf("ID (client_id): %s\n", x.ID)
		c.printf("Kind:          %s\n", x.Kind)
		c.printf("Scopes:        %s\n", strings.Join(x.Scopes, " "))
		c.printf("Mode:          %s\n", x.Mode)
		if x.ExtraValues != "" {
			c.printf("Extra values:  %s\n", x.ExtraValues)
		}
		c.printf("Target org:    %s\n", x.TargetOrgID)
		c.printf("Sync scope:    %s\n", scopeText(x.SyncScope))
		if x.ExtensionURN != "" {
			c.printf("Extension:     %s\n", x.ExtensionURN)
		}
		if x.Kind.SSO() {
			switch {
			case x.Everyone != nil && *x.Everyone:
				c.printf("Allowed:       everyone\n")
			case len(x.AllowedGroups) == 0:
				c.printf("Allowed:       nobody yet (--allowed-groups, --everyone)\n")
			default:
				c.printf("Allowed:       groups %s\n", strings.Join(x.AllowedGroups, ", "))
			}
			if x.RequireSSO != nil && *x.RequireSSO {
				c.printf("Require SSO:   yes\n")
			}
			if x.MinFactors != nil && *x.MinFactors > 0 {
				c.printf("Min factors:   %d\n", *x.MinFactors)
			}
		}
		c.printf("Enabled:       %v\n", x.Enabled)
		c.printf("Created:       %s\n", fmtTime(x.Created))
		if x.Stats != nil {
			st := x.Stats
			c.printf("Requests:      %d (%d failed)\n", st.Requests, st.Failures)
			if len(st.ByReason) > 0 {
				reasons := make([]string, 0, len(st.ByReason))
				for r := range st.ByReason {
					reasons = append(reasons, r)
				}
				sort.Strings(reasons)
				for _, r := range reasons {
					c.printf("  %-24s %d\n", r, st.ByReason[r])
				}
			}
			if st.LastError != "" {
				c.printf("Last error:    %s (%s)\n", st.LastError, fmtOptTime(st.LastAt))
			}
		}
		if len(x.Tokens) > 0 {
			c.printf("\nBearer tokens:\n")
			_ = table(c.e.stdout, tokenHeader, tokenRows(x.Tokens))
		}
		if len(x.Secrets) > 0 {
			c.printf("\nClient secrets:\n")
			_ = table(c.e.stdout, secretHeader, secretRows(x.Secrets))
		}
	})
}

func scopeText(s directory.SyncScope) string {
	if s.All() {
		return "everything"
	}
	var parts []string
	if len(s.OrgIDs) > 0 {
		parts = append(parts, "organizations "+strings.Join(s.OrgIDs, ", "))
	}
	if len(s.GroupIDs) > 0 {
		parts = append(parts, "groups "+strings.Join(s.GroupIDs, ", "))
	}
	return strings.Join(parts, "; ")
}

func (e *env) app(args []string) error {
	var cf, uf appFlags
	var force *bool
	appArg := []arg{{"APP", "the application's name or id"}}
	setEnabled := func(enabled bool) *sub {
		about := "enable the application: its enabled credentials work again"
		if !enabled {
			about = "disable the application: every credential of it is refused at once"
		}
		return &sub{about: about, args: appArg, run: func(c *cmd) error {
			x, err := c.a.Admin.UpdateApp(c.e.ctx, cliActor(), c.pos[0], admin.AppPatch{Enabled: &enabled})
			if err != nil {
				return err
			}
			return c.print(x, func() {
				c.printf("Application %q is now %s.\n", x.Name, map[bool]string{true: "enabled", false: "disabled"}[enabled])
			})
		}}
	}
	subs := map[string]*sub{
		"create": {
			about: "create an application: a SCIM client (the default), a server application or an admin",
			args:  []arg{{"NAME", "the application's name"}},
			flags: func(fs *flag.FlagSet) func() error {
				cf.register(fs, false)
				return nil
			},
			run: func(c *cmd) error {
				in := admin.AppInput{Name: c.pos[0], Kind: auth.Kind(*cf.kind), Mode: *cf.mode, ExtraValues: *cf.extraValues, TargetOrgID: *cf.targetOrg,
					SyncScope: cf.syncScope(), ExtensionURN: *cf.ext,
					AllowedGroups: splitList(*cf.allowedGroups), Everyone: *cf.everyone, RequireSSO: *cf.requireSSO, MinFactors: *cf.minFactors}
				if c.set["scopes"] {
					in.Scopes = splitList(*cf.scopes)
					if in.Scopes == nil {
						in.Scopes = []string{}
					}
				}
				x, err := c.a.Admin.CreateApp(c.e.ctx, cliActor(), in)
				if err != nil {
					return err
				}
				return c.print(x, func() {
					mode := x.Mode
					if x.ExtraValues == "drop" {
						mode += " (extra values dropped)"
					}
					c.printf("Created application %q (id %s, kind %s, mode %s, scopes %s).\n", x.Name, x.ID, x.Kind, mode, strings.Join(x.Scopes, " "))
					switch {
					case x.Kind == "server-app":
						c.printf("Next: gatehouse secret create --app %s   (OAuth 2.0 client credentials; client_id %s)\n", x.Name, x.ID)
					case x.Kind.SSO():
						if x.Kind == auth.KindOIDCClient {
							c.printf("Next: gatehouse app oidc %s --redirect-uri https://app.example/callback   (OpenID Connect; client_id %s)\n", x.Name, x.ID)
						}
						if len(x.AllowedGroups) == 0 && (x.Everyone == nil || !*x.Everyone) {
							c.printf("Nobody may use it yet: gatehouse app update %s --allowed-groups GROUP[,GROUP…] (or --everyone)\n", x.Name)
						}
					default:
						c.printf("Next: gatehouse token create --app %s\n", x.Name)
					}
				})
			},
		},
		"list": {about: "list the applications", run: func(c *cmd) error {
			apps, err := c.a.Admin.ListApps(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(admin.Items(apps), func() {
				var rows [][]string
				for _, x := range apps {
					rows = append(rows, []string{x.Name, x.ID, string(x.Kind), x.Mode, strings.Join(x.Scopes, " "), scopeText(x.SyncScope), strconv.FormatBool(x.Enabled)})
				}
				_ = table(c.e.stdout, []string{"NAME", "ID", "KIND", "MODE", "SCOPES", "SYNC SCOPE", "ENABLED"}, rows)
			})
		}},
		"show": {about: "show an application with its tokens, secrets and request counts", args: appArg, run: func(c *cmd) error {
			x, err := c.a.Admin.GetApp(c.e.ctx, c.pos[0])
			if err != nil {
				return err
			}
			return c.showApp(x)
		}},
		"update": {
			about: "change an application's name, scopes, mode, target organization, synchronization scope or extension",
			args:  appArg,
			flags: func(fs *flag.FlagSet) func() error {
				uf.register(fs, true)
				return nil
			},
			run: func(c *cmd) error {
				var p admin.AppPatch
				if c.set["name"] {
					p.Name = uf.name
				}
				if c.set["scopes"] {
					sc := splitList(*uf.scopes)
					if sc == nil {
						sc = []string{}
					}
					p.Scopes = &sc
				}
				if c.set["mode"] {
					p.Mode = uf.mode
				}
				if c.set["extra-values"] {
					p.ExtraValues = uf.extraValues
				}
				if c.set["target-org"] {
					p.TargetOrgID = uf.targetOrg
				}
				if c.set["sync-orgs"] || c.set["sync-groups"] {
					cur, err := c.a.Admin.GetApp(c.e.ctx, c.pos[0])
					if err != nil {
						return err
					}
					sc := cur.SyncScope
					if c.set["sync-orgs"] {
						sc.OrgIDs = splitList(*uf.syncOrgs)
					}
					if c.set["sync-groups"] {
						sc.GroupIDs = splitList(*uf.syncGroups)
					}
					p.SyncScope = &sc
				}
				if c.set["extension"] {
					p.ExtensionURN = uf.ext
				}
				if c.set["allowed-groups"] {
					g := splitList(*uf.allowedGroups)
					if g == nil {
						g = []string{}
					}
					p.AllowedGroups = &g
				}
				if c.set["everyone"] {
					p.Everyone = uf.everyone
				}
				if c.set["require-sso"] {
					p.RequireSSO = uf.requireSSO
				}
				if c.set["min-factors"] {
					p.MinFactors = uf.minFactors
				}
				if p == (admin.AppPatch{}) {
					return usagef("app update: give at least one of --name, --scopes, --mode, --extra-values, --target-org, --sync-orgs, --sync-groups, --extension, " +
						"--allowed-groups, --everyone, --require-sso, --min-factors")
				}
				x, err := c.a.Admin.UpdateApp(c.e.ctx, cliActor(), c.pos[0], p)
				if err != nil {
					return err
				}
				return c.showApp(x)
			},
		},
		"enable":  setEnabled(true),
		"disable": setEnabled(false),
		"oidc":    e.appOIDC(),
		"delete": {
			about: "delete an application with its tokens and secrets; one with enabled credentials needs --force",
			args:  appArg,
			flags: func(fs *flag.FlagSet) func() error {
				force = fs.Bool("force", false, "delete even if the application has enabled tokens or client secrets (its clients are cut off at once)")
				return nil
			},
			run: func(c *cmd) error {
				x, err := c.a.Admin.DeleteApp(c.e.ctx, cliActor(), c.pos[0], *force)
				if directory.Field(err) == "force" {
					return fmt.Errorf("%s.\nDisable the application first (gatehouse app disable %s: its clients are refused, and it can be undone), "+
						"or delete it anyway: gatehouse app delete %s --force", errMessage(err), c.pos[0], c.pos[0])
				}
				if err != nil {
					return err
				}
				return c.print(x, func() { c.printf("Deleted application %q with its tokens and secrets.\n", x.Name) })
			},
		},
	}
	return e.runGroup(&group{name: "app", about: "Manage applications: SCIM clients (IdPs that push accounts), server applications (services that read them) and admins.",
		order: []string{"create", "list", "show", "update", "enable", "disable", "delete", "oidc"}, subs: subs}, args)
}

// ---- bearer tokens and client secrets

var (
	tokenHeader  = []string{"ID", "TOKEN", "ENABLED", "EXPIRES", "LAST USED", "USES"}
	secretHeader = []string{"ID", "SECRET", "ENABLED", "CREATED", "LAST USED", "USES"}
)

func tokenRows(toks []admin.Token) [][]string {
	var rows [][]string
	for _, t := range toks {
		exp := fmtTime(t.Expires)
		if t.Expired {
			exp += " (expired)"
		}
		rows = append(rows, []string{t.ID, t.Hint, strconv.FormatBool(t.Enabled), exp, fmtOptTime(t.LastUsed), strconv.FormatInt(t.UseCount, 10)})
	}
	return rows
}

func secretRows(secs []admin.Secret) [][]string {
	var rows [][]string
	for _, s := range secs {
		rows = append(rows, []string{s.ID, s.Hint, strconv.FormatBool(s.Enabled), fmtTime(s.Created), fmtOptTime(s.LastUsed), strconv.FormatInt(s.UseCount, 10)})
	}
	return rows
}

// credentialCommands builds the subcommands of token and secret.
func (e *env) credentials(name string, args []string) error {
	var appRef, valid *string
	appFlag := func(extra func(fs *flag.FlagSet)) func(fs *flag.FlagSet) func() error {
		return func(fs *flag.FlagSet) func() error {
			appRef = fs.String("app", "", "the application's name or id (required)")
			if extra != nil {
				extra(fs)
			}
			return func() error {
				if *appRef == "" {
					return usagef("%s: --app is required: the application's name or id (gatehouse app list shows them)", name)
				}
				return nil
			}
		}
	}
	idArg := []arg{{"ID", "the " + name + "'s id (" + name + " list --app APP shows them)"}}
	isToken := name == "token"
	what := map[bool]string{true: "bearer token", false: "client secret"}[isToken]
	setEnabled := func(enabled bool) *sub {
		about := "enable a " + what + " of the application"
		if !enabled {
			about = "disable a " + what + " of the application: it is refused at once"
		}
		return &sub{about: about, args: idArg, flags: appFlag(nil), run: func(c *cmd) error {
			word := map[bool]string{true: "enabled", false: "disabled"}[enabled]
			if isToken {
				t, err := c.a.Admin.SetTokenEnabled(c.e.ctx, cliActor(), *appRef, c.pos[0], enabled)
				if err != nil {
					return err
				}
				return c.print(t, func() { c.printf("Token %s (%s) is now %s.\n", t.ID, t.Hint, word) })
			}
			s, err := c.a.Admin.SetSecretEnabled(c.e.ctx, cliActor(), *appRef, c.pos[0], enabled)
			if err != nil {
				return err
			}
			return c.print(s, func() { c.printf("Secret %s (%s) is now %s.\n", s.ID, s.Hint, word) })
		}}
	}
	subs := map[string]*sub{
		"create": {
			about: "create a " + what + " for the application; its value is printed once",
			flags: appFlag(func(fs *flag.FlagSet) {
				if isToken {
					valid = fs.String("valid", "365d", "validity: from 1d to 3y (e.g. 90d, 1y)")
				}
			}),
			run: func(c *cmd) error {
				if isToken {
					t, err := c.a.Admin.CreateToken(c.e.ctx, cliActor(), *appRef, *valid)
					if err != nil {
						return err
					}
					return c.print(t, func() {
						c.printf("Bearer token for %q (id %s, valid until %s):\n\n  %s\n\nCopy it now: it is not stored and cannot be shown again.\n",
							*appRef, t.ID, t.Expires.UTC().Format(time.RFC3339), t.Value)
					})
				}
				s, err := c.a.Admin.CreateSecret(c.e.ctx, cliActor(), *appRef)
				if err != nil {
					return err
				}
				return c.print(s, func() {
					c.printf("Client secret for %q (id %s); client_id is %s:\n\n  %s\n\nCopy it now: it is not stored and cannot be shown again.\n",
						*appRef, s.ID, s.AppID, s.Value)
				})
			},
		},
		"list": {about: "list the application's " + what + "s", flags: appFlag(nil), run: func(c *cmd) error {
			if isToken {
				toks, err := c.a.Admin.ListTokens(c.e.ctx, *appRef)
				if err != nil {
					return err
				}
				return c.print(admin.Items(toks), func() { _ = table(c.e.stdout, tokenHeader, tokenRows(toks)) })
			}
			secs, err := c.a.Admin.ListSecrets(c.e.ctx, *appRef)
			if err != nil {
				return err
			}
			return c.print(admin.Items(secs), func() { _ = table(c.e.stdout, secretHeader, secretRows(secs)) })
		}},
		"enable":  setEnabled(true),
		"disable": setEnabled(false),
		"delete": {about: "delete a disabled " + what, args: idArg, flags: appFlag(nil), run: func(c *cmd) error {
			var err error
			if isToken {
				err = c.a.Admin.DeleteToken(c.e.ctx, cliActor(), *appRef, c.pos[0])
			} else {
				err = c.a.Admin.DeleteSecret(c.e.ctx, cliActor(), *appRef, c.pos[0])
			}
			if err != nil {
				return err
			}
			return c.print(map[string]string{"deleted": c.pos[0]}, func() { c.printf("Deleted %s %s.\n", name, c.pos[0]) })
		}},
	}
	for _, sc := range subs {
		sc.need = "--app APP"
	}
	order := []string{"create", "list", "enable", "disable", "delete"}
	if isToken {
		subs["show"] = &sub{about: "show one of the application's bearer tokens", args: idArg, flags: appFlag(nil), run: func(c *cmd) error {
			t, err := c.a.Admin.GetToken(c.e.ctx, *appRef, c.pos[0])
			if err != nil {
				return err
			}
			return c.print(t, func() { _ = table(c.e.stdout, tokenHeader, tokenRows([]admin.Token{*t})) })
		}}
		subs["show"].need = "--app APP"
		order = []string{"create", "list", "show", "enable", "disable", "delete"}
	}
	about := "Manage an application's bearer tokens (at most two: rotate by creating the next, then disabling and deleting the old one).\n" +
		"Every subcommand names the application with --app APP (its name or id)."
	if !isToken {
		about = "Manage an application's OAuth 2.0 client secrets (at most two), for the client-credentials grant.\n" +
			"Every subcommand names the application with --app APP (its name or id)."
	}
	return e.runGroup(&group{name: name, about: about, order: order, subs: subs}, args)
}

func (e *env) token(args []string) error  { return e.credentials("token", args) }
func (e *env) secret(args []string) error { return e.credentials("secret", args) }

// ---- organizations

func (e *env) org(args []string) error {
	var parent, ext, name *string
	orgFlags := func(update bool) func(fs *flag.FlagSet) func() error {
		return func(fs *flag.FlagSet) func() error {
			parent = fs.String("parent", "", "parent organization id (default: the root)")
			ext = fs.String("external-id", "", "external id (e.g. the directory's OU GUID)")
			if update {
				name = fs.String("name", "", "new name")
			}
			return nil
		}
	}
	printOrg := func(c *cmd, o *directory.Organization) error {
		return c.print(o, func() {
			c.printf("ID:           %s\nName:         %s\nParent:       %s\nExternal ID:  %s\nVersion:      %d\n", o.ID, o.Name, o.ParentID, o.ExternalID, o.Version)
		})
	}
	idArg := []arg{{"ID", "the organization's id (org list shows them)"}}
	subs := map[string]*sub{
		"create": {about: "create an organization (under --parent, default the root)", args: []arg{{"NAME", "the organization's name"}}, flags: orgFlags(false), run: func(c *cmd) error {
			o, err := c.a.Admin.CreateOrg(c.e.ctx, cliActor(), admin.OrgInput{Name: c.pos[0], ParentID: *parent, ExternalID: *ext})
			if err != nil {
				return err
			}
			return printOrg(c, o)
		}},
		"show": {about: "show an organization", args: idArg, run: func(c *cmd) error {
			o, err := c.a.Directory.Org(c.e.ctx, c.pos[0])
			if err != nil {
				return err
			}
			return printOrg(c, o)
		}},
		"update": {about: "rename, move (--parent) or re-identify (--external-id) an organization", args: idArg, flags: orgFlags(true), run: func(c *cmd) error {
			var p admin.OrgPatch
			if c.set["name"] {
				p.Name = name
			}
			if c.set["parent"] {
				p.ParentID = parent
			}
			if c.set["external-id"] {
				p.ExternalID = ext
			}
			if p == (admin.OrgPatch{}) {
				return usagef("org update: give --name, --parent or --external-id")
			}
			o, err := c.a.Admin.UpdateOrg(c.e.ctx, cliActor(), c.pos[0], p)
			if err != nil {
				return err
			}
			return printOrg(c, o)
		}},
		"delete": {about: "delete an empty organization", args: idArg, run: func(c *cmd) error {
			if err := c.a.Directory.DeleteOrg(c.e.ctx, cliActor(), c.pos[0]); err != nil {
				return err
			}
			return c.print(map[string]string{"deleted": c.pos[0]}, func() { c.printf("Deleted organization %s.\n", c.pos[0]) })
		}},
		"list": {about: "list the organization tree", run: func(c *cmd) error {
			orgs, err := c.a.Directory.Orgs(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(admin.Items(orgs), func() { _ = table(c.e.stdout, []string{"ID", "NAME", "EXTERNAL ID"}, orgTree(orgs)) })
		}},
	}
	return e.runGroup(&group{name: "org", about: "Manage the organization tree that accounts are placed in.",
		order: []string{"create", "list", "show", "update", "delete"}, subs: subs}, args)
}

// orgTree lists organizations depth-first, names indented by depth.
func orgTree(orgs []*directory.Organization) [][]string {
	children := map[string][]*directory.Organization{}
	for _, o := range orgs {
		children[o.ParentID] = append(children[o.ParentID], o)
	}
	for _, c := range children {
		sort.Slice(c, func(i, j int) bool { return c[i].Name < c[j].Name })
	}
	var rows [][]string
	var walk func(parent string, depth int)
	walk = func(parent string, depth int) {
		for _, o := range children[parent] {
			rows = append(rows, []string{o.ID, strings.Repeat("  ", depth) + o.Name, o.ExternalID})
			walk(o.ID, depth+1)
		}
	}
	walk("", 0)
	return rows
}

// ---- audit

func (e *env) audit(args []string) error {
	var f admin.AuditFilter
	var subject, olderThan, checkpoints, publicKeys *string
	subs := map[string]*sub{
		"list": {
			about: "list audit records, newest first",
			flags: func(fs *flag.FlagSet) func() error {
				fs.StringVar(&f.Actor, "actor", "", "only records by this actor: application name or id, cli or system")
				subject = fs.String("subject", "", "only records about this resource id")
				fs.StringVar(&f.Resource, "resource", "", "same as --subject")
				fs.StringVar(&f.Action, "action", "", "only this action (user.create) or actions with this prefix (token.)")
				fs.StringVar(&f.Since, "since", "", "only records at or after this time (RFC 3339 or a date)")
				fs.StringVar(&f.Until, "until", "", "only records before this time (RFC 3339 or a date)")
				fs.Int64Var(&f.Before, "before", 0, "only records with a smaller seq (to page back)")
				fs.IntVar(&f.Limit, "limit", 50, "how many records, newest first (at most 1000)")
				return func() error { return limitRange(f.Limit, 1000) }
			},
			run: func(c *cmd) error {
				if *subject != "" {
					f.Resource = *subject
				}
				entries, next, err := c.a.Admin.Audit(c.e.ctx, f)
				if err != nil {
					return err
				}
				return c.print(admin.AuditPage(entries, next), func() {
					var rows [][]string
					for _, en := range entries {
						who := en.Actor.Kind
						if en.Actor.AppName != "" {
							who += ":" + en.Actor.AppName
						}
						rows = append(rows, []string{strconv.FormatInt(en.Seq, 10), fmtTime(en.Time), who, en.Action, en.ResourceType, en.ResourceID})
					}
					_ = table(c.e.stdout, []string{"SEQ", "TIME", "ACTOR", "ACTION", "TYPE", "SUBJECT"}, rows)
					if next > 0 {
						c.printf("(more: --before %d)\n", next)
					}
				})
			},
		},
		"verify": {
			about: "verify the hash chain and compare it with the signed checkpoints (exit 1 if altered)",
			flags: func(fs *flag.FlagSet) func() error {
				checkpoints = fs.String("checkpoints", "", "more files to read checkpoints from, comma-separated: copies kept elsewhere, server logs (the configured checkpoint file is always read)")
				publicKeys = fs.String("public-key", "", "trust only these checkpoint keys (ed25519:…, comma-separated) instead of the configured ones")
				return nil
			},
			run: func(c *cmd) error {
				rep, err := c.a.Admin.VerifyAudit(c.e.ctx, admin.VerifyInput{Files: splitList(*checkpoints), PublicKeys: splitList(*publicKeys)})
				if err != nil {
					return err
				}
				if err := c.print(rep, func() { printVerify(c, rep, time.Now()) }); err != nil {
					return err
				}
				if !rep.OK {
					return fmt.Errorf("audit verification failed: %d problem(s)", len(rep.Problems))
				}
				return nil
			},
		},
		"checkpoint": {about: "sign the chain's head now and append the checkpoint to the checkpoint file", run: func(c *cmd) error {
			p, _, err := c.checkpointPublisher()
			if err != nil {
				return err
			}
			cp, err := p.Publish(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(map[string]string{"checkpoint": cp, "file": p.File}, func() {
				if cp == "" {
					c.printf("The audit log is empty: there is nothing to sign.\n")
					return
				}
				c.printf("%s\n(appended to %s)\n", cp, p.File)
			})
		}},
		"key": {about: "print the checkpoint key's public half (creating the key if there is none)", run: func(c *cmd) error {
			p, created, err := c.checkpointPublisher()
			if err != nil {
				return err
			}
			pub := p.Key.Public().(ed25519.PublicKey)
			out := map[string]any{"keyFile": c.a.Config.CheckpointKeyFile(), "keyId": checkpoint.KeyID(pub),
				"publicKey": checkpoint.FormatPublicKey(pub), "created": created}
			return c.print(out, func() {
				if created {
					c.printf("Created %s.\n", out["keyFile"])
				}
				c.printf("Key file:   %s\nKey id:     %s\nPublic key: %s\n", out["keyFile"], out["keyId"], out["publicKey"])
			})
		}},
		"prune": {
			about: "delete records older than the retention",
			flags: func(fs *flag.FlagSet) func() error {
				olderThan = fs.String("older-than", "", "delete records older than this: the configured retention (the default, 180d) or longer")
				return nil
			},
			run: func(c *cmd) error {
				var d time.Duration
				if *olderThan != "" {
					var err error
					if d, err = config.ParseDuration(*olderThan); err != nil {
						return usagef("--older-than: %v", err)
					}
				}
				n, err := c.a.Admin.PruneAudit(c.e.ctx, cliActor(), d)
				if err != nil {
					return err
				}
				return c.print(map[string]int64{"deleted": n}, func() { c.printf("Deleted %d audit records past retention.\n", n) })
			},
		},
	}
	return e.runGroup(&group{name: "audit", about: "Read, verify, checkpoint and prune the hash-chained audit log.",
		order: []string{"list", "verify", "checkpoint", "key", "prune"}, subs: subs}, args)
}

// checkpointPublisher loads the configured checkpoint key (creating it when
// there is none) and returns a publisher to the configured file.
func (c *cmd) checkpointPublisher() (*checkpoint.Publisher, bool, error) {
	key, created, err := checkpoint.LoadOrCreateKey(c.a.Config.CheckpointKeyFile())
	if err != nil {
		return nil, false, err
	}
	return &checkpoint.Publisher{Key: key, File: c.a.Config.CheckpointFile(), Log: c.a.Log, Head: c.a.SealedHead}, created, nil
}

// printVerify says what verification found and what it compared.
func printVerify(c *cmd, rep *directory.AuditReport, now time.Time) {
	if rep.OK {
		c.printf("The audit log is intact: %d records (seq %d to %d), head %s.\n", rep.Records, rep.FirstSeq, rep.LastSeq, rep.HeadHash)
	} else {
		c.printf("The audit log was altered:\n")
		for _, p := range rep.Problems {
			c.printf("  record %d: %s\n", p.Seq, p.Reason)
		}
	}
	if rep.Unsealed > 0 {
		c.printf("%d record(s) committed since %s are not sealed into the chain yet: nothing vouches for them until "+
			"a running server, or the next change, seals them.\n", rep.Unsealed, rep.UnsealedSince.UTC().Format(time.DateTime))
	}
	cs := rep.Checkpoints
	if cs == nil {
		return
	}
	from := strings.Join(cs.Sources, ", ")
	if cs.Read == 0 {
		if from == "" {
			from = "there is no checkpoint file yet (serve writes one; `gatehouse audit checkpoint` too)"
		} else {
			from = "none with a valid signature in " + from
		}
		c.printf("No checkpoint was compared: %s.\nOnly the chain's own consistency was checked: records removed from the end with the head moved back would not be noticed.\n", from)
		return
	}
	c.printf("Compared with %d checkpoint(s) from %s: %d matched, %d pruned by retention", cs.Read, from, cs.Matched, cs.Pruned)
	if cs.RemovedEarly > 0 {
		c.printf(", %d removed before their retention ended", cs.RemovedEarly)
	}
	if cs.Rejected > 0 {
		c.printf(", %d rejected", cs.Rejected)
	}
	if n := cs.Read - cs.Matched - cs.Pruned - cs.RemovedEarly; n > 0 {
		c.printf(", %d contradicted by the chain", n)
	}
	c.printf(".\n")
	if l := cs.Latest; l != nil {
		c.printf("Latest checkpoint: record %d, hash %s, signed %s (%s ago) by key %s.\n",
			l.Seq, l.Hash, l.Time.UTC().Format(time.DateTime), now.Sub(l.Time).Round(time.Second), l.KeyID)
		switch {
		case !rep.OK:
			// The chain is not what the checkpoints anchor: the problems
			// above say where; nothing is said to be anchored.
		case cs.Unanchored == 0:
			c.printf("No record came after it: the whole chain is anchored.\n")
		default:
			c.printf("%d record(s) came after it: until the next checkpoint only the chain protects them, "+
				"and removing them with the head moved back would not be noticed.\n", cs.Unanchored)
		}
	}
}

// ---- signing keys

func (e *env) keys(args []string) error {
	subs := map[string]*sub{
		"list": {about: "list the signing keys", run: func(c *cmd) error {
			keys, err := c.a.Admin.Keys(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(admin.Items(keys), func() {
				var rows [][]string
				for _, k := range keys {
					state := "signing"
					if k.Retired != nil {
						state = "retired " + fmtTime(*k.Retired)
					}
					rows = append(rows, []string{k.ID, k.Algorithm, fmtTime(k.Created), state})
				}
				_ = table(c.e.stdout, []string{"KID", "ALG", "CREATED", "STATE"}, rows)
			})
		}},
		"rotate": {about: "make a new signing key of each algorithm (ES256, RS256); the old ones verify what they signed until it expires", run: func(c *cmd) error {
			keys, err := c.a.Admin.RotateKey(c.e.ctx, cliActor())
			if err != nil {
				return err
			}
			return c.print(admin.Items(keys), func() {
				for _, k := range keys {
					c.printf("New %s signing key %s.\n", k.Algorithm, k.ID)
				}
				c.printf("The previous keys verify the tokens they signed until those expire.\n")
			})
		}},
	}
	return e.runGroup(&group{name: "keys", about: "The keys that sign OAuth 2.0 access tokens (ES256) and OpenID Connect ID tokens (RS256 or ES256).", order: []string{"list", "rotate"}, subs: subs}, args)
}
