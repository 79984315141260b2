package login

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// The login state machine. A login is a Pending record bound to the
// browser that started it:
//
//	Begin ──► StageFirst ──password or bind──► [StageChange] ──► [StageStep …] ──► session
//
// StageChange (a new password) comes when an administrator's reset forced
// it; StageStep once per further factor the policy needs (Steps). Every
// transition is written to the database, so that any replica continues
// it. Finishing deletes the record and creates the session in one
// transaction.

// Outcome is where a login step leaves the login: still Pending (the
// next stage to show), or done (Session, with its cookie Token, and the
// trusted-device cookie DeviceToken to set when a new device was made).
// RecoveryCodes are the person's new recovery codes when the login set up
// her first factor: to show once.
type Outcome struct {
	Pending       *Pending
	Session       *Session
	Token         string
	DeviceToken   string
	RecoveryCodes []string
}

// Done reports whether the login made a session.
func (o *Outcome) Done() bool { return o.Session != nil }

// Begin starts a login for req, to come back to resume (a path on
// Gatehouse: SafeResume; "/" when empty), bound to c's browser.
//
// Step-up: when the browser has a session recent enough for req (not
// forced, within MaxAge and Since) that lacks only factors, the login
// starts from that session's factors and asks only for the missing one
// (or, for a person who has none, to set one up).
func (s *Service) Begin(ctx context.Context, c Client, req Requirement, resume string) (*Pending, error) {
	if resume == "" {
		resume = "/"
	}
	if !SafeResume(resume) {
		return nil, directory.Errorf(directory.ErrInvalid, "resume", "the page to return to must be a path on Gatehouse")
	}
	if !tokenOK(c.Browser) {
		return nil, directory.Errorf(directory.ErrInvalid, "browser", "the browser has no login cookie")
	}
	if req.MinFactors < 0 || req.MinFactors > auth.MaxFactors {
		return nil, directory.Errorf(directory.ErrInvalid, "minFactors", "at most %d factors can be required", auth.MaxFactors)
	}
	id, err := NewToken()
	if err != nil {
		return nil, err
	}
	now := s.stamp()
	p := &Pending{ID: id, BrowserHash: HashToken(c.Browser), AppID: req.AppID, MinFactors: req.MinFactors, Force: req.Force,
		Resume: resume, EndsElsewhere: req.EndsElsewhere, Stage: StageFirst, Created: now, Expires: now.Add(s.opt.PendingLifetime)}
	if err := s.stepUp(ctx, p, c, req); err != nil {
		return nil, err
	}
	if err := s.store.WriteLogin(ctx, func(tx Tx) error { return tx.PutPending(ctx, p) }); err != nil {
		return nil, wrapf("begin login", err)
	}
	return p, nil
}

// stepUp moves login p past its first factor when c's session allows a
// step-up for req (Begin).
func (s *Service) stepUp(ctx context.Context, p *Pending, c Client, req Requirement) error {
	if req.Force || c.Session == "" {
		return nil
	}
	sess, err := s.Session(ctx, c.Session)
	if err != nil || sess == nil || sess.Factors != 1 {
		return err
	}
	if !req.Since.IsZero() && sess.AuthTime.Before(req.Since.Truncate(time.Microsecond)) {
		return nil
	}
	if req.MaxAge > 0 && s.stamp().Sub(sess.AuthTime) > req.MaxAge {
		return nil
	}
	up := *p
	up.UserID, up.AuthTime, up.Factors = sess.UserID, sess.AuthTime, sess.Factors
	up.AMR = slices.DeleteFunc(slices.Clone(sess.AMR), func(m string) bool { return m == AMRMultiFactor })
	stage, _, err := s.nextStage(ctx, &up)
	if err != nil {
		return err
	}
	// Setting up a first factor on the strength of a session needs a
	// recent login (as every factor change does); otherwise the password
	// is asked for again.
	if stage == StageStep || stage == StageEnrol && s.Recent(sess) {
		up.Stage = stage
		*p = up
	}
	return nil
}

// PendingFor returns login id if it is in progress in c's browser
// (*Failure "expired" otherwise).
func (s *Service) PendingFor(ctx context.Context, id string, c Client) (*Pending, error) {
	if !tokenOK(id) || !tokenOK(c.Browser) {
		return nil, fail("expired")
	}
	p, err := s.store.Pending(ctx, id)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, fail("expired")
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(p.BrowserHash, HashToken(c.Browser)) != 1 || !s.stamp().Before(p.Expires) {
		return nil, fail("expired")
	}
	return p, nil
}

