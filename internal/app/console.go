package app

import (
	"github.com/gatehouse-id/gatehouse/internal/scim"
	"github.com/gatehouse-id/gatehouse/internal/web/console"
)

// setupConsole builds the administrators' console (issue 17) on the
// sign-in site, the login service (who is an administrator), the auth
// service (admin tokens) and the administration operations.
func (a *App) setupConsole() error {
	sessions, ok := a.Store.(console.TokenSessions)
	if !ok {
		sessions = console.NewMemorySessions()
	}
	c, err := console.New(console.Options{
		Site: a.Web, Admins: a.Login, Credentials: a.Auth, Sessions: sessions, Ops: a.Admin,
		ClientAddr: scim.RemoteHost, Log: a.Log,
	})
	if err != nil {
		return err
	}
	a.Console = c
	return nil
}
