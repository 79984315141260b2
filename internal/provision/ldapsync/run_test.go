package ldapsync_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// smallDir is a directory of 4 accounts per leaf OU (21 in all).
func smallDir(t *testing.T, opt slapdtest.Options) *slapdtest.Server {
	if opt.LDIF == "" {
		opt.LDIF = openldapData("dc=example,dc=com", 4)
	}
	if opt.Limits == "" {
		opt.Limits = "size=unlimited"
	}
	return slapdtest.StartT(t, opt)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestConnection: the ways to reach the server, and the ways that fail
// with a clear error that does not show the password.
func TestConnection(t *testing.T) {
	s := smallDir(t, slapdtest.Options{})
	g := newGatehouse(t)
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(s.SvcPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const wrong = "Wrong-Password-42"
	tests := []struct {
		name    string
		mutate  func(*ldapsync.Config)
		env     map[string]string
		wantErr string // "" for success
	}{
		{name: "StartTLS", mutate: func(c *ldapsync.Config) {}},
		{name: "LDAPS", mutate: func(c *ldapsync.Config) { c.URL, c.StartTLS = s.LDAPSURL, false }},
		{name: "password file", mutate: func(c *ldapsync.Config) { c.BindPasswordEnv, c.BindPasswordFile = "", pwFile }},
		{name: "plaintext when allowed", mutate: func(c *ldapsync.Config) { c.StartTLS, c.InsecurePlaintext = false, true }},
		{name: "LDAPS with an untrusted certificate", mutate: func(c *ldapsync.Config) { c.URL, c.StartTLS, c.CAFile = s.LDAPSURL, false, "" },
			wantErr: "certificate signed by unknown authority"},
		{name: "StartTLS with another name", mutate: func(c *ldapsync.Config) { c.TLSServerName = "ldap.example.net" },
			wantErr: "certificate is valid for localhost, not ldap.example.net"},
		{name: "wrong password", env: map[string]string{"LDAP_PW": wrong}, mutate: func(c *ldapsync.Config) {},
			wantErr: "bind to " + s.LDAPURL + " as " + s.SvcDN + ": invalid credentials (check the bind DN and password)"},
		{name: "no password", env: map[string]string{}, mutate: func(c *ldapsync.Config) {},
			wantErr: "the bind password: the environment variable LDAP_PW is not set"},
		{name: "missing base", mutate: func(c *ldapsync.Config) { c.BaseDNs = []string{"ou=Nowhere,dc=example,dc=com"} },
			wantErr: "search under ou=Nowhere,dc=example,dc=com: the base DN does not exist"},
		{name: "nobody listening", mutate: func(c *ldapsync.Config) { c.URL = "ldap://" + freePort(t) },
			wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := openldapConfig(s)
			cfg.OUs = "ignore"
			tt.mutate(&cfg)
			env := tt.env
			if env == nil {
				env = map[string]string{"LDAP_PW": s.SvcPW}
			}
			_, err := g.syncer(t, cfg, env).Run(context.Background(), ldapsync.Options{DryRun: true})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one with %q", err, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), s.SvcPW)) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// TestDryRun: a dry run reports the plan and writes nothing — no
// account, no event, no audit record, no link, no watermark.
func TestDryRun(t *testing.T) {
	s := smallDir(t, slapdtest.Options{})
	g := newGatehouse(t)
	cfg := openldapConfig(s)
	sy := g.syncer(t, cfg, map[string]string{"LDAP_PW": s.SvcPW})
	type snapshot struct {
		Users, Links, Events, Audit, Orgs int
		State                             string
	}
	snap := func() snapshot {
		var sn snapshot
		sn.Users = len(g.users(t, ""))
		sn.Links = len(g.links(t, "ldap:corp"))
		_, evs := g.newEvents(t)
		g.lastSeq = 0
		sn.Events = len(evs)
		au, err := g.dir.Audit(g.ctx, directory.AuditQuery{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		sn.Audit = len(au)
		orgs, _ := g.dir.Orgs(g.ctx)
		sn.Orgs = len(orgs)
		sn.State, _ = g.store.SyncState(g.ctx, "ldap:corp")
		return sn
	}
	var plan []ldapsync.Change
	dry := func() *ldapsync.Summary {
		plan = nil
		before := snap()
		sum := run(t, sy, ldapsync.Options{DryRun: true, Progress: func(p ldapsync.Progress) {
			if p.Change != nil {
				plan = append(plan, *p.Change)
			}
		}})
		if diff := cmp.Diff(before, snap()); diff != "" {
			t.Fatalf("a dry run wrote (-before +after):\n%s", diff)
		}
		return sum
	}
	sum := dry()
	if sum.Users.Created != 21 || sum.Orgs.Created != 9 || sum.Groups.Created != 10 || !sum.DryRun {
		t.Errorf("plan: users %+v, orgs %+v, groups %+v", sum.Users, sum.Orgs, sum.Groups)
	}
	ops := map[string]int{}
	for _, c := range plan {
		ops[c.Kind+" "+c.Op]++
	}
	if diff := cmp.Diff(map[string]int{"User create": 21, "Organization create": 9, "Group create": 10}, ops); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	for _, c := range plan {
		if c.Kind == "Group" && c.Name == "all-staff" && c.Added != 21 {
			t.Errorf("all-staff would get %d members, want 21", c.Added)
		}
	}

	// After a real run, a dry run shows the changes made since.
	run(t, sy, ldapsync.Options{})
	adm := s.AdminT(t)
	req := ldap.NewModifyRequest("uid=emea-0002,"+ouDN(s.Suffix, "Sales", "EMEA"), nil)
	req.Replace("displayName", []string{"Renamed"})
	if err := adm.Modify(req); err != nil {
		t.Fatal(err)
	}
	if err := adm.Del(ldap.NewDelRequest("uid=emea-0003,"+ouDN(s.Suffix, "Sales", "EMEA"), nil)); err != nil {
		t.Fatal(err)
	}
	dry()
	var got []string
	for _, c := range plan {
		got = append(got, c.Kind+" "+c.Op+" "+c.Name+" "+strings.Join(c.Changed, ","))
	}
	want := []string{"User update emea-0002 displayName", "Group update emea members", "Group update sales members",
		"Group update all-staff members", "User disable emea-0003 "}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
}

// TestErrors: an object that fails is reported and the run goes on; an
// account that exists in Gatehouse already is taken over.
func TestErrors(t *testing.T) {
	s := smallDir(t, slapdtest.Options{})
	g := newGatehouse(t)
	sy := g.syncer(t, openldapConfig(s), map[string]string{"LDAP_PW": s.SvcPW})
	op := directory.Actor{Kind: "cli"}
	if _, _, err := g.dir.CreateUser(g.ctx, op, directory.Profile{}, &directory.User{UserName: "support-0001", Active: true,
		Attrs: directory.Attrs{"nickName": "kept"}}); err != nil {
		t.Fatal(err)
	}
	adm := s.AdminT(t)
	bad := "uid=apac-0002," + ouDN(s.Suffix, "Sales", "APAC")
	setMail := func(v string) {
		req := ldap.NewModifyRequest(bad, nil)
		req.Replace("mail", []string{v})
		if err := adm.Modify(req); err != nil {
			t.Fatal(err)
		}
	}
	setMail("not an address")
	sum := run(t, sy, ldapsync.Options{})
	if sum.Users.Created != 19 || sum.Users.Updated != 1 || sum.Users.Failed != 1 || sum.ErrorCount != 1 {
		t.Fatalf("users %+v, errors %d", sum.Users, sum.ErrorCount)
	}
	e := sum.Errors[0]
	got := []string{e.Op, e.Kind, e.DN, e.Field, e.Error}
	want := []string{"error", "User", bad, "emails", `"not an address" is not an email address`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if u := g.user(t, "support-0001"); u.Attrs["nickName"] != "kept" || u.ExternalID == "" || u.DisplayName == "" {
		t.Errorf("the account taken over: %+v", u)
	}
	if n := len(g.users(t, "userName eq \"support-0001\"")); n != 1 {
		t.Errorf("%d accounts named support-0001", n)
	}
	setMail("apac2@example.com")
	sum = run(t, sy, ldapsync.Options{})
	if sum.Users.Created != 1 || sum.ErrorCount != 0 {
		t.Errorf("users %+v, errors %v", sum.Users, sum.Errors)
	}
}

// TestRetry: an account that fails for a reason on Gatehouse's side is
// read again by the next incremental run, with its entry unchanged.
func TestRetry(t *testing.T) {
	s := smallDir(t, slapdtest.Options{})
	g := newGatehouse(t)
	cfg := openldapConfig(s)
	sy := g.syncer(t, cfg, map[string]string{"LDAP_PW": s.SvcPW})
	op := directory.Actor{Kind: "cli"}
	// support-0002's entry will be matched to an account by its
	// externalId, whose renaming to support-0002 collides with another.
	res, err := s.AdminT(t).Search(ldap.NewSearchRequest("uid=support-0002,"+ouDN(s.Suffix, "Support"), ldap.ScopeBaseObject, 0, 0, 0, false,
		"(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Entries[0].GetAttributeValue("entryUUID")
	if _, _, err := g.dir.CreateUser(g.ctx, op, directory.Profile{Domain: cfg.Scope()}, &directory.User{UserName: "old-name", ExternalID: id, Active: true}); err != nil {
		t.Fatal(err)
	}
	taken, _, err := g.dir.CreateUser(g.ctx, op, directory.Profile{}, &directory.User{UserName: "support-0002", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := run(t, sy, ldapsync.Options{})
	if sum.Users.Failed != 1 || sum.Errors[0].Field != "userName" {
		t.Fatalf("users %+v, errors %+v", sum.Users, sum.Errors)
	}
	// Another change moves the watermark past support-0002's
	// modifyTimestamp (the overlap is 0 here).
	adm := s.AdminT(t)
	req := ldap.NewModifyRequest("uid=emea-0001,"+ouDN(s.Suffix, "Sales", "EMEA"), nil)
	req.Replace("title", []string{"Manager"})
	if err := adm.Modify(req); err != nil {
		t.Fatal(err)
	}
	if sum := run(t, sy, ldapsync.Options{}); sum.Users.Failed != 1 || sum.Users.Updated != 1 {
		t.Fatalf("users %+v", sum.Users)
	}
	if err := g.dir.DeleteUser(g.ctx, op, directory.Profile{}, taken.ID, nil); err != nil {
		t.Fatal(err)
	}
	// emea-0001 at the watermark, and support-0002 from the retry list.
	sum = run(t, sy, ldapsync.Options{})
	if sum.Full || sum.Read != 2 || sum.Users.Updated != 1 || sum.ErrorCount != 0 {
		t.Errorf("full %v, read %d, users %+v, errors %v", sum.Full, sum.Read, sum.Users, sum.Errors)
	}
	if u := g.user(t, "support-0002"); u == nil || u.ExternalID != id {
		t.Errorf("support-0002: %+v", u)
	}
}

// TestSafety: a run that sees too many objects gone deletes nothing; so
// does one whose listing fails half-way (slapd's default size limit).
func TestSafety(t *testing.T) {
	s := smallDir(t, slapdtest.Options{})
	g := newGatehouse(t)
	cfg := openldapConfig(s)
	cfg.MaxDeletions = 3
	env := map[string]string{"LDAP_PW": s.SvcPW}
	run(t, g.syncer(t, cfg, env), ldapsync.Options{})
	adm := s.AdminT(t)
	for _, uid := range []string{"emea-0001", "emea-0002", "emea-0003", "emea-0000"} {
		if err := adm.Del(ldap.NewDelRequest("uid="+uid+","+ouDN(s.Suffix, "Sales", "EMEA"), nil)); err != nil {
			t.Fatal(err)
		}
	}
	sum, err := g.syncer(t, cfg, env).Run(context.Background(), ldapsync.Options{})
	if !errors.Is(err, ldapsync.ErrTooManyDeletions) {
		t.Fatalf("got %v", err)
	}
	if sum.Users.Disabled != 0 || len(g.users(t, "active eq false")) != 0 {
		t.Errorf("accounts were disabled: %+v", sum.Users)
	}
	cfg.MaxDeletions = -1
	if sum := run(t, g.syncer(t, cfg, env), ldapsync.Options{}); sum.Users.Disabled != 4 {
		t.Errorf("users: %+v", sum.Users)
	}

	// More entries than slapd's default size limit (500) for anyone but
	// the rootdn: the listing fails, and the run with it.
	big := slapdtest.StartT(t, slapdtest.Options{LDIF: openldapData("dc=example,dc=com", 110)})
	_, err = g.syncer(t, openldapConfig(big), map[string]string{"LDAP_PW": big.SvcPW}).Run(context.Background(), ldapsync.Options{})
	if err == nil || !strings.Contains(err.Error(), "Size Limit Exceeded") {
		t.Errorf("got %v", err)
	}
}

// TestSchedule: scheduled runs log their summary, and an object's failure
// by its id and the attribute at fault — no DN, no value.
func TestSchedule(t *testing.T) {
	s := smallDir(t, slapdtest.Options{})
	g := newGatehouse(t)
	adm := s.AdminT(t)
	req := ldap.NewModifyRequest("uid=apac-0002,"+ouDN(s.Suffix, "Sales", "APAC"), nil)
	req.Replace("mail", []string{"Private Person <private@example.com>"})
	if err := adm.Modify(req); err != nil {
		t.Fatal(err)
	}
	cfg := openldapConfig(s)
	cfg.Interval = ldapsync.Duration(time.Hour)
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		ldapsync.Schedule(ctx, []ldapsync.Config{cfg}, ldapsync.Deps{Dir: g.dir, Links: g.store, Getenv: func(string) string { return s.SvcPW }}, log)
		close(done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(buf.String(), "ldap sync finished") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	out := buf.String()
	for _, want := range []string{"level=WARN msg=\"ldap sync: an object failed\" directory=corp kind=User remoteId=", "field=emails reason=\"invalid value\"",
		"level=INFO msg=\"ldap sync finished\" directory=corp full=true listed=21 read=21 users_created=20", "errors=1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log has no %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"private", "apac-0002", "uid=", s.SvcPW} {
		if strings.Contains(out, secret) {
			t.Errorf("the log shows %q:\n%s", secret, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
