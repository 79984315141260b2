package saml

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/httpquery"
	"github.com/gatehouse-id/gatehouse/internal/logging"
	"github.com/gatehouse-id/gatehouse/internal/login"
)

// pending is what answering a request needs, kept server-side while the
// person signs in (saml_requests.data).
type pending struct {
	// RequestID is the AuthnRequest's ID ("" when IdP-initiated: the
	// response is then unsolicited).
	RequestID    string    `json:"id,omitempty"`
	IssueInstant time.Time `json:"issued,omitzero"`
	// ACS is the assertion consumer service, chosen from the service
	// provider's settings when the request arrived.
	ACS        string    `json:"acs"`
	RelayState string    `json:"relayState,omitempty"`
	Force      bool      `json:"force,omitempty"`
	Passive    bool      `json:"passive,omitempty"`
	MFA        bool      `json:"mfa,omitempty"` // the service provider asked for two factors
	Received   time.Time `json:"received"`
	// Subject is the principal the request names (its <Subject>), if it
	// names one: the assertion must be about her (SAML core §3.4.1.4).
	Subject *requestedSubject `json:"subject,omitempty"`
}

// requestedSubject is an AuthnRequest's <Subject>.
type requestedSubject struct {
	// NameID is its NameID; nil when it identifies the principal
	// otherwise (a BaseID, an EncryptedID) or not at all, which Gatehouse
	// cannot match.
	NameID *crewsaml.NameID `json:"nameId,omitempty"`
}

func subjectOf(s *crewsaml.Subject) *requestedSubject {
	if s == nil {
		return nil
	}
	out := &requestedSubject{}
	if s.NameID != nil && s.BaseID == nil && s.EncryptedID == nil {
		n := *s.NameID
		out.NameID = &n
	}
	return out
}

// matches reports whether the assertion's subject is the one requested:
// the same NameID value (an email's without regard to case), and the
// same format and qualifiers when the request gives them (a format of
// unspecified matches any).
func (rs *requestedSubject) matches(subject *Subject) bool {
	if rs == nil {
		return true
	}
	n := rs.NameID
	if n == nil || n.NameQualifier != "" || n.SPNameQualifier != "" || n.SPProvidedID != "" {
		return false // Gatehouse's NameIDs carry no qualifiers
	}
	if n.Format != "" && n.Format != string(crewsaml.UnspecifiedNameIDFormat) && n.Format != subject.NameIDFormat {
		return false
	}
	if subject.NameIDFormat == string(crewsaml.EmailAddressNameIDFormat) {
		return strings.EqualFold(n.Value, subject.NameID)
	}
	return n.Value == subject.NameID
}

// refusal is an error page's text.
type refusal struct {
	status         int
	title, message string
}

func (p *IdP) refuse(w http.ResponseWriter, r *http.Request, f refusal) {
	p.opt.Sessions.Refuse(w, r, f.status, f.title, f.message)
}

var (
	errUnreadable = refusal{http.StatusBadRequest, "The sign-in request cannot be read",
		"The application sent a sign-in request Gatehouse cannot read. Nothing was sent back. Start again from the application, or tell its administrator."}
	errTooLarge = refusal{http.StatusRequestEntityTooLarge, "The sign-in request is too large",
		"The application sent a sign-in request larger than Gatehouse accepts. Nothing was sent back."}
	errXML = refusal{http.StatusBadRequest, "The sign-in request is not acceptable",
		"The sign-in request contains XML that Gatehouse refuses (a DTD or entity declarations). Nothing was sent back."}
	errRelayState = refusal{http.StatusBadRequest, "The sign-in request is not acceptable",
		"The sign-in request's RelayState is longer than the 80 bytes SAML allows. Nothing was sent back."}
	errUnknownSP = refusal{http.StatusBadRequest, "Unknown application",
		"The application that sent you here is not registered at Gatehouse, or is disabled. Nothing was sent back."}
	errSignature = refusal{http.StatusBadRequest, "The sign-in request is not signed correctly",
		"This application must sign its sign-in requests, and this one has no valid signature. Nothing was sent back."}
	errACS = refusal{http.StatusBadRequest, "The sign-in request asks for an unknown address",
		"The application asked Gatehouse to send your sign-in to an address that is not registered for it. Nothing was sent back."}
	errExpired = refusal{http.StatusBadRequest, "The sign-in request has expired",
		"The application's sign-in request is too old, or dated in the future. Start again from the application."}
	errDestination = refusal{http.StatusBadRequest, "The sign-in request is not for this server",
		"The sign-in request is addressed to another identity provider. Nothing was sent back."}
	errReplay = refusal{http.StatusBadRequest, "This sign-in request was already used",
		"Each sign-in request is answered once. Start again from the application."}
	errGone = refusal{http.StatusBadRequest, "This sign-in has expired",
		"The sign-in was already completed, or waited too long. Start again from the application."}
	errInternal = refusal{http.StatusInternalServerError, "Something went wrong",
		"Gatehouse could not complete the sign-in. Try again in a moment."}
)

