package login

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// WebAuthn (security keys and passkeys), with go-webauthn as the relying
// party: Gatehouse's RP ID is the host of base_url and the only origin it
// accepts is base_url's. It asks for no attestation ("none": Gatehouse
// does not restrict authenticator models) and prefers user verification
// (a PIN or a fingerprint on the key when it has one). Credentials are
// server-side (not discoverable): a key is a second factor after the
// password, and uses none of a security key's limited slots.
//
// A ceremony's state (its challenge) is kept in the database, bound to the
// login or the session that began it, and used once.

// webAuthnTimeout bounds a ceremony.
const webAuthnTimeout = 5 * time.Minute

// Purposes of a stored ceremony.
const (
	purposeCreate = "webauthn.create"
	purposeGet    = "webauthn.get"
)

// RelyingParty is Gatehouse as a WebAuthn relying party.
type RelyingParty struct {
	wa *webauthn.WebAuthn
	// ID is the RP ID: base_url's host.
	ID string
}

// NewRelyingParty returns the relying party of baseURL (its scheme, host
// and port are the only origin accepted; its host is the RP ID), named
// name to the person.
func NewRelyingParty(baseURL, name string) (*RelyingParty, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("webauthn: %q is not an http(s) URL", baseURL)
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: webAuthnTimeout, TimeoutUVD: webAuthnTimeout}
	wa, err := webauthn.New(&webauthn.Config{
		RPID: u.Hostname(), RPDisplayName: name, RPOrigins: []string{u.Scheme + "://" + u.Host},
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementDiscouraged, UserVerification: protocol.VerificationPreferred,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	return &RelyingParty{wa: wa, ID: u.Hostname()}, nil
}

// rpUser is a person as the relying party sees her. Her user handle is
// her Gatehouse id (a random UUID: nothing personal).
type rpUser struct {
	id, name, display string
	creds             []webauthn.Credential
}

func (u *rpUser) WebAuthnID() []byte                         { return []byte(u.id) }
func (u *rpUser) WebAuthnName() string                       { return u.name }
func (u *rpUser) WebAuthnDisplayName() string                { return u.display }
func (u *rpUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// rpUserOf returns u with her confirmed WebAuthn credentials, and the
// factors they are stored in (same order).
func rpUserOf(u *directory.User, factors []*Factor) (*rpUser, []*Factor, error) {
	ru := &rpUser{id: u.ID, name: u.UserName, display: u.DisplayName}
	if ru.display == "" {
		ru.display = u.UserName
	}
	var fs []*Factor
	for _, f := range factors {
		if f.Kind != FactorWebAuthn || !f.Confirmed {
			continue
		}
		var c webauthn.Credential
		if err := json.Unmarshal(f.Credential, &c); err != nil {
			return nil, nil, fmt.Errorf("webauthn credential %s: %w", f.ID, err)
		}
		c.Authenticator.SignCount = f.SignCount
		ru.creds = append(ru.creds, c)
		fs = append(fs, f)
	}
	return ru, fs, nil
}

// webAuthnAMR is what an assertion with credential c proves (RFC 8176):
// "hwk", possession of a key bound to its device (a security key, a
// platform authenticator that does not sync it), or "swk" for a credential
// its authenticator may copy to other devices (the backup-eligible flag: a
// synced passkey), which Gatehouse cannot hold to be hardware-bound; and
// "user", the user-presence test WebAuthn always makes. Whether the
// authenticator also verified the person (a PIN, a fingerprint) is not
// stated: RFC 8176 has no value for "one of them, the authenticator knows
// which".
func webAuthnAMR(c *webauthn.Credential) []string {
	if c.Flags.BackupEligible {
		return []string{AMRSoftwareKey, AMRUser}
	}
	return []string{AMRHardwareKey, AMRUser}
}

// putCeremony stores a ceremony's state under binding.
func (s *Service) putCeremony(ctx context.Context, binding, userID, purpose string, sd *webauthn.SessionData) error {
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	c := &Challenge{Binding: binding, UserID: userID, Purpose: purpose, Data: data, Expires: s.stamp().Add(webAuthnTimeout)}
	return s.store.WriteLogin(ctx, func(tx Tx) error { return tx.PutChallenge(ctx, c) })
}

// takeCeremony takes the ceremony bound to binding, if it is userID's,
// for purpose, and not expired.
func (s *Service) takeCeremony(ctx context.Context, binding, userID, purpose string) (*webauthn.SessionData, error) {
	var c *Challenge
	err := s.store.WriteLogin(ctx, func(tx Tx) error {
		var err error
		c, err = tx.TakeChallenge(ctx, binding)
		return err
	})
	if errors.Is(err, directory.ErrNotFound) {
		return nil, errNoCeremony
	}
	if err != nil {
		return nil, err
	}
	if c.UserID != userID || c.Purpose != purpose || !s.stamp().Before(c.Expires) {
		return nil, errNoCeremony
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(c.Data, &sd); err != nil {
		return nil, err
	}
	return &sd, nil
}

// errNoCeremony: the response came for no ceremony in progress (an old
// page, a second submission, another login's): it proves nothing.
var errNoCeremony = &stepFailure{reason: "no-ceremony"}

// beginRegistration starts adding a security key for u, bound to binding:
// the options for navigator.credentials.create (JSON).
func (s *Service) beginRegistration(ctx context.Context, u *directory.User, binding string) (json.RawMessage, error) {
	if s.rp == nil {
		return nil, fail("no-webauthn")
	}
	factors, err := s.store.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	ru, _, err := rpUserOf(u, factors)
	if err != nil {
		return nil, err
	}
	creation, sd, err := s.rp.BeginRegistration(ru, webauthn.WithExclusions(webauthn.Credentials(ru.creds).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	if err := s.putCeremony(ctx, binding, u.ID, purposeCreate, sd); err != nil {
		return nil, err
	}
	return json.Marshal(creation)
}

// maxCredentialJSON bounds a browser's WebAuthn response.
const maxCredentialJSON = 32 << 10

// finishRegistration checks the browser's answer to the ceremony bound to
// binding: the new credential, not yet stored.
func (s *Service) finishRegistration(ctx context.Context, u *directory.User, binding, response string) (*webauthn.Credential, error) {
	if s.rp == nil {
		return nil, fail("no-webauthn")
	}
	sd, err := s.takeCeremony(ctx, binding, u.ID, purposeCreate)
	if err != nil {
		return nil, err
	}
	if response == "" || len(response) > maxCredentialJSON {
		return nil, &stepFailure{reason: "invalid-webauthn"}
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(response))
	if err != nil {
		return nil, &stepFailure{reason: "invalid-webauthn"}
	}
	factors, err := s.store.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	ru, _, err := rpUserOf(u, factors)
	if err != nil {
		return nil, err
	}
	cred, err := s.rp.CreateCredential(ru, *sd, parsed)
	if err != nil {
		return nil, &stepFailure{reason: "invalid-webauthn"}
	}
	return cred, nil
}

// webAuthnStep asks for a security key.
type webAuthnStep struct{ s *Service }

func (webAuthnStep) Method() string { return MethodWebAuthn }

func (w webAuthnStep) Enrolled(ctx context.Context, userID string) (bool, error) {
	return w.s.hasFactor(ctx, userID, FactorWebAuthn)
}

// Challenge begins an assertion for login p: the options for
// navigator.credentials.get (JSON), their challenge kept for Verify.
func (w webAuthnStep) Challenge(ctx context.Context, p *Pending) (json.RawMessage, error) {
	s := w.s
	u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
	if err != nil {
		return nil, err
	}
	factors, err := s.store.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	ru, _, err := rpUserOf(u, factors)
	if err != nil {
		return nil, err
	}
	assertion, sd, err := s.rp.BeginLogin(ru)
	if err != nil {
		return nil, fmt.Errorf("webauthn: %w", err)
	}
	if err := s.putCeremony(ctx, "login:"+p.ID, u.ID, purposeGet, sd); err != nil {
		return nil, err
	}
	return json.Marshal(assertion)
}

// Verify checks the assertion in form["credential"] against the
// challenge of login p and the person's credentials, and moves the key's
// signature counter: a counter that did not move forward (a cloned key,
// or a replay) is refused.
func (w webAuthnStep) Verify(ctx context.Context, p *Pending, _ Client, form map[string][]string) (*Proof, error) {
	s := w.s
	sd, err := s.takeCeremony(ctx, "login:"+p.ID, p.UserID, purposeGet)
	if err != nil {
		return nil, err
	}
	response := formValue(form, "credential")
	if response == "" || len(response) > maxCredentialJSON {
		return nil, &stepFailure{reason: "invalid-webauthn"}
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return nil, &stepFailure{reason: "invalid-webauthn"}
	}
	u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
	if err != nil {
		return nil, err
	}
	factors, err := s.store.Factors(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	ru, fs, err := rpUserOf(u, factors)
	if err != nil {
		return nil, err
	}
	cred, err := s.rp.ValidateLogin(ru, *sd, parsed)
	if err != nil {
		return nil, &stepFailure{reason: "invalid-webauthn"}
	}
	var f *Factor
	for i := range ru.creds {
		if bytes.Equal(ru.creds[i].ID, cred.ID) {
			f = fs[i]
		}
	}
	if f == nil {
		return nil, &stepFailure{reason: "invalid-webauthn"}
	}
	if cred.Authenticator.CloneWarning {
		return nil, &stepFailure{reason: "sign-counter", factor: f}
	}
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	var moved bool
	err = s.store.WriteLogin(ctx, func(tx Tx) error {
		var err error
		moved, err = tx.UseSignCount(ctx, f.ID, cred.Authenticator.SignCount, record, s.stamp())
		return err
	})
	if err != nil {
		return nil, err
	}
	if !moved {
		// Another assertion moved the counter past this one's meanwhile.
		return nil, &stepFailure{reason: "sign-counter", factor: f}
	}
	return &Proof{AMR: webAuthnAMR(cred), Factor: f}, nil
}

func formValue(form map[string][]string, key string) string {
	if v := form[key]; len(v) == 1 {
		return v[0]
	}
	return ""
}