// MaxUserNameBytes bounds what the login form's user name may be.
const MaxUserNameBytes = 256

// maxPasswordBytes bounds a submitted password before any hashing (the
// policy bounds new ones in characters; 4 bytes each at most).
func (s *Service) maxPasswordBytes() int { return 4 * max(s.opt.PasswordPolicy.MaxLength, 128) }

// Password checks the first factor of login p: the password of the account
// named userName, against the hash Gatehouse keeps or, for an account
// synced from a directory with delegated authentication, by binding to
// that directory.
func (s *Service) Password(ctx context.Context, p *Pending, c Client, userName, password string) (*Outcome, error) {
	if p.Stage != StageFirst {
		return nil, fail("expired")
	}
	if d := s.addrs.Wait(auth.AddrKey(c.Addr)); d > 0 {
		return nil, &Failure{Reason: "throttled", RetryAfter: d}
	}
	userName = strings.TrimSpace(userName)
	if userName == "" || password == "" || len(userName) > MaxUserNameBytes || len(password) > s.maxPasswordBytes() ||
		!utf8.ValidString(userName) || strings.ContainsAny(userName, "\x00\r\n") {
		// Never checked, never bound: an empty password would be an
		// unauthenticated LDAP bind, which servers answer with success.
		s.addrs.Fail(auth.AddrKey(c.Addr))
		return nil, fail("invalid")
	}
	u, err := s.findUser(ctx, userName)
	if err != nil {
		return nil, err
	}
	if u == nil {
		// Answered as an account's wrong password is (ghosts.go).
		return nil, s.unknownName(ctx, p, c, userName)
	}
	key, dev := s.clientKey(ctx, u.ID, c)
	trusted := dev != nil
	if err := s.charge(ctx, u.ID, key, trusted, false); err != nil {
		return nil, err
	}
	if !u.Active {
		if err := s.burn(ctx); err != nil {
			// As an active account's check that could not be made.
			s.refund(ctx, u.ID, key, trusted, false)
			return nil, s.notChecked(ctx, "password", err)
		}
		if err := s.failed(ctx, u, key, trusted, false, c, Detail{Method: "password", AppID: p.AppID, Reason: "inactive"}); err != nil {
			return nil, err
		}
		return nil, fail("invalid")
	}
	method, err := s.checkPassword(ctx, u, password)
	var refusal *DirectoryRefusal
	switch {
	case err == nil:
	case errors.As(err, &refusal):
		_ = s.failed(ctx, u, key, trusted, false, c, Detail{Method: method, AppID: p.AppID, Reason: "directory-" + refusal.Reason})
		if refusal.PasswordWasRight {
			return nil, &Failure{Reason: "directory-refused", Detail: refusal.Reason}
		}
		return nil, fail("invalid")
	case errors.Is(err, ErrInvalidCredentials):
		if err := s.failed(ctx, u, key, trusted, false, c, Detail{Method: method, AppID: p.AppID, Reason: "invalid-password"}); err != nil {
			return nil, err
		}
		return nil, fail("invalid")
	default:
		s.refund(ctx, u.ID, key, trusted, false)
		return nil, s.notChecked(ctx, method, err)
	}
	return s.firstFactorDone(ctx, p, c, u, method, key, trusted)
}

// notChecked is the answer to a password that could not be checked (its
// attempt given back by the caller): the Failure it is (busy: no hashing
// slot free), or unavailable, logged.
func (s *Service) notChecked(ctx context.Context, method string, err error) error {
	if f, ok := isFailure(err); ok {
		return f
	}
	s.opt.Log.ErrorContext(ctx, "login: the password could not be checked", "method", method, "err", err)
	return fail("unavailable")
}

// findUser returns the account a person signs in as (nil if none).
func (s *Service) findUser(ctx context.Context, userName string) (*directory.User, error) {
	id, err := s.store.UserIDByUserName(ctx, userName)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.User(ctx, id, directory.ReadOptions{})
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	return u, err
}