// classify turns a validation error of the library into a page.
func classify(err error) refusal {
	switch {
	case errors.Is(err, crewsaml.ErrUnknownServiceProvider), errors.Is(err, os.ErrNotExist) && !errors.Is(err, crewsaml.ErrUnknownAssertionConsumerService):
		return errUnknownSP
	case errors.Is(err, crewsaml.ErrInvalidSignature), errors.Is(err, crewsaml.ErrUntrustedCertificate):
		return errSignature
	case errors.Is(err, crewsaml.ErrUnknownAssertionConsumerService):
		return errACS
	case errors.Is(err, crewsaml.ErrExpired), errors.Is(err, crewsaml.ErrNotYetValid):
		return errExpired
	case errors.Is(err, crewsaml.ErrDestinationMismatch):
		return errDestination
	case errors.Is(err, crewsaml.ErrRelayStateTooLong):
		return errRelayState
	}
	return errUnreadable
}

// limit bounds what a SAML endpoint reads, before anything parses it.
func limit(w http.ResponseWriter, r *http.Request) bool {
	if len(r.URL.RawQuery) > maxQuery {
		return false
	}
	if r.Method == http.MethodPost {
		if r.ContentLength > maxForm {
			return false
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			return false
		}
	}
	return true
}

// serveSSO receives an AuthnRequest (HTTP-Redirect or HTTP-POST).
func (p *IdP) serveSSO(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !limit(w, r) {
		p.refuse(w, r, errTooLarge)
		return
	}
	idp, _, err := p.provider(ctx)
	if err != nil {
		p.fail(w, r, "saml: keys", err)
		return
	}
	req, err := crewsaml.NewIdpAuthnRequest(idp, r)
	if err != nil {
		p.log.InfoContext(ctx, "saml: unreadable AuthnRequest", "reason", reason(err))
		p.refuse(w, r, errUnreadable)
		return
	}
	if err := checkXML(req.RequestBuffer); err != nil {
		p.log.InfoContext(ctx, "saml: AuthnRequest refused", "reason", err.Error())
		p.refuse(w, r, errXML)
		return
	}
	if len(req.RelayState) > maxRelayState {
		p.refuse(w, r, errRelayState)
		return
	}
	if err := req.Validate(); err != nil {
		p.log.InfoContext(ctx, "saml: AuthnRequest refused", "reason", reason(err))
		p.refuse(w, r, classify(err))
		return
	}
	sp, err := p.byEntityID(ctx, req.Request.Issuer.Value)
	if err != nil {
		p.refuse(w, r, errUnknownSP)
		return
	}
	if req.ACSEndpoint == nil || req.ACSEndpoint.Binding != crewsaml.HTTPPostBinding ||
		!slices.ContainsFunc(sp.Settings.ACS, func(e Endpoint) bool { return e.URL == req.ACSEndpoint.Location }) {
		p.refuse(w, r, errACS)
		return
	}
	now := p.opt.Now().UTC()
	pend := &pending{
		RequestID:    req.Request.ID,
		IssueInstant: req.Request.IssueInstant,
		ACS:          req.ACSEndpoint.Location,
		RelayState:   req.RelayState,
		Force:        req.Request.ForceAuthn != nil && *req.Request.ForceAuthn,
		Passive:      req.Request.IsPassive != nil && *req.Request.IsPassive,
		Received:     now,
		Subject:      subjectOf(req.Request.Subject),
	}
	if rac := req.Request.RequestedAuthnContext; rac != nil && slices.Contains(rac.ClassRefs(), ContextMFA) && rac.Comparison != "maximum" {
		pend.MFA = true
	}
	handle, err := p.record(ctx, sp, req.Request.ID, pend)
	if isConflict(err) {
		p.log.InfoContext(ctx, "saml: AuthnRequest replayed", "app", sp.AppID)
		p.refuse(w, r, errReplay)
		return
	}
	if err != nil {
		p.fail(w, r, "saml: record request", err)
		return
	}
	if r.Method == http.MethodPost {
		// A cross-site POST carries no SameSite=Lax session cookie: the
		// request is kept server-side, and the browser comes back with GET.
		http.Redirect(w, r, ResumePath+"?h="+handle, http.StatusSeeOther)
		return
	}
	p.answer(w, r, sp, handle, pend)
}

