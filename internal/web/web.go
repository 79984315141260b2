// Package web serves Gatehouse's browser pages: the login page, the
// password change (and forced change), the user's page listing the
// applications she may open, logout, the error page, and their embedded
// assets. Pages are server-rendered html/template, work without
// JavaScript, are sent with a strict Content-Security-Policy, and every
// state-changing form is protected against cross-site requests
// (http.CrossOriginProtection and a per-session token). Site implements
// login.Sessions for the SSO protocols.
package web

import (
	"context"
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/login"
)

// Site is the browser interface.
type Site struct {
	login *login.Service
}

var (
	_ login.Sessions = (*Site)(nil)
	_ login.Recorder = (*Site)(nil)
)

// New returns the site over svc.
func New(svc *login.Service) *Site { return &Site{login: svc} }

// Mount adds the browser routes to mux: /login, /logout, /password, the
// user's page at / and /static/.
func (s *Site) Mount(mux *http.ServeMux) {}

// Current implements login.Sessions.
func (s *Site) Current(r *http.Request) (*login.Session, error) { return nil, login.ErrNotImplemented }

// Satisfies implements login.Sessions.
func (s *Site) Satisfies(ctx context.Context, sess *login.Session, req login.Requirement) (bool, error) {
	return s.login.Satisfies(ctx, sess, req)
}

// Authenticate implements login.Sessions.
func (s *Site) Authenticate(w http.ResponseWriter, r *http.Request, req login.Requirement, resume string) {
	http.Error(w, "not implemented", http.StatusNotImplemented)
}

// Allowed implements login.Sessions.
func (s *Site) Allowed(ctx context.Context, userID, appID string) (bool, string, error) {
	return s.login.Allowed(ctx, userID, appID)
}

// Refuse implements login.Sessions.
func (s *Site) Refuse(w http.ResponseWriter, r *http.Request, status int, title, message string) {
	http.Error(w, title+": "+message, status)
}

// EndSession implements login.Sessions.
func (s *Site) EndSession(w http.ResponseWriter, r *http.Request) (*login.Session, error) {
	return nil, login.ErrNotImplemented
}

// RecordIssued implements login.Recorder.
func (s *Site) RecordIssued(ctx context.Context, r *http.Request, is login.Issued) error {
	return s.login.RecordIssued(ctx, r, is)
}
