package saml

import (
	"encoding/json"
	"net/http"
	"slices"

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

// serveSLO answers a service provider's LogoutRequest (HTTP-Redirect or
// HTTP-POST; it must be signed with a certificate of the service
// provider's settings). The Gatehouse session ends if it is the one the
// request names (its NameID, and SessionIndex if given); then a signed
// LogoutResponse goes to the service provider's single logout service.
// Logout is not propagated to the session's other service providers: the
// response then says PartialLogout (docs/sso-saml.md).
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
	now := p.opt.Now().UTC()
	// A LogoutRequest ID is answered once, too.
	data, _ := json.Marshal(map[string]string{"logout": req.Request.ID})
	err = p.opt.Store.WriteSAML(ctx, func(tx Tx) error {
		return tx.InsertSAMLRequest(ctx, &Request{Handle: newHandle(), AppID: sp.AppID, RequestID: "logout:" + req.Request.ID,
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
		if idx >= 0 && names(req, parts[idx]) {
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
					Time: now, Actor: directory.Actor{Kind: "user", RequestID: logging.RequestID(ctx)},
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
	resp := req.MakeLogoutResponse(crewsaml.StatusSuccess)
	if (sess != nil && !ended) || others > 0 {
		resp.Status.StatusCode.StatusCode = &crewsaml.StatusCode{Value: crewsaml.StatusPartialLogout}
	}
	formHeaders(w.Header(), resp.Destination)
	if err := req.WriteLogoutResponse(w, resp); err != nil {
		w.Header().Del("Content-Security-Policy")
		p.fail(w, r, "saml: logout response", err)
	}
}

// names reports whether a LogoutRequest names the participant: its NameID,
// and one of its SessionIndexes if it has any.
func names(req *crewsaml.IdpLogoutRequest, pt *Participant) bool {
	if req.Request.NameID == nil || req.Request.NameID.Value != pt.NameID {
		return false
	}
	idx := req.Request.AllSessionIndexes()
	return len(idx) == 0 || slices.ContainsFunc(idx, func(s crewsaml.SessionIndex) bool { return s.Value == pt.SessionIndex })
}