func isConflict(err error) bool {
	var de *directory.Error
	return errors.As(err, &de) && de.Kind == directory.ErrConflict
}

// reason is a short, safe description of a refused message for the log:
// the library's error text names elements and times, not personal data.
func reason(err error) string {
	s := err.Error()
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// record keeps a request until it is answered; requestID "" makes it an
// IdP-initiated one.
func (p *IdP) record(ctx context.Context, sp *ServiceProvider, requestID string, pend *pending) (string, error) {
	handle := newHandle()
	if requestID == "" {
		requestID = handle
	}
	data, err := json.Marshal(pend)
	if err != nil {
		return "", err
	}
	err = p.opt.Store.WriteSAML(ctx, func(tx Tx) error {
		return tx.InsertSAMLRequest(ctx, &Request{Handle: handle, AppID: sp.AppID, RequestID: requestID, Data: data,
			Created: pend.Received, Expires: pend.Received.Add(requestLifetime)})
	})
	return handle, err
}

// serveResume continues a request after the person signed in.
func (p *IdP) serveResume(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	handle := r.URL.Query().Get("h")
	if len(handle) != 48 {
		p.refuse(w, r, errGone)
		return
	}
	rec, err := p.opt.Store.SAMLRequest(ctx, handle)
	if errors.Is(err, directory.ErrNotFound) || (err == nil && (!rec.Answered.IsZero() || !p.opt.Now().Before(rec.Expires) ||
		strings.HasPrefix(rec.RequestID, logoutPrefix))) {
		p.refuse(w, r, errGone)
		return
	}
	if err != nil {
		p.fail(w, r, "saml: read request", err)
		return
	}
	var pend pending
	if err := json.Unmarshal(rec.Data, &pend); err != nil {
		p.fail(w, r, "saml: read request", err)
		return
	}
	sp, err := p.byApp(ctx, rec.AppID)
	if err != nil {
		p.refuse(w, r, errUnknownSP)
		return
	}
	p.answer(w, r, sp, handle, &pend)
}

// serveIdPInit signs the person in to a service provider without a
// request from it (an unsolicited response to its default assertion
// consumer service). RelayState, if given, is passed to the service
// provider untouched.
func (p *IdP) serveIdPInit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !limit(w, r) {
		p.refuse(w, r, errTooLarge)
		return
	}
	// One RelayState, read whole, as on /saml/sso: which of two would go
	// to the service provider is not for this code to pick.
	q, err := httpquery.Parse(r.URL.RawQuery)
	if err != nil || len(q["RelayState"]) > 1 {
		p.refuse(w, r, errUnreadable)
		return
	}
	relay := q.Get("RelayState")
	if len(relay) > maxRelayState {
		p.refuse(w, r, errRelayState)
		return
	}
	sp, err := p.byApp(ctx, r.PathValue("app"))
	if err != nil {
		p.refuse(w, r, refusal{http.StatusNotFound, "Unknown application", "There is no SAML application of that name at Gatehouse, or it is disabled."})
		return
	}
	// Nothing is recorded before the person is signed in: the login page
	// comes back here (the same path and RelayState), so that anonymous
	// requests cost no write.
	sess, err := p.opt.Sessions.Current(r)
	if err != nil {
		p.fail(w, r, "saml: session", err)
		return
	}
	need := login.Requirement{AppID: sp.AppID}
	ok := sess != nil
	if ok {
		if ok, err = p.opt.Sessions.Satisfies(ctx, sess, need); err != nil {
			p.fail(w, r, "saml: session policy", err)
			return
		}
	}
	if !ok {
		resume := IdPInitPath + url.PathEscape(sp.AppID)
		if relay != "" {
			resume += "?" + url.Values{"RelayState": {relay}}.Encode()
		}
		p.opt.Sessions.Authenticate(w, r, need, resume)
		return
	}
	pend := &pending{ACS: defaultACS(sp.Settings.ACS), RelayState: relay, Received: p.opt.Now().UTC()}
	handle, err := p.record(ctx, sp, "", pend)
	if err != nil {
		p.fail(w, r, "saml: record request", err)
		return
	}
	p.answer(w, r, sp, handle, pend)
}