// burn spends a password check's time on nothing: a check against a
// dummy argon2id hash — or, the first time, making that hash, which costs
// the same (not both: the first unknown name would take twice as long).
// It returns verify's error: a check that could not be made (busy) is
// answered as an account's is.
func (s *Service) burn(ctx context.Context) error {
	first := false
	s.dummyOnce.Do(func() {
		first = true
		s.dummy, _ = s.opt.Hasher.Hash(context.WithoutCancel(ctx), "gatehouse: no such account")
	})
	if s.dummy != "" && !first {
		_, err := s.verify(ctx, "gatehouse: no such account?", s.dummy)
		return err
	}
	return nil
}

// verify checks a password against a hash, waiting at most HashWait for a
// hashing slot.
func (s *Service) verify(ctx context.Context, password, phc string) (bool, error) {
	vctx, cancel := context.WithTimeout(ctx, s.opt.HashWait)
	defer cancel()
	ok, err := s.opt.Hasher.Verify(vctx, password, phc)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return false, &Failure{Reason: "busy", RetryAfter: 5 * time.Second}
	}
	return ok, err
}

// delegated returns the directory that checks u's password (nil: the
// password is Gatehouse's) and u's entry id in it.
func (s *Service) delegated(ctx context.Context, u *directory.User) (Directory, string, error) {
	for _, d := range s.opt.Directories {
		v, err := s.store.User(ctx, u.ID, directory.ReadOptions{Domain: d.Domain()})
		if err != nil {
			return nil, "", err
		}
		if v.ExternalID != "" {
			return d, v.ExternalID, nil
		}
	}
	return nil, "", nil
}

// checkPassword checks password for u and names the method used.
func (s *Service) checkPassword(ctx context.Context, u *directory.User, password string) (string, error) {
	d, entry, err := s.delegated(ctx, u)
	if err != nil {
		return "", err
	}
	if d != nil {
		// The directory's answer is final: a password Gatehouse may also
		// hold for the account is not used.
		return d.Domain(), d.Bind(ctx, entry, password)
	}
	if u.PasswordHash == "" {
		if err := s.burn(ctx); err != nil {
			return "password", err
		}
		return "password", ErrInvalidCredentials
	}
	ok, err := s.verify(ctx, password, u.PasswordHash)
	if err != nil {
		return "password", err
	}
	if !ok {
		return "password", ErrInvalidCredentials
	}
	return "password", nil
}

// firstFactorDone moves login p past its first factor.
func (s *Service) firstFactorDone(ctx context.Context, p *Pending, c Client, u *directory.User, method, key string, trusted bool) (*Outcome, error) {
	now := s.stamp()
	var acct *Account
	err := s.store.WriteLogin(ctx, func(tx Tx) error {
		var err error
		acct, err = succeeded(ctx, tx, u.ID, key, trusted, false, now)
		if err != nil {
			return err
		}
		return tx.PutAccount(ctx, acct)
	})
	if err != nil {
		return nil, wrapf("login", err)
	}
	if method == "password" && !acct.TempExpires.IsZero() && !now.Before(acct.TempExpires) {
		_ = s.write(ctx, func(tx Tx) error {
			return s.record(ctx, tx, personActor(c.RequestID), ActionLoginFailed, directory.UserLoginFailed, u,
				Detail{Method: method, AppID: p.AppID, Reason: "temporary-password-expired", Client: c.Addr}, nil, nil)
		})
		return nil, fail("temp-expired")
	}
	next := *p
	next.UserID, next.AuthTime = u.ID, now
	next.AMR, next.Factors = []string{AMRPassword}, 1
	next.Stage = StageStep
	if acct.MustChange && method == "password" {
		next.Stage = StageChange
	}
	return s.advance(ctx, &next, c, method)
}

// advance finishes login p, or stores it at its next stage.
func (s *Service) advance(ctx context.Context, p *Pending, c Client, method string) (*Outcome, error) {
	if p.Stage != StageChange {
		stage, need, err := s.nextStage(ctx, p)
		if err != nil {
			return nil, err
		}
		switch stage {
		case "":
			return s.finish(ctx, p, c, method, nil)
		case StageFirst:
			// Two factors needed, none to ask for, none to set up here.
			u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
			if err != nil {
				return nil, err
			}
			_ = s.write(ctx, func(tx Tx) error {
				if err := tx.DeletePending(ctx, p.ID); err != nil {
					return err
				}
				return s.record(ctx, tx, personActor(c.RequestID), ActionLoginFailed, directory.UserLoginFailed, u,
					Detail{Method: method, AMR: p.AMR, Factors: p.Factors, AppID: p.AppID, Reason: fmt.Sprintf("needs-%d-factors", need), Client: c.Addr}, nil, nil)
			})
			return nil, fail("no-factor")
		}
		p.Stage = stage
	}
	if err := s.store.WriteLogin(ctx, func(tx Tx) error { return tx.PutPending(ctx, p) }); err != nil {
		return nil, wrapf("login", err)
	}
	return &Outcome{Pending: p}, nil
}

