package web

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// The pages. A login is a server-side pending login (login.Pending) whose
// random id travels in the URL and whose record is bound to the
// browser's own cookie: a link to someone else's login leads nowhere.

// deviceMaxAge is how long the trusted-device cookie lasts (the server
// forgets a device unused for login.DeviceLifetime).
const deviceMaxAge = 400 * 24 * 3600

// parseForm reads a POSTed form of at most maxForm bytes, and checks its
// CSRF token; false when it answered.
func (s *Site) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	l := s.lang(r)
	if err := r.ParseForm(); err != nil {
		s.render(w, r, http.StatusBadRequest, "error", &page{Title: l.T("error.title"), Message: l.T("err.csrf")})
		return false
	}
	if !s.checkCSRF(r) {
		s.render(w, r, http.StatusForbidden, "error", &page{Title: l.T("error.title"), Message: l.T("err.csrf")})
		return false
	}
	return true
}

// loginPage shows the stage of the login in progress (?l=), or starts
// one for the user page.
func (s *Site) loginPage(w http.ResponseWriter, r *http.Request) {
	s.browser(w, r)
	id := r.URL.Query().Get("l")
	if id == "" {
		if sess, err := s.Current(r); err == nil && sess != nil {
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		s.Authenticate(w, r, login.Requirement{}, "/")
		return
	}
	p, err := s.login.PendingFor(r.Context(), id, s.client(r))
	if err != nil {
		s.loginFailed(w, r, nil, err, "")
		return
	}
	s.showLogin(w, r, http.StatusOK, p, "", "")
}

// showLogin renders login p's stage, with an error message if any. A
// second-factor or set-up stage shows the way the query (?m=) or the
// form (method) chose, else the first the person has (a security key, an
// authenticator app, a recovery code), with links to the others.
func (s *Site) showLogin(w http.ResponseWriter, r *http.Request, status int, p *login.Pending, msg, prefill string) {
	l := s.lang(r)
	ctx := r.Context()
	pg := &page{L: l, Login: p.ID, Stage: p.Stage, Error: msg, Prefill: prefill, Policy: l.F("policy", s.opt.PolicyText), Action: "/login"}
	method := r.URL.Query().Get("m")
	if r.Method == http.MethodPost {
		method = r.PostFormValue("method")
	}
	switchTo := func(m, label string) methodLink {
		return methodLink{Label: l.T(label), URL: "/login?l=" + url.QueryEscape(p.ID) + "&m=" + url.QueryEscape(m)}
	}
	switch p.Stage {
	case login.StageChange:
		pg.Title = l.T("change.title")
	case login.StageStep:
		pg.Title = l.T("step.title")
		steps, err := s.login.StepsFor(ctx, p)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if len(steps) == 0 {
			s.loginFailed(w, r, nil, &login.Failure{Reason: "expired"}, "")
			return
		}
		st := steps[0]
		for _, x := range steps {
			if x.Method() == method {
				st = x
			}
		}
		pg.StepMethod = st.Method()
		for _, x := range steps {
			if x != st {
				pg.Methods = append(pg.Methods, switchTo(x.Method(), "method."+x.Method()))
			}
		}
		opts, err := st.Challenge(ctx, p)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if opts != nil {
			pg.WebAuthnOptions, pg.Script = string(opts), true
		}
	case login.StageEnrol:
		pg.Title = l.T("enrol.title")
		totp, key := s.login.OffersTOTP(), s.login.OffersWebAuthn()
		if method != login.MethodWebAuthn && totp || !key {
			pg.StepMethod = login.MethodTOTP
			if key {
				pg.Methods = append(pg.Methods, switchTo(login.MethodWebAuthn, "enrol.webauthn"))
			}
			var e *login.TOTPEnrolment
			var err error
			if retry := r.PostFormValue("factor"); r.Method == http.MethodPost && retry != "" {
				// The first code was wrong: the same secret again.
				e, err = s.login.TOTPEnrolment(ctx, p.UserID, retry)
				pg.FactorName = r.PostFormValue("name")
			}
			if e == nil || err != nil {
				e, err = s.login.EnrolTOTP(ctx, p)
			}
			if err != nil {
				s.loginFailed(w, r, nil, err, "")
				return
			}
			if pg.TOTP, err = s.totpView(l, e); err != nil {
				s.internal(w, r, err)
				return
			}
		} else {
			pg.StepMethod = login.MethodWebAuthn
			if totp {
				pg.Methods = append(pg.Methods, switchTo(login.MethodTOTP, "enrol.totp"))
			}
			opts, err := s.login.EnrolWebAuthn(ctx, p)
			if err != nil {
				s.loginFailed(w, r, nil, err, "")
				return
			}
			pg.WebAuthnOptions, pg.Script = string(opts), true
		}
	default:
		pg.Title = l.T("login.title")
	}
	if p.AppID != "" {
		if a, err := s.login.App(ctx, p.AppID); err == nil {
			pg.AppName = visible(a.Name)
		}
	}
	s.render(w, r, status, "login", pg)
}

// totpView is what the page shows of an authenticator app being set up.
func (s *Site) totpView(l *Lang, e *login.TOTPEnrolment) (*totpView, error) {
	qr, err := qrSVG(e.URI, l.T("totp.qr"))
	if err != nil {
		return nil, err
	}
	return &totpView{FactorID: e.FactorID, Secret: e.Secret, QR: qr}, nil
}

// loginPost takes one stage of a login.
func (s *Site) loginPost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	c := s.client(r)
	p, err := s.login.PendingFor(r.Context(), r.PostFormValue("l"), c)
	if err != nil {
		s.loginFailed(w, r, nil, err, "")
		return
	}
	if r.PostFormValue("stage") != p.Stage {
		// A form shown before the login moved on (a second submit).
		http.Redirect(w, r, "/login?l="+url.QueryEscape(p.ID), http.StatusSeeOther)
		return
	}
	var out *login.Outcome
	prefill := ""
	switch p.Stage {
	case login.StageFirst:
		prefill = r.PostFormValue("username")
		out, err = s.login.Password(r.Context(), p, c, prefill, r.PostFormValue("password"))
	case login.StageChange:
		out, err = s.login.ForcedChange(r.Context(), p, c, r.PostFormValue("new"), r.PostFormValue("confirm"))
	case login.StageStep:
		out, err = s.login.Step(r.Context(), p, c, r.PostFormValue("method"), r.PostForm)
	case login.StageEnrol:
		name := r.PostFormValue("name")
		if r.PostFormValue("method") == login.MethodWebAuthn {
			out, err = s.login.ConfirmEnrolWebAuthn(r.Context(), p, c, name, r.PostFormValue("credential"))
		} else {
			out, err = s.login.ConfirmEnrolTOTP(r.Context(), p, c, r.PostFormValue("factor"), name, r.PostFormValue("code"))
		}
	default:
		err = &login.Failure{Reason: "expired"}
	}
	if err != nil {
		if len(prefill) > login.MaxUserNameBytes {
			prefill = ""
		}
		s.loginFailed(w, r, p, err, prefill)
		return
	}
	if !out.Done() {
		http.Redirect(w, r, "/login?l="+url.QueryEscape(out.Pending.ID), http.StatusSeeOther)
		return
	}
	s.setCookie(w, "session", out.Token, 0)
	if out.DeviceToken != "" {
		s.setCookie(w, "device", out.DeviceToken, deviceMaxAge)
	}
	if out.RecoveryCodes != nil {
		// The login set up her first factor: her recovery codes, this
		// once, then on to where the login was going.
		s.showCodes(w, r, out.RecoveryCodes, p.Resume)
		return
	}
	if p.EndsElsewhere {
		// login.Requirement.EndsElsewhere: a page of Gatehouse's ends the
		// form's navigation, under form-action 'self'; the Refresh header
		// (or the button) starts a navigation of its own to the resume
		// path, whose redirects leave the site.
		l := s.lang(r)
		w.Header().Set("Refresh", "0; url="+p.Resume)
		s.render(w, r, http.StatusOK, "continue", &page{L: l, Title: l.T("continue.title"), Continue: p.Resume})
		return
	}
	http.Redirect(w, r, p.Resume, http.StatusSeeOther)
}