// defaultACS is the default endpoint by the metadata's rule (§2.2.3).
func defaultACS(acs []Endpoint) string {
	for _, e := range acs {
		if e.Default {
			return e.URL
		}
	}
	return acs[0].URL
}

// answer signs the person in if she must, and sends the response.
func (p *IdP) answer(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, handle string, pend *pending) {
	ctx := r.Context()
	sess, err := p.opt.Sessions.Current(r)
	if err != nil {
		p.fail(w, r, "saml: session", err)
		return
	}
	need := login.Requirement{AppID: sp.AppID, Passive: pend.Passive}
	if pend.MFA {
		need.MinFactors = 2
	}
	if pend.Force {
		// ForceAuthn: a login after the request arrived.
		need.Force, need.Since = true, pend.Received
	}
	ok := sess != nil && (!pend.Force || !sess.AuthTime.Before(pend.Received))
	if ok {
		if ok, err = p.opt.Sessions.Satisfies(ctx, sess, need); err != nil {
			p.fail(w, r, "saml: session policy", err)
			return
		}
	}
	if !ok {
		if pend.Passive {
			// Never a page: the service provider hears NoPassive.
			p.sendStatus(w, r, sp, handle, pend, crewsaml.StatusResponder, crewsaml.StatusNoPassive)
			return
		}
		p.opt.Sessions.Authenticate(w, r, need, ResumePath+"?h="+handle)
		return
	}
	allowed, why, err := p.opt.Sessions.Allowed(ctx, sess.UserID, sp.AppID)
	if err != nil {
		p.fail(w, r, "saml: allowed groups", err)
		return
	}
	if !allowed {
		if pend.Passive {
			// IsPassive: no page, not even a refusal; the service provider
			// is told the request is denied.
			p.sendStatus(w, r, sp, handle, pend, crewsaml.StatusResponder, crewsaml.StatusRequestDenied)
			return
		}
		p.refuse(w, r, refusal{http.StatusForbidden, "You cannot use " + sp.Name, why})
		return
	}
	user, err := p.opt.Users.User(ctx, sess.UserID)
	if errors.Is(err, directory.ErrNotFound) || (err == nil && !user.Active) {
		p.refuse(w, r, refusal{http.StatusForbidden, "You cannot use " + sp.Name, "Your account is disabled."})
		return
	}
	if err != nil {
		p.fail(w, r, "saml: read user", err)
		return
	}
	subject, err := p.subjectFor(ctx, sp, user, "tr-"+newHandle())
	var ce *CollisionError
	if errors.As(err, &ce) {
		p.refuseCollision(w, r, sp, handle, pend, sess, ce)
		return
	}
	var re *RefusalError
	if errors.As(err, &re) {
		p.refuse(w, r, refusal{http.StatusForbidden, "You cannot use " + sp.Name, "Gatehouse cannot sign you in to " + sp.Name + ": " + re.Message + "."})
		return
	}
	if err != nil {
		p.fail(w, r, "saml: attributes", err)
		return
	}
	if !pend.Subject.matches(subject) {
		p.refuseSubject(w, r, sp, handle, pend)
		return
	}
	resp, err := p.respond(ctx, r, sp, handle, pend, sess, subject)
	if errors.Is(err, errAnswered) {
		p.refuse(w, r, errGone)
		return
	}
	if err != nil {
		p.fail(w, r, "saml: response", err)
		return
	}
	writePostForm(w, resp)
}

