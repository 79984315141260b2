package cli

import (
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// ---- applications

type appJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Mode        string    `json:"mode"`
	TargetOrgID string    `json:"targetOrganizationId"`
	Enabled     bool      `json:"enabled"`
	Created     time.Time `json:"created"`
	Tokens      []tokJSON `json:"tokens,omitempty"`
}

type tokJSON struct {
	ID       string     `json:"id"`
	AppID    string     `json:"appId"`
	Hint     string     `json:"hint"`
	Enabled  bool       `json:"enabled"`
	Created  time.Time  `json:"created"`
	Expires  time.Time  `json:"expires"`
	LastUsed *time.Time `json:"lastUsed,omitempty"`
	UseCount int64      `json:"useCount"`
	Token    string     `json:"token,omitempty"`
}

func modeOf(p directory.Profile) string {
	if p.IDaaSFields && p.Idempotent {
		return "idaas"
	}
	return "rfc"
}

func appOut(a *auth.App) appJSON {
	return appJSON{ID: a.ID, Name: a.Name, Mode: modeOf(a.Profile), TargetOrgID: a.Profile.TargetOrgID, Enabled: a.Enabled, Created: a.Created}
}

func tokOut(t *auth.Token) tokJSON {
	j := tokJSON{ID: t.ID, AppID: t.AppID, Hint: t.Hint, Enabled: t.Enabled, Created: t.Created, Expires: t.Expires, UseCount: t.UseCount}
	if !t.LastUsed.IsZero() {
		lu := t.LastUsed
		j.LastUsed = &lu
	}
	return j
}

func (e *env) app(args []string) error {
	if len(args) == 0 {
		return usagef("app needs a subcommand: create, list, show or delete")
	}
	fs := e.newFlagSet("app " + args[0])
	var f config.Flags
	f.Register(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	var mode, targetOrg *string
	if args[0] == "create" {
		mode = fs.String("mode", "idaas", "idaas (IDaaS semantics: idempotent creates, one work email and phone) or rfc (strict RFC 7644)")
		targetOrg = fs.String("target-org", directory.RootOrgID, "organization where accounts without organizationId land")
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	need := func(n int, what string) error {
		if len(pos) != n {
			return usagef("app %s: %s", args[0], what)
		}
		return nil
	}
	switch args[0] {
	case "create", "show", "delete":
		if err := need(1, "give the application's name"); err != nil {
			return err
		}
	case "list":
		if err := need(0, "takes no arguments"); err != nil {
			return err
		}
	default:
		return usagef("unknown app subcommand %q", args[0])
	}
	a, err := e.open(f)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx := e.ctx
	switch args[0] {
	case "create":
		p := directory.IDaaSProfile()
		switch *mode {
		case "idaas":
		case "rfc":
			p.IDaaSFields, p.Idempotent = false, false
		default:
			return usagef("--mode must be idaas or rfc")
		}
		p.TargetOrgID = *targetOrg
		created, err := a.Auth.CreateApp(ctx, pos[0], p)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(e.stdout, appOut(created))
		}
		fmt.Fprintf(e.stdout, "Created application %q (id %s, mode %s).\nNext: gatehouse token create --app %s\n", created.Name, created.ID, *mode, created.Name)
		return nil
	case "list":
		apps, err := a.Auth.Apps(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]appJSON, 0, len(apps))
			for _, x := range apps {
				out = append(out, appOut(x))
			}
			return printJSON(e.stdout, out)
		}
		var rows [][]string
		for _, x := range apps {
			rows = append(rows, []string{x.Name, x.ID, modeOf(x.Profile), x.Profile.TargetOrgID, strconv.FormatBool(x.Enabled), x.Created.Format(time.DateTime)})
		}
		return table(e.stdout, []string{"NAME", "ID", "MODE", "TARGET ORG", "ENABLED", "CREATED"}, rows)
	case "show":
		x, err := a.Auth.FindApp(ctx, pos[0])
		if err != nil {
			return err
		}
		toks, err := a.Auth.Tokens(ctx, x.ID)
		if err != nil {
			return err
		}
		out := appOut(x)
		for _, t := range toks {
			out.Tokens = append(out.Tokens, tokOut(t))
		}
		if *asJSON {
			return printJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "Name:        %s\nID:          %s\nMode:        %s\nTarget org:  %s\nEnabled:     %v\nCreated:     %s\nTokens:      %d\n",
			out.Name, out.ID, out.Mode, out.TargetOrgID, out.Enabled, out.Created.Format(time.RFC3339), len(toks))
		return nil
	case "delete":
		x, err := a.Auth.FindApp(ctx, pos[0])
		if err != nil {
			return err
		}
		if err := a.Store.DeleteApp(ctx, x.ID); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted application %q and its tokens.\n", x.Name)
		return nil
	}
	return nil
}

