package ldapsync_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync"
	"github.com/gatehouse-id/gatehouse/internal/provision/ldapsync/slapdtest"
)

// TestSyncThroughput measures `gatehouse sync ldap` — the real binary,
// built here, against slapd — over GATEHOUSE_BENCH_LDAP accounts in 100
// department OUs under 10 divisions, one group per department: the first
// full sync into an empty SQLite database, an incremental run without
// changes, and one after 1% of the accounts changed. It reports objects/s
// and the sync process's peak resident memory (getrusage's ru_maxrss).
// Not part of the normal test run:
//
//	GATEHOUSE_BENCH_LDAP=100000 go test ./internal/provision/ldapsync/ -run TestSyncThroughput -v -timeout 60m
func TestSyncThroughput(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_LDAP"))
	if n <= 0 {
		t.Skip("set GATEHOUSE_BENCH_LDAP to the number of accounts")
	}
	suffix := "dc=example,dc=com"
	data, depts := benchData(suffix, n)
	t0 := time.Now()
	s := slapdtest.StartT(t, slapdtest.Options{LDIF: data, Limits: "size=unlimited time=unlimited"})
	t.Logf("slapadd and start of %d entries: %s", strings.Count(data, "\ndn: ")+1, time.Since(t0).Round(time.Millisecond))
	data = ""

	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/gatehouse-id/gatehouse/cmd/gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "gatehouse.yaml")
	sync := os.Getenv("GATEHOUSE_BENCH_SYNCHRONOUS") // FULL (the default) or NORMAL
	if sync == "" {
		sync = "FULL"
	}
	workers, _ := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_WORKERS")) // 0: the default
	yaml := fmt.Sprintf(`data_dir: %s
sqlite_synchronous: %s
ldap:
  - name: corp
    profile: openldap
    url: %s
    ca_file: %s
    bind_dn: %s
    bind_password_env: LDAP_PW
    workers: %d
    base_dns:
      - ou=People,%s
      - ou=Groups,%s
`, filepath.Join(dir, "data"), sync, s.LDAPSURL, s.CAFile, s.SvcDN, workers, suffix, suffix)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	sync1 := func(label string, args ...string) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"sync", "ldap", "--config", conf}, args...)...)
		cmd.Env = append(os.Environ(), "LDAP_PW="+s.SvcPW)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var last string
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			last = sc.Text()
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%s: %v\n%s\n%s", label, err, stderr.String(), last)
		}
		wall := time.Since(start)
		var sum ldapsync.Summary
		if err := json.Unmarshal([]byte(last), &sum); err != nil {
			t.Fatalf("%s: %v: %s", label, err, last)
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		written := sum.Users.Created + sum.Users.Updated + sum.Users.Moved + sum.Users.Disabled + sum.Users.Enabled + sum.Users.Deleted +
			sum.Groups.Created + sum.Groups.Updated + sum.Orgs.Created + sum.Orgs.Updated
		objects := sum.Listed + sum.Groups.Created + sum.Groups.Updated + sum.Groups.Unchanged + sum.Orgs.Created + sum.Orgs.Updated + sum.Orgs.Unchanged
		t.Logf("%-28s %8.1fs  %6.0f objects/s  read %7d  written %7d  errors %d  peak RSS %4d MiB",
			label, wall.Seconds(), float64(objects)/wall.Seconds(), sum.Read, written, sum.ErrorCount, rss/1024)
		if sum.ErrorCount > 0 {
			t.Errorf("%s: %d errors", label, sum.ErrorCount)
		}

	}
	sync1("initial (full)")
	sync1("incremental, no change")

	adm := s.AdminT(t)
	changes := max(1, n/100)
	for i := range changes {
		d := depts[i%len(depts)]
		req := ldap.NewModifyRequest(fmt.Sprintf("uid=u%07d,%s", d.first+i/len(depts), d.dn), nil)
		req.Replace("title", []string{"Changed"})
		if err := adm.Modify(req); err != nil {
			t.Fatal(err)
		}
	}
	sync1(fmt.Sprintf("incremental, %d changed", changes))
	sync1("full, no change", "--full")
}

type benchDept struct {
	dn    string
	first int // the number of its first account
}

// benchData returns n accounts in 10 divisions × 10 departments, with
// managers (each department's first account, managed by its division's
// first), and one group per department.
func benchData(suffix string, n int) (string, []benchDept) {
	var b strings.Builder
	b.Grow(n * 600)
	stamp := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	entry := func(dn string, attrs ...string) {
		// Entries changed over years, a minute apart, as in a directory in
		// use (loaded a moment ago, all would be inside the watermark's
		// overlap, and every incremental run would read them all).
		stamp = stamp.Add(time.Minute)
		attrs = append(attrs, "modifyTimestamp", ldapsync.FormatGeneralizedTime(stamp))
		b.WriteString("dn: " + dn + "\n")
		for i := 0; i+1 < len(attrs); i += 2 {
			if attrs[i+1] != "" {
				b.WriteString(attrs[i] + ": " + attrs[i+1] + "\n")
			}
		}
		b.WriteString("\n")
	}
	people := "ou=People," + suffix
	entry(people, "objectClass", "organizationalUnit", "ou", "People")
	entry("ou=Groups,"+suffix, "objectClass", "organizationalUnit", "ou", "Groups")
	var depts []benchDept
	per := max(1, n/100)
	u := 0
	for dv := range 10 {
		div := fmt.Sprintf("ou=Division %d,%s", dv, people)
		entry(div, "objectClass", "organizationalUnit", "ou", fmt.Sprintf("Division %d", dv))
		for dp := range 10 {
			dept := fmt.Sprintf("ou=Department %d-%d,%s", dv, dp, div)
			entry(dept, "objectClass", "organizationalUnit", "ou", fmt.Sprintf("Department %d-%d", dv, dp))
			depts = append(depts, benchDept{dn: dept, first: u})
			count := per
			if dv == 9 && dp == 9 {
				count = n - u
			}
			lead := ""
			var members []string
			for i := range count {
				uid := fmt.Sprintf("u%07d", u)
				dn := "uid=" + uid + "," + dept
				manager := lead
				if i == 0 {
					lead = dn
					manager = ""
				}
				entry(dn, "objectClass", "inetOrgPerson", "uid", uid, "cn", "Person "+uid, "sn", "Family"+uid, "givenName", "Given"+uid,
					"displayName", "Person "+uid, "mail", uid+"@example.com", "telephoneNumber", fmt.Sprintf("+86 138 %04d %04d", u/10000, u%10000),
					"title", "Engineer", "departmentNumber", fmt.Sprintf("D%d-%d", dv, dp), "employeeNumber", fmt.Sprintf("E%07d", u),
					"manager", manager)
				members = append(members, dn)
				u++
			}
			attrs := []string{"objectClass", "groupOfNames", "cn", fmt.Sprintf("dept-%d-%d", dv, dp)}
			for _, m := range members {
				attrs = append(attrs, "member", m)
			}
			if len(members) == 0 {
				attrs = append(attrs, "member", "cn=nobody")
			}
			entry(fmt.Sprintf("cn=dept-%d-%d,ou=Groups,%s", dv, dp, suffix), attrs...)
		}
	}
	return b.String(), depts
}