var errAnswered = errors.New("the request was already answered")

// respond makes the signed response, then records in one transaction
// that the request is answered (once), the service provider a participant
// of the session, and an audit record. Signing happens outside the
// transaction: it is the costly part, and writes must not wait for it.
func (p *IdP) respond(ctx context.Context, r *http.Request, sp *ServiceProvider, handle string, pend *pending, sess *login.Session, subject *Subject) (*crewsaml.IdpAuthnRequestForm, error) {
	idp, _, err := p.provider(ctx)
	if err != nil {
		return nil, err
	}
	parts, err := p.opt.Store.SAMLParticipants(ctx, sess.ID)
	if err != nil {
		return nil, err
	}
	index := "gs-" + newHandle()
	for _, pt := range parts {
		if pt.AppID == sp.AppID {
			index = pt.SessionIndex
		}
	}
	for attempt := 0; ; attempt++ {
		now := p.opt.Now().UTC()
		req := p.authnRequest(idp, r, sp, pend, now)
		req.Assertion = p.assertion(idp, sp, pend, sess, subject, index, now)
		if err := req.MakeResponse(); err != nil {
			return nil, fmt.Errorf("sign the response: %w", err)
		}
		form, err := req.PostBinding()
		if err != nil {
			return nil, err
		}
		part := &Participant{SessionID: sess.ID, AppID: sp.AppID, NameID: subject.NameID, NameIDFormat: subject.NameIDFormat,
			SessionIndex: index, Created: now, Expires: sessionEnd(sess, now)}
		err = p.opt.Store.WriteSAML(ctx, func(tx Tx) error {
			ok, err := tx.AnswerSAMLRequest(ctx, handle, now)
			if err != nil {
				return err
			}
			if !ok {
				return errAnswered
			}
			stored, err := tx.UpsertSAMLParticipant(ctx, part)
			if err != nil {
				return err
			}
			if stored.SessionIndex != index {
				// Another response to this session and service provider
				// was recorded meanwhile: sign again with its index.
				index = stored.SessionIndex
				return errSessionIndex
			}
			// The shape of login.Issued's records (login.Service.RecordIssued),
			// written here in the transaction that answers the request.
			return tx.AppendAudit(ctx, &directory.AuditEntry{
				Time: now, Actor: directory.Actor{Kind: "user", AppID: sp.AppID, AppName: sp.Name, RequestID: logging.RequestID(ctx)},
				Action: "sso.saml.response", ResourceType: "User", ResourceID: sess.UserID,
				After: mustJSON(map[string]any{"issued": map[string]any{"appId": sp.AppID, "sessionId": sess.ID, "detail": map[string]any{
					"assertion": req.Assertion.ID, "inResponseTo": pend.RequestID, "acs": pend.ACS,
					"nameIdFormat": subject.NameIDFormat, "authnContext": contextClass(sess)}}}),
			})
		})
		if errors.Is(err, errSessionIndex) && attempt == 0 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &form, nil
	}
}

var errSessionIndex = errors.New("the session index changed")

// sessionEnd is when a participant is forgotten: the session's end, or a
// day if it does not say.
func sessionEnd(sess *login.Session, now time.Time) time.Time {
	if sess.Expires.After(now) {
		return sess.Expires
	}
	return now.Add(24 * time.Hour)
}

// authnRequest rebuilds the library's request from what was kept: the
// response goes to the assertion consumer service chosen when the request
// arrived, from the service provider's settings.
func (p *IdP) authnRequest(idp *crewsaml.IdentityProvider, r *http.Request, sp *ServiceProvider, pend *pending, now time.Time) *crewsaml.IdpAuthnRequest {
	ed := sp.Settings.entityDescriptor()
	req := &crewsaml.IdpAuthnRequest{IDP: idp, HTTPRequest: r, RelayState: pend.RelayState, Now: now,
		ServiceProviderMetadata: ed, SPSSODescriptor: &ed.SPSSODescriptors[0]}
	req.Request.ID = pend.RequestID
	req.Request.IssueInstant = pend.IssueInstant
	for _, e := range ed.SPSSODescriptors[0].AssertionConsumerServices {
		if e.Location == pend.ACS && e.Binding == crewsaml.HTTPPostBinding {
			req.ACSEndpoint = &e
			break
		}
	}
	return req
}

