package ldapsync_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// Delegated authentication against a real slapd, in both profiles: an
// account synced from a directory with delegated_auth signs in with the
// directory's password (bound as its entry, found by its stable id, also
// after a rename), never with a password Gatehouse holds for it, never
// with an empty one; the directory down is "unavailable" and counts no
// failure.
func TestDelegatedBind(t *testing.T) {
	if why, skip := slapdtest.Missing(); why != "" {
		if skip {
			t.Skip(why)
		}
		t.Fatal(why)
	}
	const dirPW = "Dir-Secret-42"
	for _, tc := range []struct {
		profile string
		suffix  string
		data    func(suffix string) string
		user    string // the Gatehouse userName
		dn      string
		rename  string // a new RDN for the entry
		base    string
	}{
		{profile: "openldap", suffix: "dc=example,dc=com", user: "ada",
			data: func(sfx string) string {
				var l ldif
				l.entry("ou=People,"+sfx, "objectClass", "organizationalUnit", "ou", "People")
				l.entry("uid=ada,ou=People,"+sfx, "objectClass", "inetOrgPerson", "uid", "ada", "cn", "Ada Lovelace", "sn", "Lovelace",
					"mail", "ada@example.com", "userPassword", dirPW)
				l.entry("uid=nopw,ou=People,"+sfx, "objectClass", "inetOrgPerson", "uid", "nopw", "cn", "No Password", "sn", "Password")
				return l.String()
			},
			dn: "uid=ada,ou=People,dc=example,dc=com", rename: "uid=ada.lovelace", base: "ou=People,dc=example,dc=com"},
		{profile: "ad", suffix: "DC=corp,DC=example", user: "ada@corp.example",
			data: func(sfx string) string {
				d := &adDir{suffix: sfx}
				d.ou("OU=Staff,"+sfx, "Staff")
				d.user(`CN=Lovelace\, Ada,OU=Staff,`+sfx, "Lovelace, Ada", "ada", "ada@corp.example", 512, "userPassword", dirPW)
				d.user("CN=No Password,OU=Staff,"+sfx, "No Password", "nopw", "nopw@corp.example", 512)
				return d.String()
			},
			dn: `CN=Lovelace\, Ada,OU=Staff,DC=corp,DC=example`, rename: "CN=Ada Byron", base: "OU=Staff,DC=corp,DC=example"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			s := slapdtest.StartT(t, slapdtest.Options{Suffix: tc.suffix, AD: tc.profile == "ad", LDIF: tc.data(tc.suffix)})
			g := newGatehouse(t)
			env := map[string]string{"PW": s.SvcPW}
			zero := ldapsync.Duration(0)
			cfg := ldapsync.Config{Name: "corp", Profile: tc.profile, URL: s.LDAPURL, StartTLS: true, CAFile: s.CAFile,
				BindDN: s.SvcDN, BindPasswordEnv: "PW", BaseDNs: []string{tc.base}, Overlap: &zero, OUs: "ignore", Groups: "off", DelegatedAuth: true}
			run(t, g.syncer(t, cfg, env), ldapsync.Options{})
			u := g.user(t, tc.user)
			if u == nil {
				t.Fatalf("%s was not synced", tc.user)
			}
			// Gatehouse holds a password of its own for the account too: it
			// must not be used.
			if _, err := g.dir.UpdateUser(g.ctx, directory.Actor{Kind: "cli"}, directory.Profile{}, u.ID, nil, func(x *directory.User) error {
				x.PasswordHash = "hashed:Local-Pass-1"
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			delegate := ldapsync.NewDelegate(cfg, func(k string) string { return env[k] })
			svc := login.New(g.store, g.store, login.Options{Hasher: testHasher{}, Directories: []login.Directory{delegate},
				NewID: newTestID, Lockout: login.Lockout{AddressFailures: 1000}})
			try := func(user, password string) string {
				t.Helper()
				c := login.Client{Addr: "192.0.2.1", Browser: newToken(t)}
				p, err := svc.Begin(g.ctx, c, login.Requirement{}, "/")
				if err != nil {
					t.Fatal(err)
				}
				_, err = svc.Password(g.ctx, p, c, user, password)
				var f *login.Failure
				if errors.As(err, &f) {
					return f.Reason
				}
				if err != nil {
					t.Fatal(err)
				}
				return ""
			}
			if got := try(tc.user, dirPW); got != "" {
				t.Fatalf("the directory's password: %q", got)
			}
			if got := try(tc.user, "Local-Pass-1"); got != "invalid" {
				t.Errorf("Gatehouse's own password for a delegated account: %q", got)
			}
			if got := try(tc.user, "wrong"); got != "invalid" {
				t.Errorf("a wrong password: %q", got)
			}
			if got := try(tc.user, ""); got != "invalid" {
				t.Errorf("an empty password: %q", got)
			}
			if got := try(strings.Replace(tc.user, "ada", "nopw", 1), ""); got != "invalid" {
				t.Errorf("an entry without a password, with an empty one: %q", got)
			}
			// The audit record names the directory that checked it.
			es, _ := g.store.Audit(g.ctx, directory.AuditQuery{ResourceID: u.ID, Action: "login.success", Limit: 1})
			if len(es) != 1 || !strings.Contains(string(es[0].After), `"method":"ldap:corp"`) {
				t.Errorf("login audit record: %v", es)
			}
			// Renamed in the directory, before the next sync: found by its id.
			adm := s.AdminT(t)
			if err := adm.ModifyDN(ldap.NewModifyDNRequest(tc.dn, tc.rename, true, "")); err != nil {
				t.Fatal(err)
			}
			if got := try(tc.user, dirPW); got != "" {
				t.Errorf("after a rename: %q", got)
			}
			// Its password is the directory's: no reset or change here.
			if _, err := svc.ResetPassword(g.ctx, directory.Actor{Kind: "cli"}, u.ID); !errors.Is(err, directory.ErrInvalid) ||
				!strings.Contains(err.Error(), "ldap:corp") {
				t.Errorf("reset of a delegated account: %v", err)
			}
			// The directory down: unavailable, and no failure counted.
			before, _ := svc.State(g.ctx, u.ID)
			s.Stop()
			if got := try(tc.user, dirPW); got != "unavailable" {
				t.Errorf("with the directory down: %q", got)
			}
			after, _ := svc.State(g.ctx, u.ID)
			if after.Failures != before.Failures {
				t.Errorf("an unanswered check counted as a failure: %d → %d", before.Failures, after.Failures)
			}
		})
	}
}

// TestDelegateNeverBindsEmpty: an empty password is refused before any
// connection (here to a server that is not there).
func TestDelegateNeverBindsEmpty(t *testing.T) {
	d := ldapsync.NewDelegate(ldapsync.Config{Name: "x", Profile: "openldap", URL: "ldap://" + freePort(t), StartTLS: true,
		BaseDNs: []string{"dc=example,dc=com"}}, func(string) string { return "" })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := d.Bind(ctx, "some-id", ""); !errors.Is(err, login.ErrInvalidCredentials) {
		t.Fatalf("empty password: %v", err)
	}
	if err := d.Bind(ctx, "some-id", "x"); err == nil || errors.Is(err, login.ErrInvalidCredentials) {
		t.Fatalf("a password with nobody listening: %v (want a connection error)", err)
	}
}

type testHasher struct{}

func (testHasher) Hash(_ context.Context, pw string) (string, error) { return "hashed:" + pw, nil }
func (testHasher) Verify(_ context.Context, pw, phc string) (bool, error) {
	return phc == "hashed:"+pw, nil
}

var _ login.Hasher = testHasher{}

func newTestID() string { t, _ := login.NewToken(); return t }

func newToken(t *testing.T) string {
	v, err := login.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	return v
}
