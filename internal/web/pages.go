package web

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

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

// showLogin renders login p's stage, with an error message if any.
func (s *Site) showLogin(w http.ResponseWriter, r *http.Request, status int, p *login.Pending, msg, prefill string) {
	l := s.lang(r)
	pg := &page{L: l, Login: p.ID, Stage: p.Stage, Error: msg, Prefill: prefill, Policy: l.F("policy", s.opt.PolicyText)}
	switch p.Stage {
	case login.StageChange:
		pg.Title = l.T("change.title")
	case login.StageStep:
		pg.Title = l.T("step.title")
		st, err := s.login.NextStep(r.Context(), p)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if st == nil {
			s.loginFailed(w, r, nil, &login.Failure{Reason: "expired"}, "")
			return
		}
		pg.StepMethod = st.Method()
	default:
		pg.Title = l.T("login.title")
	}
	if p.AppID != "" {
		if a, err := s.login.App(r.Context(), p.AppID); err == nil {
			pg.AppName = a.Name
		}
	}
	s.render(w, r, status, "login", pg)
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
	http.Redirect(w, r, p.Resume, http.StatusSeeOther)
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
		if p != nil && p.Stage == login.StageStep {
			msg = l.T("err.invalid.code")
		}
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
	pg := &page{L: l, Title: l.T("home.title"), UserName: displayName(u.DisplayName, u.UserName)}
	for _, a := range apps {
		link := appLink{Name: a.Name, RequireSSO: a.Access.RequireSSO}
		if fn := s.launcher(a.Kind); fn != nil {
			link.URL = safeLink(fn(a))
		}
		pg.Apps = append(pg.Apps, link)
	}
	s.render(w, r, http.StatusOK, "home", pg)
}

func displayName(display, userName string) string {
	if display != "" {
		return display + " (" + userName + ")"
	}
	return userName
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
	if _, err := s.EndSession(w, r); err != nil {
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