// contextClass is the AuthnContextClassRef of a session's authentication.
func contextClass(sess *login.Session) string {
	if sess.ACR() == login.ACR2FA {
		return ContextMFA
	}
	return ContextPassword
}

// assertion is what Gatehouse asserts to sp.
func (p *IdP) assertion(idp *crewsaml.IdentityProvider, sp *ServiceProvider, pend *pending, sess *login.Session, subject *Subject, sessionIndex string, now time.Time) *crewsaml.Assertion {
	issuer := idp.MetadataURL.String()
	notOnOrAfter := now.Add(assertionLifetime)
	a := &crewsaml.Assertion{
		ID:           "id-" + newHandle(),
		IssueInstant: now,
		Version:      "2.0",
		Issuer:       crewsaml.Issuer{Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:entity", Value: issuer},
		Subject: &crewsaml.Subject{
			NameID: &crewsaml.NameID{Format: subject.NameIDFormat, Value: subject.NameID},
			SubjectConfirmations: []crewsaml.SubjectConfirmation{{
				Method: "urn:oasis:names:tc:SAML:2.0:cm:bearer",
				SubjectConfirmationData: &crewsaml.SubjectConfirmationData{
					InResponseTo: pend.RequestID,
					NotOnOrAfter: notOnOrAfter,
					Recipient:    pend.ACS,
				},
			}},
		},
		Conditions: &crewsaml.Conditions{
			NotBefore:            now.Add(-clockSkew),
			NotOnOrAfter:         notOnOrAfter,
			AudienceRestrictions: []crewsaml.AudienceRestriction{{Audience: crewsaml.Audience{Value: sp.Settings.EntityID}}},
		},
		AuthnStatements: []crewsaml.AuthnStatement{{
			AuthnInstant: sess.AuthTime.UTC(),
			SessionIndex: sessionIndex,
			AuthnContext: crewsaml.AuthnContext{AuthnContextClassRef: &crewsaml.AuthnContextClassRef{Value: contextClass(sess)}},
		}},
	}
	if !sess.Expires.IsZero() {
		end := sess.Expires.UTC()
		a.AuthnStatements[0].SessionNotOnOrAfter = &end
	}
	if len(subject.Attributes) > 0 {
		a.AttributeStatements = []crewsaml.AttributeStatement{{Attributes: subject.Attributes}}
	}
	return a
}

// sendStatus answers a request with an error status (no assertion), to the
// assertion consumer service chosen from the settings.
func (p *IdP) sendStatus(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, handle string, pend *pending, top, second string) {
	form, ok := p.statusResponse(w, r, sp, handle, pend, top, second, nil)
	if ok {
		writePostForm(w, form)
	}
}

// statusResponse marks the request answered and makes a response with an
// error status (no assertion); record, if not nil, runs in the same
// transaction. On failure it has shown the error page.
func (p *IdP) statusResponse(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, handle string, pend *pending, top, second string,
	record func(Tx, time.Time) error) (*crewsaml.IdpAuthnRequestForm, bool) {
	ctx := r.Context()
	idp, _, err := p.provider(ctx)
	if err != nil {
		p.fail(w, r, "saml: keys", err)
		return nil, false
	}
	now := p.opt.Now().UTC()
	var form crewsaml.IdpAuthnRequestForm
	err = p.opt.Store.WriteSAML(ctx, func(tx Tx) error {
		ok, err := tx.AnswerSAMLRequest(ctx, handle, now)
		if err != nil {
			return err
		}
		if !ok {
			return errAnswered
		}
		if record != nil {
			if err := record(tx, now); err != nil {
				return err
			}
		}
		req := p.authnRequest(idp, r, sp, pend, now)
		if err := req.MakeErrorResponse(top, second, ""); err != nil {
			return err
		}
		form, err = req.PostBinding()
		return err
	})
	if errors.Is(err, errAnswered) {
		p.refuse(w, r, errGone)
		return nil, false
	}
	if err != nil {
		p.fail(w, r, "saml: error response", err)
		return nil, false
	}
	return &form, true
}

// refuseSubject answers a request that names another principal than the
// person signed in (SAML core §3.4.1.4): no assertion, the status
// Responder/UnknownPrincipal, through a page that says why (at once with
// IsPassive).
func (p *IdP) refuseSubject(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, handle string, pend *pending) {
	p.log.InfoContext(r.Context(), "saml: AuthnRequest names another subject than the session's", "app", sp.AppID)
	form, ok := p.statusResponse(w, r, sp, handle, pend, crewsaml.StatusResponder, crewsaml.StatusUnknownPrincipal, nil)
	if !ok {
		return
	}
	if pend.Passive {
		writePostForm(w, form)
		return
	}
	writeRefusalForm(w, form, "Signed in as someone else",
		sp.Name+" asked Gatehouse to sign in a particular person, and you are signed in to Gatehouse as someone else. "+
			"Sign out of Gatehouse and sign in as that person, or start again from "+sp.Name+". "+sp.Name+" is told that the sign-in failed.")
}

// refuseCollision refuses a sign-in whose NameID another active account
// would be given: the service provider is told Responder/RequestDenied,
// through a page that tells the person why (she presses the button to
// return to the service provider; with IsPassive the response goes at
// once). The audit record sso.saml.refuse and the event User.SSORefused
// are written with the answer; the log names no one.
func (p *IdP) refuseCollision(w http.ResponseWriter, r *http.Request, sp *ServiceProvider, handle string, pend *pending, sess *login.Session, ce *CollisionError) {
	ctx := r.Context()
	p.log.WarnContext(ctx, "saml: sign-in refused: another active account has the same NameID", "app", sp.AppID)
	user, err := p.opt.Users.User(ctx, sess.UserID)
	if err != nil {
		p.fail(w, r, "saml: read user", err)
		return
	}
	record := func(tx Tx, now time.Time) error {
		actor := directory.Actor{Kind: "user", AppID: sp.AppID, AppName: sp.Name, RequestID: logging.RequestID(ctx)}
		detail := map[string]any{"appId": sp.AppID, "sessionId": sess.ID, "reason": "nameid-collision"}
		if err := tx.AppendAudit(ctx, &directory.AuditEntry{Time: now, Actor: actor, Action: "sso.saml.refuse",
			ResourceType: "User", ResourceID: sess.UserID,
			After: mustJSON(map[string]any{"refused": map[string]any{"appId": sp.AppID, "sessionId": sess.ID,
				"reason": "nameid-collision", "otherUserId": ce.OtherID, "inResponseTo": pend.RequestID}})}); err != nil {
			return err
		}
		raw := mustJSON(directory.EventData{After: directory.Snapshot(user), Login: mustJSON(detail)})
		return tx.AppendEvents(ctx, []*directory.EventRecord{{ID: "ev-" + newHandle(), Type: directory.UserSSORefused,
			Subject: "users/" + sess.UserID, Time: now, Actor: actor, ResourceType: "User", ResourceID: sess.UserID, Data: raw}})
	}
	form, ok := p.statusResponse(w, r, sp, handle, pend, crewsaml.StatusResponder, crewsaml.StatusRequestDenied, record)
	if !ok {
		return
	}
	if pend.Passive {
		writePostForm(w, form)
		return
	}
	writeRefusalForm(w, form, "You cannot use "+sp.Name,
		"Gatehouse cannot sign you in to "+sp.Name+": another account at Gatehouse would be known to "+sp.Name+
			" by the same name as yours, and the two of you would share one account there. Ask your administrator to give one of the accounts another email address or user name. "+
			sp.Name+" is told that the sign-in was refused.")
}

// fail logs an internal error (without personal data) and shows the error
// page.
func (p *IdP) fail(w http.ResponseWriter, r *http.Request, msg string, err error) {
	p.log.ErrorContext(r.Context(), msg, "error", err.Error())
	p.refuse(w, r, errInternal)
}
