package saml

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/logging"
)

var (
	errLogoutUnreadable = refusal{http.StatusBadRequest, "The sign-out request cannot be accepted",
		"The application sent a sign-out request that Gatehouse cannot read, that is not signed by the application, or that has expired. You are still signed in to Gatehouse; sign out at Gatehouse directly."}
	errLogoutReplay = refusal{http.StatusBadRequest, "This sign-out request was already used",
		"Each sign-out request is answered once."}
	errLogoutResponse = refusal{http.StatusBadRequest, "Unexpected sign-out answer",
		"Gatehouse did not ask this application to sign you out."}
)

// logoutPrefix marks the saml_requests rows of LogoutRequests (their
// RequestID is logoutPrefix + the request's ID).
const logoutPrefix = "logout:"

// logoutState is a validated LogoutRequest, kept server-side between its
// arrival and its answer.
type logoutState struct {
	ID             string            `json:"id"`
	NameID         string            `json:"nameId"`
	SessionIndexes []string          `json:"sessionIndexes,omitempty"`
	RelayState     string            `json:"relayState,omitempty"`
	Binding        string            `json:"binding"`
	Endpoint       crewsaml.Endpoint `json:"endpoint"`
}

// serveSLO answers a service provider's LogoutRequest (HTTP-Redirect or
// HTTP-POST; it must be signed with a certificate of the service
// provider's settings). The Gatehouse session ends if it is the one the
// request names (its NameID, and SessionIndex if given); then a signed
// LogoutResponse goes to the service provider's single logout service.
// Logout is not propagated to the session's other service providers: the
// response then says PartialLogout (docs/sso-saml.md). A request that came
// by a cross-site POST (which carries no SameSite=Lax session cookie) is
// kept server-side and the browser sent back here with GET ?h=.
func (p *IdP) serveSLO(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !limit(w, r) {
		p.refuse(w, r, errTooLarge)
		return
	}
	if r.URL.Query().Has("SAMLResponse") || r.PostForm.Has("SAMLResponse") {
		p.refuse(w, r, errLogoutResponse)
		return
	}
	if r.Method == http.MethodGet && r.URL.Query().Has("h") && !r.URL.Query().Has("SAMLRequest") {
		p.resumeSLO(w, r)
		return
	}
	idp, _, err := p.provider(ctx)
	if err != nil {
		p.fail(w, r, "saml: keys", err)
		return
	}
	req, err := crewsaml.NewIdpLogoutRequest(idp, r)
	if err != nil {
		p.log.InfoContext(ctx, "saml: unreadable LogoutRequest", "reason", reason(err))
		p.refuse(w, r, errLogoutUnreadable)
		return
	}
	if err := checkXML(req.RequestBuffer); err != nil {
		p.log.InfoContext(ctx, "saml: LogoutRequest refused", "reason", err.Error())
		p.refuse(w, r, errXML)
		return
	}
	if len(req.RelayState) > maxRelayState {
		p.refuse(w, r, errRelayState)
		return
	}
	if err := req.Validate(); err != nil {
		p.log.InfoContext(ctx, "saml: LogoutRequest refused", "reason", reason(err))
		p.refuse(w, r, errLogoutUnreadable)
		return
	}
	sp, err := p.byEntityID(ctx, req.Request.Issuer.Value)
	if err != nil {
		p.refuse(w, r, errUnknownSP)
		return
	}
	st := &logoutState{ID: req.Request.ID, RelayState: req.RelayState, Binding: req.Binding, Endpoint: *req.SLOEndpoint}
	if req.Request.NameID != nil {
		st.NameID = req.Request.NameID.Value
	}
	for _, x := range req.Request.AllSessionIndexes() {
		st.SessionIndexes = append(st.SessionIndexes, x.Value)
	}
	// A LogoutRequest ID is answered once, too.
	now := p.opt.Now().UTC()
	handle := newHandle()
	data, err := json.Marshal(st)
	if err != nil {
		p.fail(w, r, "saml: record logout", err)
		return
	}
	err = p.opt.Store.WriteSAML(ctx, func(tx Tx) error {
		return tx.InsertSAMLRequest(ctx, &Request{Handle: handle, AppID: sp.AppID, RequestID: logoutPrefix + req.Request.ID,
			Data: data, Created: now, Expires: now.Add(requestLifetime)})
	})
	if isConflict(err) {
		p.refuse(w, r, errLogoutReplay)
		return
	}
	if err != nil {
		p.fail(w, r, "saml: record logout", err)
		return
	}
	if r.Method == http.MethodPost {
		http.Redirect(w, r, SLOPath+"?h="+handle, http.StatusSeeOther)
		return
	}
	p.finishLogout(w, r, sp, handle, st)
}

