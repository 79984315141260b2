package cli

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	gatehouse "github.com/gatehouse-id/gatehouse"
	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/app"
	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/config"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/mlps"
)

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// mlpsCmd is `gatehouse mlps check|evidence`. Exit status: 0 clean, 1
// findings (or failed controls), 2 usage or parse error.
func (e *env) mlpsCmd(args []string) error {
	if len(args) == 0 {
		return usagef("mlps needs a subcommand: check PATH…, evidence [PATH…]")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, "MLPS 2.0 level 3: check Terraform, and report the controls Gatehouse attests.\n\n"+
			"Usage:\n  gatehouse mlps check PATH…      check Terraform directories and plan JSON files\n"+
			"  gatehouse mlps evidence [PATH…] the report an auditor reads: the check and Gatehouse's own controls\n\n"+
			"Run \"gatehouse mlps SUBCOMMAND -h\" for a subcommand's flags.\n")
		return flag.ErrHelp
	case "check":
		return e.mlpsCheck(args[1:])
	case "evidence":
		return e.mlpsEvidence(args[1:])
	}
	return usagef("unknown mlps subcommand %q (one of: check, evidence)", args[0])
}

type checkFlags struct {
	vars, varFiles stringList
	format         string
	strict         bool
}

func (c *checkFlags) register(fs *flag.FlagSet) {
	fs.Var(&c.vars, "var", "set a root module variable, NAME=VALUE, as terraform -var (repeatable)")
	fs.Var(&c.varFiles, "var-file", "read root module variables from a .tfvars file, as terraform -var-file (repeatable)")
	fs.BoolVar(&c.strict, "strict", false, "count checks that cannot be decided from the code (unknown) as failures")
}

// loadStacks reads each PATH: a directory of .tf files, or a plan in the
// JSON form of `terraform show -json`.
func (e *env) loadStacks(paths []string, c *checkFlags) ([]*mlps.Stack, error) {
	var stacks []*mlps.Stack
	for _, p := range paths {
		st, err := loadStack(p, c)
		if err != nil {
			var pe *mlps.ParseError
			if errors.As(err, &pe) {
				fmt.Fprintf(e.stderr, "gatehouse: %v\n", pe)
				return nil, exitError{2}
			}
			if errors.Is(err, fs.ErrNotExist) {
				return nil, usagef("%s: no such file or directory", p)
			}
			return nil, usagef("%s: %v", p, err)
		}
		stacks = append(stacks, st)
	}
	return stacks, nil
}

func loadStack(p string, c *checkFlags) (*mlps.Stack, error) {
	info, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		return mlps.LoadDir(p, mlps.LoadOptions{Vars: c.vars, VarFiles: c.varFiles})
	}
	// Only a regular file: a FIFO or a device would be read forever.
	data, err := mlps.ReadInput(p)
	if err != nil {
		return nil, err
	}
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("not a directory of .tf files nor a plan in JSON form (for a binary plan file: terraform show -json PLANFILE > plan.json)")
	}
	return mlps.LoadPlan(p, bytes.NewReader(data))
}

func (e *env) mlpsCheck(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "mlps check", args: []arg{{"PATH", "a Terraform directory, or a plan in JSON form (terraform show -json PLANFILE)"}}, more: true,
		about: "Check Terraform directories and plans against the MLPS 2.0 level-3 baseline.\nExit status: 0 no findings, 1 findings, 2 usage or parse error."})
	var c checkFlags
	c.register(fs.FlagSet)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	sarif := fs.Bool("sarif", false, "print the report as SARIF 2.1.0 (for code scanning)")
	listRules := fs.Bool("list-rules", false, "list the rules, their sources and GB/T 22239-2019 clauses, and exit")
	paths, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *listRules {
		if *asJSON {
			return mlps.WriteRulesJSON(e.stdout)
		}
		return mlps.WriteRules(e.stdout)
	}
	if len(paths) == 0 {
		return usagef("mlps check: give one or more Terraform directories or plan JSON files")
	}
	if *asJSON && *sarif {
		return usagef("mlps check: --json and --sarif exclude each other")
	}
	schema, err := mlps.LoadSchema()
	if err != nil {
		return err
	}
	stacks, err := e.loadStacks(paths, &c)
	if err != nil {
		return err
	}
	rep := mlps.Check(stacks, schema)
	switch {
	case *asJSON:
		err = rep.WriteJSON(e.stdout)
	case *sarif:
		err = rep.WriteSARIF(e.stdout, gatehouse.Version)
	default:
		err = rep.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if rep.Blocking(c.strict) > 0 {
		return exitError{1}
	}
	return nil
}

