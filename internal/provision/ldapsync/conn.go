package ldapsync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// searcher is what reading needs of a connection (*ldap.Conn; a fake in
// tests of what slapd cannot do, such as AD's ranged values).
type searcher interface {
	Search(req *ldap.SearchRequest) (*ldap.SearchResult, error)
}

// password reads the bind password from where c says. The value never
// appears in an error.
func (c Config) password(getenv func(string) string) (string, error) {
	switch {
	case c.BindPasswordEnv != "":
		v := getenv(c.BindPasswordEnv)
		if v == "" {
			return "", fmt.Errorf("the bind password: the environment variable %s is not set", c.BindPasswordEnv)
		}
		return v, nil
	case c.BindPasswordFile != "":
		b, err := os.ReadFile(c.BindPasswordFile)
		if err != nil {
			return "", fmt.Errorf("the bind password: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("the bind password: %s is empty", c.BindPasswordFile)
		}
		return v, nil
	}
	return "", nil
}

// tlsConfig is the TLS configuration for c's server.
func (c Config) tlsConfig() (*tls.Config, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}
	if tc.ServerName == "" {
		tc.ServerName = u.Hostname()
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// dial connects to c's server, secures the connection and binds. The
// connection is closed when ctx ends (which interrupts a request in
// flight) or when the returned function is called.
func dial(ctx context.Context, c Config, getenv func(string) string) (*ldap.Conn, func(), error) {
	pw, err := c.password(getenv)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return nil, nil, err
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, nil, err
	}
	where := u.Scheme + "://" + u.Host
	if u.Scheme == "ldapi" {
		where = "ldapi"
	}
	conn, err := ldap.DialURL(c.URL, ldap.DialWithDialer(&net.Dialer{Timeout: 15 * time.Second}), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", where, unwrapLDAP(err))
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	closeAll := func() {
		stop()
		conn.Close()
	}
	conn.SetTimeout(time.Duration(c.Timeout))
	if c.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("StartTLS with %s: %w", where, unwrapLDAP(err))
		}
	}
	if c.BindDN != "" {
		// Bind refuses an empty password (an "unauthenticated bind" that
		// servers answer with success): password() never returns one.
		if err := conn.Bind(c.BindDN, pw); err != nil {
			closeAll()
			if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
				return nil, nil, fmt.Errorf("bind to %s as %s: invalid credentials (check the bind DN and password)", where, c.BindDN)
			}
			return nil, nil, fmt.Errorf("bind to %s as %s: %w", where, c.BindDN, unwrapLDAP(err))
		}
	}
	return conn, closeAll, nil
}

// unwrapLDAP shortens go-ldap's errors to what helps an operator: the
// result code's name and the server's diagnostic.
func unwrapLDAP(err error) error {
	var le *ldap.Error
	if errors.As(err, &le) {
		if le.ResultCode == ldap.ErrorNetwork && le.Err != nil {
			return le.Err
		}
		name := ldap.LDAPResultCodeMap[le.ResultCode]
		if name == "" {
			name = "result " + strconv.Itoa(int(le.ResultCode))
		}
		msg := name
		if le.Err != nil && le.Err.Error() != "" {
			msg += ": " + le.Err.Error()
		}
		return errors.New(msg)
	}
	return err
}

// search reads the entries under base that match filter, page by page
// (RFC 2696), calling fn with each page. A page is at most size entries:
// memory stays bounded however many entries match.
func search(ctx context.Context, s searcher, base, filter string, attrs []string, size int, fn func([]*ldap.Entry) error) error {
	paging := ldap.NewControlPaging(uint32(size))
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false, filter, attrs, []ldap.Control{paging})
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := s.Search(req)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
				return fmt.Errorf("search under %s: the base DN does not exist", base)
			}
			return fmt.Errorf("search under %s: %w", base, unwrapLDAP(err))
		}
		if len(res.Entries) > 0 {
			if err := fn(res.Entries); err != nil {
				return err
			}
		}
		ctl, _ := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if ctl == nil || len(ctl.Cookie) == 0 {
			return nil
		}
		paging.SetCookie(ctl.Cookie)
	}
}

// stream runs search in a goroutine of its own and hands the entries to
// out one by one, so that reading the next page overlaps the work on this
// one; it closes out at the end and returns the search's error.
func stream(ctx context.Context, s searcher, bases []string, filter string, attrs []string, size int, out chan<- *ldap.Entry) error {
	defer close(out)
	for _, base := range bases {
		err := search(ctx, s, base, filter, attrs, size, func(page []*ldap.Entry) error {
			for _, e := range page {
				select {
				case out <- e:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// fullValues returns every value of attribute attr of e. Active Directory
// sends at most 1,500 values of a large attribute at once, as
// "member;range=0-1499", and the rest on request ("member;range=1500-*"):
// they are read here.
func fullValues(ctx context.Context, s searcher, e *ldap.Entry, attr string) ([]string, error) {
	if v := e.GetEqualFoldAttributeValues(attr); len(v) > 0 {
		return v, nil
	}
	var vals []string
	for {
		var r valueRange
		found := false
		for _, a := range e.Attributes {
			rr, ok, err := parseRange(a.Name)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", a.Name, err)
			}
			if ok && strings.EqualFold(rr.Attr, attr) {
				r, found = rr, true
				vals = append(vals, a.Values...)
				break
			}
		}
		if !found || r.Last {
			return vals, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		next := fmt.Sprintf("%s;range=%d-*", attr, r.Hi+1)
		req := ldap.NewSearchRequest(e.DN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{next}, nil)
		res, err := s.Search(req)
		if err != nil {
			return nil, fmt.Errorf("read %s of a group: %w", next, unwrapLDAP(err))
		}
		if len(res.Entries) != 1 {
			return vals, nil
		}
		e = res.Entries[0]
	}
}
