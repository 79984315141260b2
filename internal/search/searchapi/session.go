package searchapi

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Sessions finds a browser's Gatehouse SSO session (internal/web.Site).
type Sessions interface {
	// Current returns the request's valid session, or nil, nil.
	Current(r *http.Request) (*login.Session, error)
}

// Askers resolves who asks: an application's token when the request
// carries an Authorization header, else the person of the browser's
// Gatehouse session. A session searches as its own person and nobody
// else: with a session, the Gatehouse-User header is refused rather than
// ignored, so that a script that meant to act for someone learns that it
// cannot.
type Askers struct {
	App AppAsker
	// Sessions is nil when sign-in is not wired: tokens only.
	Sessions Sessions
}

// Who implements Asker.
func (a Askers) Who(r *http.Request) (Who, error) {
	if r.Header.Get("Authorization") != "" || a.Sessions == nil {
		return a.App.Who(r)
	}
	sess, err := a.Sessions.Current(r)
	if err != nil {
		return Who{}, err
	}
	if sess == nil {
		// Neither: the application's challenge (401, Bearer).
		return a.App.Who(r)
	}
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		// Another site's page (or a sibling subdomain's, to which a
		// SameSite=Lax cookie still goes) cannot read the answer, but
		// could spend her rate limit: a session searches only from
		// Gatehouse's own pages, or from the address bar.
		return Who{}, &Error{Status: http.StatusForbidden, Code: "cross_site",
			Message: "a Gatehouse session searches only from Gatehouse's own pages"}
	}
	if r.Header.Get(UserHeader) != "" {
		return Who{}, &Error{Status: http.StatusBadRequest, Code: "invalid_request",
			Message: "the " + UserHeader + " header is for an application's token; a Gatehouse session searches as its own person"}
	}
	return Who{UserID: sess.UserID}, nil
}