func (e *env) mlpsEvidence(args []string) error {
	fs := e.newFlagSet(cmdHelp{name: "mlps evidence", args: []arg{{"PATH", "a Terraform directory or plan JSON to check too (optional)"}}, more: true,
		about: "Join the infrastructure check of PATH… with the identity controls Gatehouse attests from its database.\nExit status: 0 no control fails, 1 a control fails (--strict: or is unknown), 2 usage or parse error."})
	var f config.Flags
	f.Register(fs.FlagSet, false)
	var c checkFlags
	c.register(fs.FlagSet)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	dormantDays := fs.Int("dormant-days", 90, "an active account unchanged for longer than this many days is dormant")
	maxAgeDays := fs.Int("credential-age-days", 90, "an enabled token or secret older than this many days should have been replaced")
	checkpoints := fs.String("checkpoints", "", "more files to read audit checkpoints from, comma-separated (the configured checkpoint file is always read)")
	paths, err := fs.parse(args)
	if err != nil {
		return err
	}
	if *dormantDays < 1 || *maxAgeDays < 1 {
		return usagef("mlps evidence: --dormant-days and --credential-age-days must be at least 1")
	}
	var rep *mlps.Report
	if len(paths) > 0 {
		schema, err := mlps.LoadSchema()
		if err != nil {
			return err
		}
		stacks, err := e.loadStacks(paths, &c)
		if err != nil {
			return err
		}
		rep = mlps.Check(stacks, schema)
	}
	a, err := e.open(f)
	if err != nil {
		return err
	}
	defer a.Close()
	facts, err := identityFacts(e, a, splitList(*checkpoints))
	if err != nil {
		return err
	}
	facts.DormantAfter = time.Duration(*dormantDays) * 24 * time.Hour
	facts.MaxCredentialAge = time.Duration(*maxAgeDays) * 24 * time.Hour
	ev := mlps.BuildEvidence(rep, facts, c.strict)
	if *asJSON {
		err = ev.WriteJSON(e.stdout)
	} else {
		err = ev.WriteText(e.stdout)
	}
	if err != nil {
		return err
	}
	if ev.Status == mlps.EvFail || c.strict && ev.Status == mlps.EvUnknown {
		return exitError{1}
	}
	return nil
}