// ---- tokens

// parseValidity reads "90d", "1y", "36h" or a Go duration.
func parseValidity(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	unit := s[len(s)-1]
	if n, err := strconv.Atoi(s[:len(s)-1]); err == nil {
		switch unit {
		case 'd':
			return time.Duration(n) * 24 * time.Hour, nil
		case 'y':
			return time.Duration(n) * 365 * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}

func (e *env) token(args []string) error {
	if len(args) == 0 {
		return usagef("token needs a subcommand: create or list")
	}
	fs := e.newFlagSet("token " + args[0])
	var f config.Flags
	f.Register(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	appName := fs.String("app", "", "application name or id (required)")
	var valid *string
	if args[0] == "create" {
		valid = fs.String("valid", "365d", "validity: from 1d to 3y (e.g. 90d, 1y)")
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("token %s: unexpected argument %q", args[0], pos[0])
	}
	if *appName == "" {
		return usagef("token %s: --app is required", args[0])
	}
	switch args[0] {
	case "create", "list":
	default:
		return usagef("unknown token subcommand %q", args[0])
	}
	a, err := e.open(f)
	if err != nil {
		return err
	}
	defer a.Close()
	x, err := a.Auth.FindApp(e.ctx, *appName)
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		d, err := parseValidity(*valid)
		if err != nil {
			return usagef("--valid: %v", err)
		}
		t, secret, err := a.Auth.CreateToken(e.ctx, x.ID, d)
		if err != nil {
			return err
		}
		if *asJSON {
			out := tokOut(t)
			out.Token = secret
			return printJSON(e.stdout, out)
		}
		fmt.Fprintf(e.stdout, "Bearer token for %q (id %s, valid until %s):\n\n  %s\n\nCopy it now: it is not stored and cannot be shown again.\n",
			x.Name, t.ID, t.Expires.Format(time.RFC3339), secret)
		return nil
	case "list":
		toks, err := a.Auth.Tokens(e.ctx, x.ID)
		if err != nil {
			return err
		}
		if *asJSON {
			out := make([]tokJSON, 0, len(toks))
			for _, t := range toks {
				out = append(out, tokOut(t))
			}
			return printJSON(e.stdout, out)
		}
		var rows [][]string
		for _, t := range toks {
			last := "never"
			if !t.LastUsed.IsZero() {
				last = t.LastUsed.Format(time.DateTime)
			}
			rows = append(rows, []string{t.ID, t.Hint, strconv.FormatBool(t.Enabled), t.Expires.Format(time.DateTime), last, strconv.FormatInt(t.UseCount, 10)})
		}
		return table(e.stdout, []string{"ID", "TOKEN", "ENABLED", "EXPIRES", "LAST USED", "USES"}, rows)
	}
	return nil
}

// ---- organizations

func (e *env) org(args []string) error {
	if len(args) == 0 {
		return usagef("org needs a subcommand: create, list, show, update or delete")
	}
	sub := args[0]
	fs := e.newFlagSet("org " + sub)
	var f config.Flags
	f.Register(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	var name, parent, ext *string
	switch sub {
	case "create", "update":
		parent = fs.String("parent", "", "parent organization id (default: the root)")
		ext = fs.String("external-id", "", "external id (e.g. the directory's OU GUID)")
		if sub == "update" {
			name = fs.String("name", "", "new name")
		}
	case "list", "show", "delete":
	default:
		return usagef("unknown org subcommand %q", sub)
	}
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	switch {
	case sub == "list" && len(pos) != 0:
		return usagef("org list takes no arguments")
	case sub == "create" && len(pos) != 1:
		return usagef("org create: give the organization's name")
	case (sub == "show" || sub == "update" || sub == "delete") && len(pos) != 1:
		return usagef("org %s: give the organization's id", sub)
	}
	a, err := e.open(f)
	if err != nil {
		return err
	}
	defer a.Close()
	ctx := e.ctx
	printOrg := func(o *directory.Organization) error {
		if *asJSON {
			return printJSON(e.stdout, o)
		}
		fmt.Fprintf(e.stdout, "ID:           %s\nName:         %s\nParent:       %s\nExternal ID:  %s\nVersion:      %d\n", o.ID, o.Name, o.ParentID, o.ExternalID, o.Version)
		return nil
	}
	switch sub {
	case "create":
		o, err := a.Directory.CreateOrg(ctx, cliActor(), &directory.Organization{Name: pos[0], ParentID: *parent, ExternalID: *ext})
		if err != nil {
			return err
		}
		return printOrg(o)
	case "show":
		o, err := a.Directory.Org(ctx, pos[0])
		if err != nil {
			return err
		}
		return printOrg(o)
	case "update":
		set := map[string]bool{}
		fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
		if len(set) == 0 {
			return usagef("org update: give --name, --parent or --external-id")
		}
		o, err := a.Directory.UpdateOrg(ctx, cliActor(), pos[0], func(o *directory.Organization) error {
			if set["name"] {
				o.Name = *name
			}
			if set["parent"] {
				o.ParentID = *parent
			}
			if set["external-id"] {
				o.ExternalID = *ext
			}
			return nil
		})
		if err != nil {
			return err
		}
		return printOrg(o)
	case "delete":
		if err := a.Directory.DeleteOrg(ctx, cliActor(), pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "Deleted organization %s.\n", pos[0])
		return nil
	case "list":
		orgs, err := a.Directory.Orgs(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if orgs == nil {
				orgs = []*directory.Organization{}
			}
			return printJSON(e.stdout, orgs)
		}
		return table(e.stdout, []string{"ID", "NAME", "EXTERNAL ID"}, orgTree(orgs))
	}
	return nil
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
	if len(args) == 0 || args[0] != "list" {
		return usagef("audit needs a subcommand: list")
	}
	fs := e.newFlagSet("audit list")
	var f config.Flags
	f.Register(fs, false)
	asJSON := fs.Bool("json", false, "print JSON")
	resource := fs.String("resource", "", "only entries about this resource id")
	limit := fs.Int("limit", 50, "how many entries, newest first")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("audit list: unexpected argument %q", pos[0])
	}
	a, err := e.open(f)
	if err != nil {
		return err
	}
	defer a.Close()
	entries, err := a.Directory.Audit(e.ctx, directory.AuditQuery{ResourceID: *resource, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		if entries == nil {
			entries = []*directory.AuditEntry{}
		}
		return printJSON(e.stdout, entries)
	}
	var rows [][]string
	for _, en := range entries {
		who := en.Actor.Kind
		if en.Actor.AppName != "" {
			who += ":" + en.Actor.AppName
		}
		rows = append(rows, []string{strconv.FormatInt(en.Seq, 10), en.Time.Format(time.DateTime), who, en.Action, en.ResourceType, en.ResourceID})
	}
	return table(e.stdout, []string{"SEQ", "TIME", "ACTOR", "ACTION", "TYPE", "RESOURCE"}, rows)
}