// showCodes shows recovery codes (once: the page is not cached), with a
// link on to next.
func (s *Site) showCodes(w http.ResponseWriter, r *http.Request, codes []string, next string) {
	l := s.lang(r)
	s.render(w, r, http.StatusOK, "codes", &page{L: l, Title: l.T("codes.title"), Codes: codes, Continue: next})
}

// waitText says how long to wait, in whole seconds or minutes.
func waitText(d time.Duration) string {
	if d < time.Minute {
		return strconv.Itoa(int(math.Ceil(d.Seconds()))) + " s"
	}
	return strconv.Itoa(int(math.Ceil(d.Minutes()))) + " min"
}

// loginFailed shows why a login step failed: on the login page of p when
// the login goes on, else on the error page.
func (s *Site) loginFailed(w http.ResponseWriter, r *http.Request, p *login.Pending, err error, prefill string) {
	l := s.lang(r)
	var f *login.Failure
	if !errors.As(err, &f) {
		s.internal(w, r, err)
		return
	}
	status, msg := http.StatusUnauthorized, ""
	switch f.Reason {
	case "invalid":
		msg = l.T("err.invalid")
		if p != nil && (p.Stage == login.StageStep || p.Stage == login.StageEnrol) {
			msg = l.T("err.invalid.code")
			if r.PostFormValue("method") == login.MethodWebAuthn {
				msg = l.T("err.invalid.key")
			}
		}
	case "code-used":
		msg = l.T("err.code-used")
	case "factor-locked":
		status, msg, p = http.StatusForbidden, l.T("err.factor-locked"), nil
	case "factor-name", "no-webauthn", "no-totp", "setup-expired":
		status, msg = http.StatusBadRequest, l.T("err."+f.Reason)
	case "throttled", "locked", "slowed":
		status, msg = http.StatusTooManyRequests, l.F("err."+f.Reason, waitText(f.RetryAfter))
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(f.RetryAfter.Seconds()))))
	case "temp-expired", "no-factor":
		status, msg, p = http.StatusForbidden, l.T("err."+f.Reason), nil
	case "directory-refused":
		status, msg = http.StatusForbidden, l.F("err.directory", l.T("dir."+f.Detail))
	case "unavailable", "busy":
		status, msg = http.StatusServiceUnavailable, l.T("err."+f.Reason)
		w.Header().Set("Retry-After", "5")
	case "mismatch", "same-password":
		status, msg = http.StatusBadRequest, l.T("err."+f.Reason)
	case "password-policy":
		status, msg = http.StatusBadRequest, l.F("err.policy", f.Detail)
	default: // "expired"
		status, msg, p = http.StatusBadRequest, l.T("err.expired"), nil
	}
	if p == nil {
		s.render(w, r, status, "error", &page{Title: l.T("error.title"), Message: msg})
		return
	}
	s.showLogin(w, r, status, p, msg, prefill)
}