// nextStage says what login p (past its first factor) asks for next: ""
// when it has the factors it needs, StageStep for a second factor the
// person has, StageEnrol to set one up, or StageFirst when it needs one
// that cannot be had (need is then the factors needed).
//
// The factors needed are the policy's (RequiredFactors), and two for a
// person who has a second factor that can be used here: once set up, it
// is always asked for.
func (s *Service) nextStage(ctx context.Context, p *Pending) (stage string, need int, err error) {
	need, err = s.RequiredFactors(ctx, p.UserID, p.AppID, p.MinFactors)
	if err != nil {
		return "", 0, err
	}
	steps, err := s.StepsFor(ctx, p)
	if err != nil {
		return "", 0, err
	}
	for _, st := range steps {
		if st.Method() != MethodRecovery {
			need = max(need, 2)
		}
	}
	need = min(need, auth.MaxFactors)
	switch {
	case p.Factors >= need:
		return "", need, nil
	case len(steps) > 0:
		return StageStep, need, nil
	}
	has, err := s.hasFactor(ctx, p.UserID, "")
	if err != nil {
		return "", 0, err
	}
	if !has && s.canEnrol() {
		return StageEnrol, need, nil
	}
	return StageFirst, need, nil
}

// StepsFor lists the second factors login p may ask for, in the order of
// preference (a security key, an authenticator app, a recovery code):
// those the person has and this server offers, while p has one factor.
func (s *Service) StepsFor(ctx context.Context, p *Pending) ([]Step, error) {
	if p.UserID == "" || p.Factors != 1 {
		return nil, nil
	}
	var out []Step
	for _, st := range s.steps {
		ok, err := st.Enrolled(ctx, p.UserID)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, st)
		}
	}
	return out, nil
}

// NextStep returns the second factor login p asks for first (nil when
// none).
func (s *Service) NextStep(ctx context.Context, p *Pending) (Step, error) {
	steps, err := s.StepsFor(ctx, p)
	if err != nil || len(steps) == 0 {
		return nil, err
	}
	return steps[0], nil
}

// Step checks a second factor of login p (method, with the form the
// person submitted). Its failures count as password failures do, and
// towards the account's second-factor allowance (Lockout.FactorFailures).
func (s *Service) Step(ctx context.Context, p *Pending, c Client, method string, form map[string][]string) (*Outcome, error) {
	if p.Stage != StageStep || p.UserID == "" {
		return nil, fail("expired")
	}
	steps, err := s.StepsFor(ctx, p)
	if err != nil {
		return nil, err
	}
	var st Step
	for _, x := range steps {
		if x.Method() == method {
			st = x
		}
	}
	if st == nil {
		return nil, fail("expired")
	}
	u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
	if err != nil || !u.Active {
		return nil, fail("expired")
	}
	if d := s.addrs.Wait(auth.AddrKey(c.Addr)); d > 0 {
		return nil, &Failure{Reason: "throttled", RetryAfter: d}
	}
	key, dev := s.clientKey(ctx, u.ID, c)
	trusted := dev != nil
	if err := s.charge(ctx, u.ID, key, trusted, true); err != nil {
		return nil, err
	}
	first, err := s.firstMethod(ctx, u)
	if err != nil {
		s.refund(ctx, u.ID, key, trusted, true)
		return nil, err
	}
	proof, err := st.Verify(ctx, p, c, form)
	if err != nil {
		var sf *stepFailure
		if errors.As(err, &sf) {
			d := Detail{Method: first, AMR: p.AMR, AppID: p.AppID, Reason: sf.reason}
			if sf.factor != nil {
				d.Factor = &FactorRef{ID: sf.factor.ID, Kind: sf.factor.Kind, Name: sf.factor.Name}
			}
			if err := s.failed(ctx, u, key, trusted, true, c, d); err != nil {
				return nil, err
			}
			if sf.reason == "reused-totp" {
				return nil, fail("code-used")
			}
			return nil, fail("invalid")
		}
		s.refund(ctx, u.ID, key, trusted, true)
		if errors.Is(err, ErrSealKey) {
			s.opt.Log.ErrorContext(ctx, "login: a TOTP secret cannot be opened", "err", err)
			return nil, fail("unavailable")
		}
		return nil, err
	}
	if err := s.store.WriteLogin(ctx, func(tx Tx) error {
		acct, err := succeeded(ctx, tx, u.ID, key, trusted, true, s.stamp())
		if err != nil {
			return err
		}
		return tx.PutAccount(ctx, acct)
	}); err != nil {
		return nil, wrapf("login", err)
	}
	next := *p
	next.AMR = appendNew(slices.Clone(p.AMR), proof.AMR...)
	next.Factors++
	return s.advance(ctx, &next, c, first)
}