// mfaFacts reads the factor policy (login.admin_groups,
// login.group_factors), the groups it names, and the second factors of the
// active people it asks two factors of.
func mfaFacts(e *env, a *app.App, users []*directory.User) (*mlps.MFAFacts, error) {
	ctx := e.ctx
	var groups []*directory.Group
	q := directory.Query{Limit: 1000}
	for {
		page, err := a.Directory.Groups(ctx, directory.Profile{}, q)
		if err != nil {
			return nil, err
		}
		groups = append(groups, page.Items...)
		if page.Next == nil || len(page.Items) == 0 {
			break
		}
		q.After = page.Next
	}
	// The policy's groups, resolved as the login resolves them: an id, or
	// a display name ignoring case.
	find := func(ref string) *directory.Group {
		for _, g := range groups {
			if g.ID == ref || strings.EqualFold(g.DisplayName, ref) {
				return g
			}
		}
		return nil
	}
	type entry struct {
		mlps.MFAGroup
		id string
	}
	var policy []*entry
	add := func(ref string, admin bool, n int) {
		for _, p := range policy {
			if p.Ref == ref {
				p.Admin, p.Factors = p.Admin || admin, max(p.Factors, n)
				return
			}
		}
		en := &entry{MFAGroup: mlps.MFAGroup{Ref: ref, Admin: admin, Factors: n}}
		if g := find(ref); g != nil {
			en.Name, en.id = g.DisplayName, g.ID
		}
		policy = append(policy, en)
	}
	for _, ref := range a.Config.Login.AdminGroups {
		add(ref, true, 2)
	}
	refs := make([]string, 0, len(a.Config.Login.GroupFactors))
	for ref := range a.Config.Login.GroupFactors {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	for _, ref := range refs {
		add(ref, false, a.Config.Login.GroupFactors[ref])
	}
	m := &mlps.MFAFacts{}
	for _, u := range users {
		if !u.Active {
			continue
		}
		var mine []*entry
		need, admin := 1, false
		for _, p := range policy {
			if p.id != "" && slices.ContainsFunc(u.Groups, func(r directory.GroupRef) bool { return r.ID == p.id }) {
				mine = append(mine, p)
				need, admin = max(need, p.Factors), admin || p.Admin
			}
		}
		if len(mine) == 0 {
			continue
		}
		fl, err := a.Login.Factors(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, p := range mine {
			p.Members++
			if len(fl.Factors) > 0 {
				p.Enrolled++
			}
		}
		if need >= 2 {
			m.People = append(m.People, mlps.MFAPerson{UserName: u.UserName, Admin: admin, SecondFactors: len(fl.Factors), RecoveryCodes: fl.RecoveryCodes})
		}
	}
	for _, p := range policy {
		m.Groups = append(m.Groups, p.MFAGroup)
	}
	return m, nil
}

// identityFacts reads what the evidence report attests from the database:
// the accounts, the administration applications, the audit log, the
// tokens and secrets.
func identityFacts(e *env, a *app.App, checkpointFiles []string) (mlps.IdentityFacts, error) {
	ctx := e.ctx
	facts := mlps.IdentityFacts{Now: time.Now()}
	q := directory.Query{Limit: 1000, Read: directory.ReadOptions{Groups: true}}
	var users []*directory.User
	for {
		page, err := a.Directory.Users(ctx, directory.Profile{}, q)
		if err != nil {
			return facts, err
		}
		for _, u := range page.Items {
			facts.Accounts = append(facts.Accounts, mlps.Account{ID: u.ID, UserName: u.UserName, Active: u.Active, Created: u.Created, Modified: u.Modified})
		}
		users = append(users, page.Items...)
		if page.Next == nil || len(page.Items) == 0 {
			break
		}
		q.After = page.Next
	}
	if a.Login != nil {
		m, err := mfaFacts(e, a, users)
		if err != nil {
			return facts, err
		}
		facts.MFA = m
	}
	apps, err := a.Admin.ListApps(ctx)
	if err != nil {
		return facts, err
	}
	for _, ap := range apps {
		if ap.Kind == auth.KindAdmin {
			facts.Admins = append(facts.Admins, mlps.AdminApp{Name: ap.Name, Enabled: ap.Enabled})
		}
		toks, err := a.Admin.ListTokens(ctx, ap.ID)
		if err != nil {
			return facts, err
		}
		for _, t := range toks {
			c := mlps.Credential{App: ap.Name, Kind: "token", ID: t.ID, Hint: t.Hint, Enabled: t.Enabled && ap.Enabled, Created: t.Created, Expires: t.Expires}
			if t.LastUsed != nil {
				c.LastUsed = *t.LastUsed
			}
			facts.Credentials = append(facts.Credentials, c)
		}
		secs, err := a.Admin.ListSecrets(ctx, ap.ID)
		if err != nil {
			return facts, err
		}
		for _, s := range secs {
			c := mlps.Credential{App: ap.Name, Kind: "secret", ID: s.ID, Hint: s.Hint, Enabled: s.Enabled && ap.Enabled, Created: s.Created}
			if s.LastUsed != nil {
				c.LastUsed = *s.LastUsed
			}
			facts.Credentials = append(facts.Credentials, c)
		}
	}
	facts.Audit.Retention = a.Admin.Retention
	if facts.Audit.Retention == 0 {
		facts.Audit.Retention = directory.AuditRetention
	}
	rep, err := a.Admin.VerifyAudit(ctx, admin.VerifyInput{Files: checkpointFiles})
	if err != nil {
		facts.Audit.Err = err.Error()
		return facts, nil
	}
	facts.Audit.Verified, facts.Audit.OK, facts.Audit.Records = true, rep.OK, rep.Records
	for _, p := range rep.Problems {
		facts.Audit.Problems = append(facts.Audit.Problems, fmt.Sprintf("record %d: %s", p.Seq, p.Reason))
	}
	if cs := rep.Checkpoints; cs != nil {
		facts.Audit.CheckpointsRead, facts.Audit.CheckpointsMatched, facts.Audit.Unanchored = cs.Read, cs.Matched, cs.Unanchored
	}
	if rep.Records > 0 {
		entries, _, err := a.Admin.Audit(ctx, admin.AuditFilter{Before: rep.FirstSeq + 1, Limit: 1})
		if err == nil && len(entries) > 0 {
			facts.Audit.Oldest = entries[0].Time
		}
	}
	return facts, nil
}
