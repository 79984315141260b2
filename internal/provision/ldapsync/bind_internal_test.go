package ldapsync

import (
	"errors"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/go-cmp/cmp"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Active Directory explains an invalidCredentials bind in its diagnostic;
// only an expired password (532) and one that must be changed (773) are
// told to the person, for AD gives those only after checking the password.
func TestADRefusal(t *testing.T) {
	diag := func(code string) error {
		return &ldap.Error{ResultCode: ldap.LDAPResultInvalidCredentials,
			Err: errors.New("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data " + code + ", v4563")}
	}
	for _, tc := range []struct {
		err  error
		want *login.DirectoryRefusal
	}{
		{diag("52e"), nil},
		{diag("532"), &login.DirectoryRefusal{Reason: "password-expired", PasswordWasRight: true}},
		{diag("773"), &login.DirectoryRefusal{Reason: "must-change", PasswordWasRight: true}},
		{diag("533"), &login.DirectoryRefusal{Reason: "disabled"}},
		{diag("701"), &login.DirectoryRefusal{Reason: "expired"}},
		{diag("775"), &login.DirectoryRefusal{Reason: "locked"}},
		{diag("530"), &login.DirectoryRefusal{Reason: "restricted"}},
		{&ldap.Error{ResultCode: ldap.LDAPResultInvalidCredentials, Err: errors.New("")}, nil}, // OpenLDAP says nothing more
	} {
		err := refusal(tc.err)
		if !errors.Is(err, login.ErrInvalidCredentials) {
			t.Errorf("%v: %v is not invalid credentials", tc.err, err)
		}
		var got *login.DirectoryRefusal
		errors.As(err, &got)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tc.err, diff)
		}
	}
}