// homePage lists the applications the person may open.
func (s *Site) homePage(w http.ResponseWriter, r *http.Request) {
	s.browser(w, r)
	sess, err := s.Current(r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if sess == nil {
		s.Authenticate(w, r, login.Requirement{}, "/")
		return
	}
	u, err := s.login.User(r.Context(), sess.UserID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	apps, err := s.login.AppsFor(r.Context(), sess.UserID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	l := s.lang(r)
	sr := s.searchOn()
	pg := &page{L: l, Title: l.T("home.title"), UserName: displayName(u.DisplayName, u.UserName), SearchOn: sr != nil, Answers: sr != nil && sr.Answers()}
	for _, a := range apps {
		link := appLink{Name: visible(a.Name), RequireSSO: a.Access.RequireSSO}
		if fn := s.launcher(a.Kind); fn != nil {
			link.URL = safeLink(fn(a))
		}
		pg.Apps = append(pg.Apps, link)
	}
	s.render(w, r, http.StatusOK, "home", pg)
}

func displayName(display, userName string) string {
	if display != "" {
		return visible(display) + " (" + visible(userName) + ")"
	}
	return visible(userName)
}

// visible shows a name as what it is: its control characters and
// invisible direction marks (directory.UnsafeRune), which could make it
// read as another, are shown as their code points ("[U+202E]"). Names
// that come from elsewhere — a person's displayName and userName from
// SCIM, applications and factors named before Gatehouse refused them —
// go through it.
func visible(s string) string {
	if !directory.UnsafeText(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if directory.UnsafeRune(r) {
			fmt.Fprintf(&b, "[U+%04X]", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// safeLink keeps a launcher's URL when it is a path on Gatehouse or an
// https URL ("" otherwise).
func safeLink(v string) string {
	if login.SafeResume(v) {
		return v
	}
	u, err := url.Parse(v)
	if err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil {
		return u.String()
	}
	return ""
}

// logoutPage asks to confirm (a link must not sign anyone out).
func (s *Site) logoutPage(w http.ResponseWriter, r *http.Request) {
	s.browser(w, r)
	l := s.lang(r)
	sess, err := s.Current(r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if sess == nil {
		s.render(w, r, http.StatusOK, "logout", &page{Title: l.T("logout.done"), Done: true})
		return
	}
	s.render(w, r, http.StatusOK, "logout", &page{Title: l.T("logout.title")})
}

func (s *Site) logoutPost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	if r.PostFormValue("everywhere") != "" {
		// Every browser, and her applications' refresh tokens.
		_, _, _, err := s.login.LogoutEverywhere(r.Context(), s.cookie(r, "session"), s.client(r))
		s.setCookie(w, "session", "", -1)
		if err != nil {
			s.internal(w, r, err)
			return
		}
	} else if _, err := s.EndSession(w, r); err != nil {
		s.internal(w, r, err)
		return
	}
	l := s.lang(r)
	s.render(w, r, http.StatusOK, "logout", &page{Title: l.T("logout.done"), Done: true})
}

// passwordPage shows the password change form.
func (s *Site) passwordPage(w http.ResponseWriter, r *http.Request) {
	s.browser(w, r)
	sess, err := s.Current(r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if sess == nil || !s.login.Recent(sess) {
		// A sensitive action: the login must be recent (login.reauth).
		s.Authenticate(w, r, login.Requirement{Force: sess != nil}, "/password")
		return
	}
	s.showPassword(w, r, http.StatusOK, sess, "", "")
}

func (s *Site) showPassword(w http.ResponseWriter, r *http.Request, status int, sess *login.Session, msg, notice string) {
	l := s.lang(r)
	pg := &page{L: l, Title: l.T("password.title"), Error: msg, Notice: notice, Policy: l.F("policy", s.opt.PolicyText)}
	if u, err := s.login.User(r.Context(), sess.UserID); err == nil {
		pg.UserName = displayName(u.DisplayName, u.UserName)
	}
	d, err := s.login.Delegated(r.Context(), sess.UserID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	pg.Delegated = d
	s.render(w, r, status, "password", pg)
}

// passwordPost changes the password: only for a recent login
// (login.reauth; otherwise the person signs in again first), and with the
// current password typed again.
func (s *Site) passwordPost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess, err := s.Current(r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if sess == nil || !s.login.Recent(sess) {
		s.Authenticate(w, r, login.Requirement{Force: sess != nil}, "/password")
		return
	}
	err = s.login.ChangePassword(r.Context(), sess, s.client(r), r.PostFormValue("current"), r.PostFormValue("new"), r.PostFormValue("confirm"))
	l := s.lang(r)
	var f *login.Failure
	switch {
	case err == nil:
		s.showPassword(w, r, http.StatusOK, sess, "", l.T("password.done"))
	case errors.As(err, &f):
		status, msg := http.StatusBadRequest, ""
		switch f.Reason {
		case "invalid":
			status, msg = http.StatusUnauthorized, l.T("err.invalid")
		case "throttled", "locked", "slowed":
			status, msg = http.StatusTooManyRequests, l.F("err."+f.Reason, waitText(f.RetryAfter))
		case "password-policy":
			msg = l.F("err.policy", f.Detail)
		case "not-here":
			msg = l.F("err.not-here", f.Detail)
		case "unavailable", "busy":
			status, msg = http.StatusServiceUnavailable, l.T("err."+f.Reason)
		default:
			msg = l.T("err." + f.Reason)
		}
		s.showPassword(w, r, status, sess, msg, "")
	default:
		s.internal(w, r, err)
	}
}
