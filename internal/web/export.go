package web

import (
	"net/http"
)

// What other browser pages (the administrators' console,
// internal/web/console) share with the sign-in pages: the language, the
// cookies, the CSRF token and the cross-origin protection. They are the
// same, so that a console page is exactly as protected as the login page.

// Lang returns the page language for r (English or Chinese, from
// Accept-Language).
func (s *Site) Lang(r *http.Request) *Lang { return s.lang(r) }

// Enabled reports whether sign-in is served (https, or the development
// setting).
func (s *Site) Enabled() bool { return s.opt.Enabled }

// Secure reports whether cookies are Secure with the __Host- prefix.
func (s *Site) Secure() bool { return s.opt.Secure }

// Cookie returns the value of the site's cookie base ("" when absent).
func (s *Site) Cookie(r *http.Request, base string) string { return s.cookie(r, base) }

// SetCookie sets an HttpOnly, SameSite=Lax cookie named after base on the
// whole site (Secure, __Host- prefixed on https); maxAge as http.Cookie's.
func (s *Site) SetCookie(w http.ResponseWriter, base, value string, maxAge int) {
	s.setCookie(w, base, value, maxAge)
}

// Browser returns the browser's binding cookie (what the CSRF token is
// derived from), setting one when it has none.
func (s *Site) Browser(w http.ResponseWriter, r *http.Request) string { return s.browser(w, r) }

// CSRF returns the form token of r's browser ("" when it has no binding
// cookie yet: call Browser first).
func (s *Site) CSRF(r *http.Request) string { return csrf(s.cookie(r, "browser")) }

// CheckCSRF reports whether r's parsed form carries its browser's token
// (compared in constant time).
func (s *Site) CheckCSRF(r *http.Request) bool { return s.checkCSRF(r) }

// Protect wraps h as every sign-in page is: the security headers,
// http.CrossOriginProtection for unsafe methods (deny renders the
// refusal), and a refusal when sign-in cannot be served securely.
func (s *Site) Protect(h http.Handler, deny http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.opt.TrustedOrigins {
		// Validated by New.
		_ = cop.AddTrustedOrigin(o)
	}
	cop.SetDenyHandler(deny)
	inner := cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers(w)
		inner.ServeHTTP(w, r)
	})
}
