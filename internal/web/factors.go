package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// The person's second factors (/factors): the list, adding an
// authenticator app or a security key, removing one, new recovery codes.
// Every change needs a recent login (login.reauth): otherwise the browser
// goes through the login again (password and second factor) and comes
// back.

// signedIn returns the request's session, or answers (the login page)
// and returns nil. With recent, the login must be recent too.
func (s *Site) signedIn(w http.ResponseWriter, r *http.Request, recent bool, resume string) *login.Session {
	sess, err := s.Current(r)
	if err != nil {
		s.internal(w, r, err)
		return nil
	}
	if sess == nil || recent && !s.login.Recent(sess) {
		s.Authenticate(w, r, login.Requirement{Force: sess != nil}, resume)
		return nil
	}
	return sess
}

// factorsPage lists the person's factors.
func (s *Site) factorsPage(w http.ResponseWriter, r *http.Request) {
	s.browser(w, r)
	sess := s.signedIn(w, r, false, "/factors")
	if sess == nil {
		return
	}
	notice := ""
	switch r.URL.Query().Get("n") {
	case "added":
		notice = "factors.added"
	case "removed":
		notice = "factors.removed"
	}
	s.showFactors(w, r, http.StatusOK, sess, "", notice)
}

func (s *Site) showFactors(w http.ResponseWriter, r *http.Request, status int, sess *login.Session, msg, notice string) {
	l := s.lang(r)
	list, err := s.login.Factors(r.Context(), sess.UserID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	pg := &page{L: l, Title: l.T("factors.title"), Error: msg, CodesLeft: list.RecoveryCodes,
		OffersTOTP: s.login.OffersTOTP(), OffersWebAuthn: s.login.OffersWebAuthn()}
	if notice != "" {
		pg.Notice = l.T(notice)
	}
	if u, err := s.login.User(r.Context(), sess.UserID); err == nil {
		pg.UserName = displayName(u.DisplayName, u.UserName)
	}
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02") }
	for _, f := range list.Factors {
		v := factorView{ID: f.ID, Name: visible(f.Name), KindText: l.T("factor.kind." + f.Kind), Used: l.F("factor.unused", day(f.Created))}
		if f.LastUsed != nil {
			v.Used = l.F("factor.used", day(f.Created), day(*f.LastUsed))
		}
		pg.Factors = append(pg.Factors, v)
	}
	s.render(w, r, status, "factors", pg)
}

// totpPage begins setting up an authenticator app.
func (s *Site) totpPage(w http.ResponseWriter, r *http.Request) {
	s.browser(w, r)
	sess := s.signedIn(w, r, true, "/factors/totp")
	if sess == nil {
		return
	}
	e, err := s.login.AddTOTP(r.Context(), sess)
	if err != nil {
		s.factorFailed(w, r, sess, err)
		return
	}
	s.showTOTP(w, r, http.StatusOK, e, "", "")
}

func (s *Site) showTOTP(w http.ResponseWriter, r *http.Request, status int, e *login.TOTPEnrolment, msg, name string) {
	l := s.lang(r)
	v, err := s.totpView(l, e)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.render(w, r, status, "factor", &page{L: l, Title: l.T("totp.title"), Error: msg, TOTP: v, Action: "/factors/totp", FactorName: name})
}

// totpPost confirms the authenticator app with its first code.
func (s *Site) totpPost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess := s.signedIn(w, r, true, "/factors")
	if sess == nil {
		return
	}
	id, name := r.PostFormValue("factor"), r.PostFormValue("name")
	codes, err := s.login.ConfirmTOTP(r.Context(), sess, s.client(r), id, name, r.PostFormValue("code"))
	var f *login.Failure
	if errors.As(err, &f) && f.Reason == "setup-expired" {
		// Begun too long ago, or replaced by a newer set-up: a new one.
		if e, err := s.login.AddTOTP(r.Context(), sess); err == nil {
			s.showTOTP(w, r, http.StatusBadRequest, e, s.lang(r).T("err.setup-expired"), name)
			return
		}
	}
	if errors.As(err, &f) && (f.Reason == "invalid" || f.Reason == "factor-name") {
		// The same secret again, to retry.
		e, eerr := s.login.TOTPEnrolment(r.Context(), sess.UserID, id)
		if eerr == nil {
			l := s.lang(r)
			msg := l.T("err.invalid.code")
			if f.Reason == "factor-name" {
				msg = l.T("err.factor-name")
			}
			s.showTOTP(w, r, http.StatusBadRequest, e, msg, name)
			return
		}
	}
	s.factorAdded(w, r, sess, codes, err)
}