// resumeSLO continues a LogoutRequest that came by POST.
func (p *IdP) resumeSLO(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	handle := r.URL.Query().Get("h")
	rec, err := p.opt.Store.SAMLRequest(ctx, handle)
	if errors.Is(err, directory.ErrNotFound) || (err == nil && (len(handle) != 48 || !rec.Answered.IsZero() ||
		!p.opt.Now().Before(rec.Expires) || !strings.HasPrefix(rec.RequestID, logoutPrefix))) {
		p.refuse(w, r, errGone)
		return
	}
	if err != nil {
		p.fail(w, r, "saml: read logout", err)
		return
	}
	var st logoutState
	if err := json.Unmarshal(rec.Data, &st); err != nil {
		p.fail(w, r, "saml: read logout", err)
		return
	}
	sp, err := p.byApp(ctx, rec.AppID)
	if err != nil {
		p.refuse(w, r, errUnknownSP)
		return
	}
	p.finishLogout(w, r, sp, handle, &st)
}

// finishLogout ends the session the request names, if it is the
// browser's, and sends the signed LogoutResponse.
func (p *IdP) finishLogout(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, handle string, st *logoutState) {
	ctx := r.Context()
	now := p.opt.Now().UTC()
	var answered bool
	err := p.opt.Store.WriteSAML(ctx, func(tx Tx) (err error) {
		answered, err = tx.AnswerSAMLRequest(ctx, handle, now)
		return err
	})
	if err != nil {
		p.fail(w, r, "saml: record logout", err)
		return
	}
	if !answered {
		p.refuse(w, r, errLogoutReplay)
		return
	}
	sess, err := p.opt.Sessions.Current(r)
	if err != nil {
		p.fail(w, r, "saml: session", err)
		return
	}
	ended, others := false, 0
	if sess != nil {
		parts, err := p.opt.Store.SAMLParticipants(ctx, sess.ID)
		if err != nil {
			p.fail(w, r, "saml: participants", err)
			return
		}
		idx := slices.IndexFunc(parts, func(pt *Participant) bool { return pt.AppID == sp.AppID })
		if idx >= 0 && names(st, parts[idx]) {
			if _, err := p.opt.Sessions.EndSession(w, r); err != nil {
				p.fail(w, r, "saml: end session", err)
				return
			}
			ended, others = true, len(parts)-1
			err := p.opt.Store.WriteSAML(ctx, func(tx Tx) error {
				if err := tx.DeleteSAMLParticipants(ctx, sess.ID); err != nil {
					return err
				}
				return tx.AppendAudit(ctx, &directory.AuditEntry{
					Time: now, Actor: directory.Actor{Kind: "user", AppID: sp.AppID, AppName: sp.Name, RequestID: logging.RequestID(ctx)},
					Action: "sso.saml.logout", ResourceType: "User", ResourceID: sess.UserID,
					After: mustJSON(map[string]any{"app": sp.AppID, "session": sess.ID, "notPropagatedTo": others}),
				})
			})
			if err != nil {
				p.fail(w, r, "saml: record logout", err)
				return
			}
		}
	}
	idp, _, err := p.provider(ctx)
	if err != nil {
		p.fail(w, r, "saml: keys", err)
		return
	}
	endpoint := st.Endpoint
	req := &crewsaml.IdpLogoutRequest{IDP: idp, HTTPRequest: r, Binding: st.Binding, RelayState: st.RelayState,
		SLOEndpoint: &endpoint, Now: now}
	req.Request.ID = st.ID
	resp := req.MakeLogoutResponse(crewsaml.StatusSuccess)
	if (sess != nil && !ended) || others > 0 {
		resp.Status.StatusCode.StatusCode = &crewsaml.StatusCode{Value: crewsaml.StatusPartialLogout}
	}
	formHeaders(w.Header())
	if err := req.WriteLogoutResponse(w, resp); err != nil {
		w.Header().Del("Content-Security-Policy")
		p.fail(w, r, "saml: logout response", err)
	}
}

// names reports whether a LogoutRequest names the participant: its NameID,
// and one of its SessionIndexes if it has any.
func names(st *logoutState, pt *Participant) bool {
	return st.NameID != "" && st.NameID == pt.NameID && (len(st.SessionIndexes) == 0 || slices.Contains(st.SessionIndexes, pt.SessionIndex))
}
