package login

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Second factors (docs/sso.md, "Second factors"): authenticator apps
// (TOTP), security keys and passkeys (WebAuthn), and recovery codes.
//
// A person sets one up on her security page (/factors), after a recent
// login (login.reauth), or — when the policy asks two factors of her and
// she has none — during the login that asks, right after her password:
// then the code (or key) that confirms it is her second factor for that
// login. Her first factor comes with ten recovery codes, shown once.
// Removing a factor or making new codes also needs a recent login; the
// last factor of a person the policy asks two of cannot be removed (an
// administrator's reset can). Every change is an audit record and an
// event (User.FactorAdded, User.FactorRemoved, User.RecoveryCodeUsed), in
// the transaction of the change.

// Step methods: the kinds of factor, and the recovery codes.
const (
	MethodTOTP     = FactorTOTP
	MethodWebAuthn = FactorWebAuthn
	MethodRecovery = "recovery"
)

// maxFactorName bounds a factor's label, in characters.
const maxFactorName = 64

// hasFactor reports whether userID has a confirmed factor of kind ("":
// any kind).
func (s *Service) hasFactor(ctx context.Context, userID, kind string) (bool, error) {
	fs, err := s.store.Factors(ctx, userID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(fs, func(f *Factor) bool { return f.Confirmed && (kind == "" || f.Kind == kind) }), nil
}

// canEnrol reports whether a second factor can be set up here.
func (s *Service) canEnrol() bool { return s.sealer != nil || s.rp != nil }

// OffersTOTP reports whether authenticator apps can be set up here (a
// factor key is configured).
func (s *Service) OffersTOTP() bool { return s.sealer != nil }

// OffersWebAuthn reports whether security keys can be set up here
// (base_url is set).
func (s *Service) OffersWebAuthn() bool { return s.rp != nil }

// totpAAD binds a sealed TOTP secret to its user and factor.
func totpAAD(f *Factor) []byte { return []byte("gatehouse totp v1\x00" + f.UserID + "\x00" + f.ID) }

// ---- the steps

// totpStep asks for a code from an authenticator app.
type totpStep struct{ s *Service }

func (totpStep) Method() string { return MethodTOTP }

func (t totpStep) Enrolled(ctx context.Context, userID string) (bool, error) {
	return t.s.hasFactor(ctx, userID, FactorTOTP)
}

func (totpStep) Challenge(context.Context, *Pending) (json.RawMessage, error) { return nil, nil }

// Verify checks form["code"] against each of the person's authenticator
// apps, and uses its time step: a code whose step was used before (or an
// earlier one) is refused.
func (t totpStep) Verify(ctx context.Context, p *Pending, _ Client, form map[string][]string) (*Proof, error) {
	s := t.s
	factors, err := s.store.Factors(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	code, now := formValue(form, "code"), s.stamp()
	var match *Factor
	var step int64
	for _, f := range factors {
		if f.Kind != FactorTOTP || !f.Confirmed {
			continue
		}
		secret, err := s.sealer.Open(f.Secret, totpAAD(f))
		if err != nil {
			return nil, err
		}
		if st, ok := matchTOTP(secret, code, now); ok && match == nil {
			match, step = f, st
		}
	}
	if match == nil {
		return nil, &stepFailure{reason: "invalid-totp"}
	}
	var fresh bool
	err = s.store.WriteLogin(ctx, func(tx Tx) error {
		var err error
		fresh, err = tx.UseTOTPStep(ctx, match.ID, step, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !fresh {
		return nil, &stepFailure{reason: "reused-totp", factor: match}
	}
	return &Proof{AMR: []string{AMROTP}, Factor: match}, nil
}

// recoveryStep asks for a recovery code.
type recoveryStep struct{ s *Service }

func (recoveryStep) Method() string { return MethodRecovery }

// Enrolled: she has codes left, and a factor they stand in for.
func (r recoveryStep) Enrolled(ctx context.Context, userID string) (bool, error) {
	n, err := r.s.store.RecoveryCodes(ctx, userID)
	if err != nil || n == 0 {
		return false, err
	}
	return r.s.hasFactor(ctx, userID, "")
}

func (recoveryStep) Challenge(context.Context, *Pending) (json.RawMessage, error) { return nil, nil }

// Verify uses the code in form["code"], with its audit record and
// User.RecoveryCodeUsed, in one transaction.
func (r recoveryStep) Verify(ctx context.Context, p *Pending, c Client, form map[string][]string) (*Proof, error) {
	s := r.s
	code, ok := normalizeRecovery(formValue(form, "code"))
	if !ok {
		return nil, &stepFailure{reason: "invalid-recovery"}
	}
	u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
	if err != nil {
		return nil, err
	}
	used := false
	err = s.write(ctx, func(tx Tx) error {
		var err error
		if used, err = tx.UseRecoveryCode(ctx, u.ID, hashRecovery(u.ID, code)); err != nil || !used {
			return err
		}
		left, err := tx.CountRecoveryCodes(ctx, u.ID)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, personActor(c.RequestID), ActionRecoveryUse, directory.UserRecoveryCodeUsed, u,
			Detail{Factor: &FactorRef{Kind: MethodRecovery}, CodesLeft: &left, AppID: p.AppID, Client: c.Addr}, nil, nil)
	})
	if err != nil {
		return nil, err
	}
	if !used {
		return nil, &stepFailure{reason: "invalid-recovery"}
	}
	return &Proof{AMR: []string{AMRRecoveryCode}}, nil
}

// ---- views

// FactorInfo is a factor as its owner and administrators see it: never
// its secret.
type FactorInfo struct {
	ID   string `json:"id"`
	Kind string `json:"kind"`
	Name string `json:"name"`
	// AMR is what a login with it proves (a security key: "hwk" or "swk",
	// with "user").
	AMR      []string   `json:"amr"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"lastUsed,omitempty"`
}

// FactorList is a person's second factors and how many recovery codes
// she has left.
type FactorList struct {
	Factors       []FactorInfo `json:"factors"`
	RecoveryCodes int          `json:"recoveryCodesLeft"`
}

// Factors lists userID's confirmed factors, oldest first.
func (s *Service) Factors(ctx context.Context, userID string) (*FactorList, error) {
	fs, err := s.store.Factors(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := &FactorList{Factors: []FactorInfo{}}
	for _, f := range fs {
		if !f.Confirmed {
			continue
		}
		fi := FactorInfo{ID: f.ID, Kind: f.Kind, Name: f.Name, AMR: []string{AMROTP}, Created: f.Created}
		if !f.LastUsed.IsZero() {
			t := f.LastUsed
			fi.LastUsed = &t
		}
		if f.Kind == FactorWebAuthn {
			var c webauthn.Credential
			if err := json.Unmarshal(f.Credential, &c); err == nil {
				fi.AMR = webAuthnAMR(&c)
			}
		}
		out.Factors = append(out.Factors, fi)
	}
	if out.RecoveryCodes, err = s.store.RecoveryCodes(ctx, userID); err != nil {
		return nil, err
	}
	return out, nil
}

// ---- setting one up

// TOTPEnrolment is an authenticator app being set up: its secret, shown
// now for the person's app (and again if her first code is wrong), never
// once it is confirmed.
type TOTPEnrolment struct {
	FactorID string
	// Secret is the secret in base32, in groups of four, for typing in.
	Secret string
	// URI is the otpauth URI the QR code holds.
	URI string
}

// factorName checks a factor's label; "" gives def.
func factorName(name, def string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return def, nil
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxFactorName || directory.UnsafeText(name) {
		return "", &Failure{Reason: "factor-name"}
	}
	return name, nil
}

// beginTOTP makes a new unconfirmed TOTP factor for u, forgetting a
// set-up she had begun and left.
func (s *Service) beginTOTP(ctx context.Context, u *directory.User) (*TOTPEnrolment, error) {
	if s.sealer == nil {
		return nil, fail("no-totp")
	}
	secret := make([]byte, totpSecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	f := &Factor{ID: s.newID(), UserID: u.ID, Kind: FactorTOTP, Created: s.stamp()}
	var err error
	if f.Secret, err = s.sealer.Seal(secret, totpAAD(f)); err != nil {
		return nil, err
	}
	err = s.store.WriteLogin(ctx, func(tx Tx) error {
		if err := tx.DeleteUnconfirmed(ctx, u.ID, FactorTOTP); err != nil {
			return err
		}
		return tx.InsertFactor(ctx, f)
	})
	if err != nil {
		return nil, wrapf("set up an authenticator app", err)
	}
	return &TOTPEnrolment{FactorID: f.ID, Secret: TOTPSecretText(secret), URI: TOTPURI(secret, s.opt.Issuer, u.UserName)}, nil
}

// unconfirmedTOTP returns u's TOTP factor id while it is being set up
// (begun within PendingLifetime), with its secret.
func (s *Service) unconfirmedTOTP(ctx context.Context, userID, id string) (*Factor, []byte, error) {
	if s.sealer == nil {
		return nil, nil, fail("no-totp")
	}
	fs, err := s.store.Factors(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range fs {
		if f.ID == id && f.Kind == FactorTOTP && !f.Confirmed && s.stamp().Sub(f.Created) < s.opt.PendingLifetime {
			secret, err := s.sealer.Open(f.Secret, totpAAD(f))
			if err != nil {
				return nil, nil, err
			}
			return f, secret, nil
		}
	}
	// Begun too long ago, or replaced by a set-up begun since (another
	// page, a reload): a new one is needed.
	return nil, nil, fail("setup-expired")
}

// TOTPEnrolment returns the set-up of TOTP factor id of userID again (its
// first code was wrong): only while it is unconfirmed.
func (s *Service) TOTPEnrolment(ctx context.Context, userID, id string) (*TOTPEnrolment, error) {
	f, secret, err := s.unconfirmedTOTP(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, userID, directory.ReadOptions{})
	if err != nil {
		return nil, err
	}
	return &TOTPEnrolment{FactorID: f.ID, Secret: TOTPSecretText(secret), URI: TOTPURI(secret, s.opt.Issuer, u.UserName)}, nil
}

// checkFirstCode checks the code that confirms u's TOTP factor id: the
// factor and the step of the code.
func (s *Service) checkFirstCode(ctx context.Context, u *directory.User, c Client, id, code string) (*Factor, int64, error) {
	f, secret, err := s.unconfirmedTOTP(ctx, u.ID, id)
	if err != nil {
		return nil, 0, err
	}
	step, ok := matchTOTP(secret, code, s.stamp())
	if !ok {
		// Nothing to guess (the person was just shown the secret), but
		// the address's allowance bounds the attempts anyway.
		s.addrs.Fail(auth.AddrKey(c.Addr))
		return nil, 0, fail("invalid")
	}
	return f, step, nil
}

// addFactor stores f as confirmed in tx (a TOTP factor with its first
// code's step used, a WebAuthn one new) and, with codes, replaces the
// person's recovery codes, with the audit records and events.
func (s *Service) addFactor(ctx context.Context, tx Tx, actor directory.Actor, u *directory.User, f *Factor, step int64, codes []string, d Detail) error {
	now := s.stamp()
	f.Confirmed, f.LastUsed = true, now
	switch f.Kind {
	case FactorTOTP:
		if err := tx.UpdateFactor(ctx, f); err != nil {
			return err
		}
		if ok, err := tx.UseTOTPStep(ctx, f.ID, step, now); err != nil {
			return err
		} else if !ok {
			return fail("expired")
		}
	default:
		if err := tx.InsertFactor(ctx, f); err != nil {
			return err
		}
	}
	fd := d
	fd.Factor = &FactorRef{ID: f.ID, Kind: f.Kind, Name: f.Name}
	if err := s.record(ctx, tx, actor, ActionFactorAdd, directory.UserFactorAdded, u, fd, nil, nil); err != nil {
		return err
	}
	if codes == nil {
		return nil
	}
	return s.putCodes(ctx, tx, actor, u, codes, d)
}

// putCodes replaces u's recovery codes with codes in tx, with the record.
func (s *Service) putCodes(ctx context.Context, tx Tx, actor directory.Actor, u *directory.User, codes []string, d Detail) error {
	hashes := make([][]byte, len(codes))
	for i, c := range codes {
		n, _ := normalizeRecovery(c)
		hashes[i] = hashRecovery(u.ID, n)
	}
	if err := tx.PutRecoveryCodes(ctx, u.ID, hashes, s.stamp()); err != nil {
		return err
	}
	n := len(codes)
	d.Factor, d.CodesLeft = &FactorRef{Kind: MethodRecovery}, &n
	return s.record(ctx, tx, actor, ActionRecoveryGenerate, directory.UserFactorAdded, u, d, nil, nil)
}

// firstCodes returns new recovery codes when u has no confirmed factor
// yet (the one being added is her first), else nil.
func (s *Service) firstCodes(ctx context.Context, userID string) ([]string, error) {
	has, err := s.hasFactor(ctx, userID, "")
	if err != nil || has {
		return nil, err
	}
	return newRecoveryCodes()
}

// webAuthnFactor is the factor that stores a new credential.
func (s *Service) webAuthnFactor(userID, name string, cred *webauthn.Credential) (*Factor, error) {
	record, err := json.Marshal(cred)
	if err != nil {
		return nil, err
	}
	return &Factor{ID: s.newID(), UserID: userID, Kind: FactorWebAuthn, Name: name, CredentialID: cred.ID, Credential: record,
		SignCount: cred.Authenticator.SignCount, Created: s.stamp()}, nil
}

// ---- during a login (StageEnrol)

// enrolling returns the person of login p, which is setting up her first
// factor.
func (s *Service) enrolling(ctx context.Context, p *Pending) (*directory.User, error) {
	if p.Stage != StageEnrol || p.UserID == "" {
		return nil, fail("expired")
	}
	u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
	if err != nil || !u.Active {
		return nil, fail("expired")
	}
	// Only a first factor is set up on the strength of the password.
	if has, err := s.hasFactor(ctx, u.ID, ""); err != nil {
		return nil, err
	} else if has {
		return nil, fail("expired")
	}
	return u, nil
}

// EnrolTOTP begins setting up an authenticator app in login p (a new
// secret each time the page is shown).
func (s *Service) EnrolTOTP(ctx context.Context, p *Pending) (*TOTPEnrolment, error) {
	u, err := s.enrolling(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.beginTOTP(ctx, u)
}

// ConfirmEnrolTOTP confirms the authenticator app set up in login p with
// its first code, which is the login's second factor: the login ends in
// a session, with the person's recovery codes (Outcome.RecoveryCodes).
func (s *Service) ConfirmEnrolTOTP(ctx context.Context, p *Pending, c Client, id, name, code string) (*Outcome, error) {
	u, err := s.enrolling(ctx, p)
	if err != nil {
		return nil, err
	}
	if name, err = factorName(name, "Authenticator app"); err != nil {
		return nil, err
	}
	f, step, err := s.checkFirstCode(ctx, u, c, id, code)
	if err != nil {
		return nil, err
	}
	f.Name = name
	return s.enrolled(ctx, p, c, u, f, step, []string{AMROTP})
}

// EnrolWebAuthn begins registering a security key in login p: the
// options for navigator.credentials.create.
func (s *Service) EnrolWebAuthn(ctx context.Context, p *Pending) (json.RawMessage, error) {
	u, err := s.enrolling(ctx, p)
	if err != nil {
		return nil, err
	}
	return s.beginRegistration(ctx, u, "enrol:"+p.ID)
}

// ConfirmEnrolWebAuthn registers the security key of the browser's
// answer in login p: the key is the login's second factor, as for
// ConfirmEnrolTOTP.
func (s *Service) ConfirmEnrolWebAuthn(ctx context.Context, p *Pending, c Client, name, response string) (*Outcome, error) {
	u, err := s.enrolling(ctx, p)
	if err != nil {
		return nil, err
	}
	f, cred, err := s.registeredKey(ctx, u, "enrol:"+p.ID, name, response)
	if err != nil {
		return nil, err
	}
	return s.enrolled(ctx, p, c, u, f, 0, webAuthnAMR(cred))
}

// registeredKey checks the browser's answer to the registration ceremony
// bound to binding and returns the security key it registers, named name
// ("Security key" when empty).
func (s *Service) registeredKey(ctx context.Context, u *directory.User, binding, name, response string) (*Factor, *webauthn.Credential, error) {
	name, err := factorName(name, "Security key")
	if err != nil {
		return nil, nil, err
	}
	cred, err := s.finishRegistration(ctx, u, binding, response)
	if err != nil {
		return nil, nil, registrationFailure(err)
	}
	f, err := s.webAuthnFactor(u.ID, name, cred)
	if err != nil {
		return nil, nil, err
	}
	return f, cred, nil
}

// registrationFailure is what a refused registration tells the person.
func registrationFailure(err error) error {
	var sf *stepFailure
	if errors.As(err, &sf) {
		return fail("invalid")
	}
	return err
}

// enrolled finishes login p with the factor f it set up (amr: what it
// proved), the person's first: the session, the factor and her recovery
// codes in one transaction.
func (s *Service) enrolled(ctx context.Context, p *Pending, c Client, u *directory.User, f *Factor, step int64, amr []string) (*Outcome, error) {
	codes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	first, err := s.firstMethod(ctx, u)
	if err != nil {
		return nil, err
	}
	next := *p
	next.AMR = appendNew(slices.Clone(p.AMR), amr...)
	next.Factors++
	out, err := s.finish(ctx, &next, c, first, func(tx Tx, sess *Session) error {
		return s.addFactor(ctx, tx, personActor(c.RequestID), u, f, step, codes,
			Detail{By: "self", DuringLogin: true, AppID: p.AppID, SessionID: sess.ID, Client: c.Addr})
	})
	if err != nil {
		return nil, addFailure(err)
	}
	out.RecoveryCodes = codes
	return out, nil
}

// ---- signed in (the security page)

// recent checks that sess may change factors (a login within
// login.reauth), and returns its person.
func (s *Service) recent(ctx context.Context, sess *Session) (*directory.User, error) {
	if sess == nil || !s.Recent(sess) {
		return nil, fail("reauth")
	}
	u, err := s.store.User(ctx, sess.UserID, directory.ReadOptions{})
	if err != nil || !u.Active {
		return nil, fail("reauth")
	}
	return u, nil
}

// AddTOTP begins setting up an authenticator app for sess's person.
func (s *Service) AddTOTP(ctx context.Context, sess *Session) (*TOTPEnrolment, error) {
	u, err := s.recent(ctx, sess)
	if err != nil {
		return nil, err
	}
	return s.beginTOTP(ctx, u)
}

// ConfirmTOTP confirms the authenticator app id being set up with its
// first code. When it is her first factor, her recovery codes come back
// (shown once); otherwise nil.
func (s *Service) ConfirmTOTP(ctx context.Context, sess *Session, c Client, id, name, code string) ([]string, error) {
	u, err := s.recent(ctx, sess)
	if err != nil {
		return nil, err
	}
	if name, err = factorName(name, "Authenticator app"); err != nil {
		return nil, err
	}
	f, step, err := s.checkFirstCode(ctx, u, c, id, code)
	if err != nil {
		return nil, err
	}
	f.Name = name
	return s.added(ctx, sess, c, u, f, step)
}

// AddWebAuthn begins registering a security key for sess's person: the
// options for navigator.credentials.create.
func (s *Service) AddWebAuthn(ctx context.Context, sess *Session) (json.RawMessage, error) {
	u, err := s.recent(ctx, sess)
	if err != nil {
		return nil, err
	}
	return s.beginRegistration(ctx, u, "session:"+sess.ID)
}

// ConfirmWebAuthn registers the security key of the browser's answer, as
// ConfirmTOTP.
func (s *Service) ConfirmWebAuthn(ctx context.Context, sess *Session, c Client, name, response string) ([]string, error) {
	u, err := s.recent(ctx, sess)
	if err != nil {
		return nil, err
	}
	f, _, err := s.registeredKey(ctx, u, "session:"+sess.ID, name, response)
	if err != nil {
		return nil, err
	}
	return s.added(ctx, sess, c, u, f, 0)
}

// added stores factor f for sess's person, with recovery codes when it is
// her first.
func (s *Service) added(ctx context.Context, sess *Session, c Client, u *directory.User, f *Factor, step int64) ([]string, error) {
	codes, err := s.firstCodes(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx Tx) error {
		return s.addFactor(ctx, tx, personActor(c.RequestID), u, f, step, codes, Detail{By: "self", SessionID: sess.ID, Client: c.Addr})
	})
	if err != nil {
		return nil, addFailure(err)
	}
	return codes, nil
}

// addFailure is what a failed addition of a factor tells: the person's
// failure, or (a credential id registered already, which no honest
// browser sends) a refused key; else the error.
func addFailure(err error) error {
	if f, ok := isFailure(err); ok {
		return f
	}
	if errors.Is(err, directory.ErrConflict) {
		return fail("invalid")
	}
	return wrapf("add a factor", err)
}

// RemoveFactor removes factor id of sess's person. Her last one goes only
// if the policy does not ask two factors of her (on Gatehouse's own
// pages), and takes her recovery codes with it.
func (s *Service) RemoveFactor(ctx context.Context, sess *Session, c Client, id string) error {
	u, err := s.recent(ctx, sess)
	if err != nil {
		return err
	}
	fs, err := s.store.Factors(ctx, u.ID)
	if err != nil {
		return err
	}
	var f *Factor
	others := 0
	for _, x := range fs {
		if !x.Confirmed {
			continue
		}
		if x.ID == id {
			f = x
		} else {
			others++
		}
	}
	if f == nil {
		return fail("expired")
	}
	if others == 0 {
		need, err := s.RequiredFactors(ctx, u.ID, "", 0)
		if err != nil {
			return err
		}
		if need >= 2 {
			return fail("last-factor")
		}
	}
	return s.write(ctx, func(tx Tx) error {
		ok, err := tx.DeleteFactor(ctx, u.ID, f.ID)
		if err != nil || !ok {
			return err
		}
		d := Detail{By: "self", SessionID: sess.ID, Client: c.Addr, Factor: &FactorRef{ID: f.ID, Kind: f.Kind, Name: f.Name}}
		if others == 0 {
			// The codes stood in for the factors: none is left.
			if _, err := tx.DeleteRecoveryCodes(ctx, u.ID); err != nil {
				return err
			}
			left := 0
			d.CodesLeft = &left
		}
		return s.record(ctx, tx, personActor(c.RequestID), ActionFactorRemove, directory.UserFactorRemoved, u, d, nil, nil)
	})
}

// NewRecoveryCodes replaces the recovery codes of sess's person with ten
// new ones, returned once: the old ones stop working.
func (s *Service) NewRecoveryCodes(ctx context.Context, sess *Session, c Client) ([]string, error) {
	u, err := s.recent(ctx, sess)
	if err != nil {
		return nil, err
	}
	if has, err := s.hasFactor(ctx, u.ID, ""); err != nil {
		return nil, err
	} else if !has {
		return nil, fail("needs-factor")
	}
	codes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	err = s.write(ctx, func(tx Tx) error {
		return s.putCodes(ctx, tx, personActor(c.RequestID), u, codes, Detail{By: "self", SessionID: sess.ID, Client: c.Addr})
	})
	if err != nil {
		return nil, wrapf("new recovery codes", err)
	}
	return codes, nil
}

// ResetFactors removes every second factor and recovery code of a user
// and ends her sessions (an administrator's action, for a lost phone or
// key): her next login needing two factors leads her to set one up.
// It returns how many factors went and how many sessions ended.
func (s *Service) ResetFactors(ctx context.Context, actor directory.Actor, userID string) (removed, ended int, err error) {
	u, err := s.store.User(ctx, userID, directory.ReadOptions{})
	if err != nil {
		return 0, 0, err
	}
	err = s.write(ctx, func(tx Tx) error {
		var err error
		if removed, err = tx.DeleteFactors(ctx, userID); err != nil {
			return err
		}
		if _, err = tx.DeleteRecoveryCodes(ctx, userID); err != nil {
			return err
		}
		ids, err := tx.DeleteUserSessions(ctx, userID, "")
		if err != nil {
			return err
		}
		ended = len(ids)
		grants, err := tx.RevokeUserGrants(ctx, userID, s.stamp())
		if err != nil {
			return err
		}
		return s.record(ctx, tx, actor, ActionFactorReset, directory.UserFactorRemoved, u,
			Detail{By: "administrator", Removed: removed, Sessions: ended, Grants: int(grants)}, nil, nil)
	})
	return removed, ended, err
}