// keyPage begins registering a security key.
func (s *Site) keyPage(w http.ResponseWriter, r *http.Request) {
	s.browser(w, r)
	sess := s.signedIn(w, r, true, "/factors/webauthn")
	if sess == nil {
		return
	}
	s.showKey(w, r, http.StatusOK, sess, "", "")
}

func (s *Site) showKey(w http.ResponseWriter, r *http.Request, status int, sess *login.Session, msg, name string) {
	opts, err := s.login.AddWebAuthn(r.Context(), sess)
	if err != nil {
		s.factorFailed(w, r, sess, err)
		return
	}
	l := s.lang(r)
	s.render(w, r, status, "factor", &page{L: l, Title: l.T("key.title"), Error: msg, WebAuthnOptions: string(opts), Script: true,
		Action: "/factors/webauthn", FactorName: name})
}

// keyPost registers the security key of the browser's answer.
func (s *Site) keyPost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess := s.signedIn(w, r, true, "/factors")
	if sess == nil {
		return
	}
	name := r.PostFormValue("name")
	codes, err := s.login.ConfirmWebAuthn(r.Context(), sess, s.client(r), name, r.PostFormValue("credential"))
	var f *login.Failure
	if errors.As(err, &f) && (f.Reason == "invalid" || f.Reason == "factor-name") {
		l := s.lang(r)
		msg := l.T("err.invalid.key")
		if f.Reason == "factor-name" {
			msg = l.T("err.factor-name")
		}
		s.showKey(w, r, http.StatusBadRequest, sess, msg, name)
		return
	}
	s.factorAdded(w, r, sess, codes, err)
}

// factorAdded answers a factor's addition: her recovery codes when it
// was her first, else the list.
func (s *Site) factorAdded(w http.ResponseWriter, r *http.Request, sess *login.Session, codes []string, err error) {
	if err != nil {
		s.factorFailed(w, r, sess, err)
		return
	}
	if codes != nil {
		s.showCodes(w, r, codes, "/factors")
		return
	}
	http.Redirect(w, r, "/factors?n=added", http.StatusSeeOther)
}

// removePost removes one of the person's factors.
func (s *Site) removePost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess := s.signedIn(w, r, true, "/factors")
	if sess == nil {
		return
	}
	if err := s.login.RemoveFactor(r.Context(), sess, s.client(r), r.PostFormValue("factor")); err != nil {
		s.factorFailed(w, r, sess, err)
		return
	}
	http.Redirect(w, r, "/factors?n=removed", http.StatusSeeOther)
}

// recoveryPost makes new recovery codes, shown once.
func (s *Site) recoveryPost(w http.ResponseWriter, r *http.Request) {
	if !s.parseForm(w, r) {
		return
	}
	sess := s.signedIn(w, r, true, "/factors")
	if sess == nil {
		return
	}
	codes, err := s.login.NewRecoveryCodes(r.Context(), sess, s.client(r))
	if err != nil {
		s.factorFailed(w, r, sess, err)
		return
	}
	s.showCodes(w, r, codes, "/factors")
}

// factorFailed shows why a change of factors did not happen, on the list.
func (s *Site) factorFailed(w http.ResponseWriter, r *http.Request, sess *login.Session, err error) {
	var f *login.Failure
	if !errors.As(err, &f) {
		s.internal(w, r, err)
		return
	}
	l := s.lang(r)
	switch f.Reason {
	case "reauth":
		s.Authenticate(w, r, login.Requirement{Force: true}, "/factors")
	case "last-factor":
		s.showFactors(w, r, http.StatusConflict, sess, l.T("err.last-factor"), "")
	case "needs-factor", "no-totp", "no-webauthn", "factor-name", "setup-expired":
		s.showFactors(w, r, http.StatusBadRequest, sess, l.T("err."+f.Reason), "")
	case "invalid":
		s.showFactors(w, r, http.StatusBadRequest, sess, l.T("err.invalid.code"), "")
	default: // "expired": a set-up left too long, a factor removed meanwhile
		s.showFactors(w, r, http.StatusBadRequest, sess, l.T("err.expired"), "")
	}
}
