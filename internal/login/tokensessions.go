package login

import "time"

// TokenSession is a console session of an admin token (the
// administrators' console, internal/web/console): whoever typed an admin
// token into the console's sign-in form. The store keeps it by the
// SHA-256 of its cookie token, with the application and token id (never
// the admin token), so that every replica knows it and the console can
// check on each request that the token still may administer.
type TokenSession struct {
	ID       string
	AppID    string
	TokenID  string
	Created  time.Time
	LastSeen time.Time
	Expires  time.Time
}