// appendNew appends the values of add that list lacks.
func appendNew(list []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

// firstMethod names how u's first factor is checked: "password", or the
// domain of the directory that binds it.
func (s *Service) firstMethod(ctx context.Context, u *directory.User) (string, error) {
	d, _, err := s.delegated(ctx, u)
	if err != nil || d == nil {
		return "password", err
	}
	return d.Domain(), nil
}

// finish turns login p into a session: in one transaction it deletes the
// login, ends the browser's previous session (the session id changes at
// every login), creates the session and its trusted device, runs also
// (the records of a factor set up by this login), and records
// User.LoggedIn.
func (s *Service) finish(ctx context.Context, p *Pending, c Client, method string, also func(Tx, *Session) error) (*Outcome, error) {
	u, err := s.store.User(ctx, p.UserID, directory.ReadOptions{})
	if err != nil {
		return nil, err
	}
	token, err := NewToken()
	if err != nil {
		return nil, err
	}
	now := s.stamp()
	sess := &Session{ID: s.newID(), UserID: u.ID, AuthTime: p.AuthTime, AMR: slices.DeleteFunc(slices.Clone(p.AMR), func(m string) bool {
		return m == AMRMultiFactor
	}), Factors: p.Factors, Created: now, LastSeen: now, Expires: now.Add(s.opt.SessionLifetime)}
	if sess.Factors >= 2 {
		sess.AMR = append(sess.AMR, AMRMultiFactor)
	}
	out := &Outcome{Session: sess, Token: token}
	var old *Session
	if c.Session != "" && tokenOK(c.Session) {
		if o, err := s.store.SessionByHash(ctx, HashToken(c.Session)); err == nil {
			old = o
		}
	}
	if old != nil && old.UserID == u.ID && now.Before(old.Expires) && now.Sub(old.LastSeen) < s.opt.SessionIdle {
		// A step-up or re-authentication continues the person's session:
		// its absolute lifetime counts from her first sign-in.
		if old.Expires.Before(sess.Expires) {
			sess.Expires = old.Expires
		}
		sess.Created = old.Created
	}
	dev := &Device{UserID: u.ID, Created: now, LastUsed: now}
	var devHash []byte
	if c.Device != "" && tokenOK(c.Device) {
		if d, err := s.store.Device(ctx, HashToken(c.Device)); err == nil && d.UserID == u.ID {
			dev, devHash = d, HashToken(c.Device)
			dev.LastUsed = now
		}
	}
	if devHash == nil {
		t, err := NewToken()
		if err != nil {
			return nil, err
		}
		dev.ID, devHash, out.DeviceToken = s.newID(), HashToken(t), t
	}
	err = s.write(ctx, func(tx Tx) error {
		if err := tx.DeletePending(ctx, p.ID); err != nil {
			return err
		}
		if old != nil {
			if _, err := tx.DeleteSession(ctx, old.ID); err != nil {
				return err
			}
		}
		if err := tx.InsertSession(ctx, sess, HashToken(token)); err != nil {
			return err
		}
		if err := tx.PutDevice(ctx, dev, devHash); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx, sess); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, personActor(c.RequestID), ActionLogin, directory.UserLoggedIn, u,
			Detail{Method: method, AMR: sess.AMR, Factors: sess.Factors, ACR: sess.ACR(), AppID: p.AppID, SessionID: sess.ID, Client: c.Addr}, nil, nil)
	})
	if err != nil {
		return nil, wrapf("login", err)
	}
	return out, nil
}
