package ldapsync

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Delegated authentication (delegated_auth: true): a person whose account
// was synced from a directory signs in with the directory's password.
// Gatehouse connects as the sync does (TLS, the bind account), finds the
// account's entry by its stable id (objectGUID, entryUUID: the account's
// externalId in the directory's domain, which survives renames and moves),
// and binds as that entry's DN with the password typed. The directory
// decides: a disabled, locked or expired entry fails its bind.

// maxBindTime bounds one delegated login's exchange with the directory.
const maxBindTime = 10 * time.Second

// Delegate checks the passwords of the accounts synced from a directory
// (login.Directory).
type Delegate struct {
	cfg    Config // resolved
	getenv func(string) string
}

var _ login.Directory = (*Delegate)(nil)

// NewDelegate returns the delegated authentication of directory c.
func NewDelegate(c Config, getenv func(string) string) *Delegate {
	return &Delegate{cfg: c.Resolve(), getenv: getenv}
}

// Domain is the provisioning domain of the directory's accounts.
func (d *Delegate) Domain() string { return d.cfg.Scope() }

// Bind checks password as the entry with stable id entryID.
func (d *Delegate) Bind(ctx context.Context, entryID, password string) error {
	if password == "" {
		// An empty password is an unauthenticated bind, which servers
		// answer with success (RFC 4513 §5.1.2); go-ldap refuses it too.
		return login.ErrInvalidCredentials
	}
	c := d.cfg
	timeout := min(time.Duration(c.Timeout), maxBindTime)
	c.Timeout = Duration(timeout)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, closeConn, err := dial(ctx, c, d.getenv)
	if err != nil {
		return err
	}
	defer closeConn()
	m := mapper{c: c}
	idf, err := m.idFilter(entryID)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Scope(), err)
	}
	filter := "(&" + parenthesize(c.UserFilter) + idf + ")"
	var dns []string
	for _, base := range c.BaseDNs {
		res, err := conn.Search(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(timeout/time.Second), false,
			filter, []string{"1.1"}, nil))
		if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
			return fmt.Errorf("%s: find the account's entry: %w", c.Scope(), unwrapLDAP(err))
		}
		if res != nil {
			for _, e := range res.Entries {
				dns = append(dns, e.DN)
			}
		}
	}
	switch len(dns) {
	case 0:
		// The entry has gone (the next sync disables the account), or no
		// longer matches the user filter.
		return &login.DirectoryRefusal{Reason: "no-entry"}
	case 1:
	default:
		return fmt.Errorf("%s: %d entries have the id %s", c.Scope(), len(dns), entryID)
	}
	if err := conn.Bind(dns[0], password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return refusal(err)
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultUnwillingToPerform) || ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			return &login.DirectoryRefusal{Reason: "refused"}
		}
		return fmt.Errorf("%s: bind as the account: %w", c.Scope(), unwrapLDAP(err))
	}
	return nil
}

// parenthesize wraps a filter in parentheses if it lacks them.
func parenthesize(f string) string {
	if len(f) > 0 && f[0] == '(' {
		return f
	}
	return "(" + f + ")"
}

// adData is Active Directory's sub-code in an invalidCredentials
// diagnostic ("80090308: LdapErr: DSID-0C09044E, comment:
// AcceptSecurityContext error, data 775, v4563").
var adData = regexp.MustCompile(`\bdata ([0-9a-fA-F]{3}),`)

// refusal reads why a bind failed with invalidCredentials. Active
// Directory says it in the diagnostic; an expired password (532) or one
// that must be changed (773) is only reported when the password was right.
func refusal(err error) error {
	var le *ldap.Error
	if errors.As(err, &le) && le.Err != nil {
		if m := adData.FindStringSubmatch(le.Err.Error()); m != nil {
			switch m[1] {
			case "532":
				return &login.DirectoryRefusal{Reason: "password-expired", PasswordWasRight: true}
			case "773":
				return &login.DirectoryRefusal{Reason: "must-change", PasswordWasRight: true}
			case "533":
				return &login.DirectoryRefusal{Reason: "disabled"}
			case "701":
				return &login.DirectoryRefusal{Reason: "expired"}
			case "775":
				return &login.DirectoryRefusal{Reason: "locked"}
			case "530", "531":
				return &login.DirectoryRefusal{Reason: "restricted"}
			}
		}
	}
	return login.ErrInvalidCredentials
}
