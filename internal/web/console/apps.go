package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/auth"
)

// Applications and their credentials: list, create, a bearer token or a
// client secret created or rotated (shown once), disabled and enabled —
// each the admin API's and the CLI's operation (admin.Ops), audited with
// the administrator as the actor.
//
// A new secret is shown once, in the answer to the POST that made it:
// never stored in the page state, never in a URL, and the page is
// no-store. Each form that makes one carries a single-use value (once), so
// that a reload — which sends the POST again — neither shows the secret
// again nor makes another: it answers 409, saying so. Used values are
// recorded in the database (TokenSessions.UseConsoleForm), so a reload
// that a load balancer sends to another replica is refused there too.

// appKinds are the kinds the create form offers (single sign-on
// applications have their own settings: the CLI and the API make them).
var appKinds = []auth.Kind{auth.KindSCIMClient, auth.KindServerApp, auth.KindAdmin}

// appsView is the applications page.
type appsView struct {
	Apps  []*admin.App
	Kinds []auth.Kind
}

func (c *Console) appsPage(q *Request) error {
	apps, err := c.opt.Ops.ListApps(q.Context())
	if err != nil {
		return err
	}
	return q.Render("apps.title", appsView{Apps: apps, Kinds: appKinds})
}

func (c *Console) createApp(q *Request) error {
	in := admin.AppInput{Name: strings.TrimSpace(q.PostFormValue("name")), Kind: auth.Kind(q.PostFormValue("kind"))}
	if in.Name == "" {
		return Errorf(http.StatusBadRequest, "apps.err.name")
	}
	if s := strings.Fields(q.PostFormValue("scopes")); len(s) > 0 {
		in.Scopes = s
	}
	a, err := c.opt.Ops.CreateApp(q.Context(), q.Admin.Actor, in)
	if err != nil {
		return err
	}
	q.Redirect("/apps/" + a.ID)
	return nil
}

// appView is an application's page; Once is the single-use value of the
// forms that make a secret. Secret is set only in the answer to the POST
// that made it.
type appView struct {
	App    *admin.App
	Once   string
	Secret *shownSecret
}

// shownSecret is a token or client secret shown once.
type shownSecret struct {
	Kind    string // "token" or "secret"
	ID      string
	Value   string
	Expires time.Time
	Rotated string // the id of the credential it replaced, disabled
}

func (c *Console) appPage(q *Request) error {
	a, err := c.opt.Ops.GetApp(q.Context(), q.PathValue("app"))
	if err != nil {
		return err
	}
	return q.Render("app.title", appView{App: a, Once: newOnce()})
}

// newCredential is POST /apps/{app}/tokens and /secrets, and their
// rotation (…/{id}/rotate): the new credential is made, the one it
// replaces (if any) disabled, and the value shown in this answer only.
func (c *Console) newCredential(kind string, rotate bool) func(*Request) error {
	return func(q *Request) error {
		if first, err := c.useOnce(q.Context(), q.PostFormValue("once")); err != nil {
			return err
		} else if !first {
			return Errorf(http.StatusConflict, "apps.err.once")
		}
		ctx, actor, ref := q.Context(), q.Admin.Actor, q.PathValue("app")
		old := q.PathValue("id")
		if rotate {
			// The credential rotated must be the application's: checked
			// before anything is made.
			if err := c.hasCredential(q, kind, ref, old); err != nil {
				return err
			}
		}
		shown := &shownSecret{Kind: kind}
		switch kind {
		case "token":
			t, err := c.opt.Ops.CreateToken(ctx, actor, ref, q.PostFormValue("validity"))
			if err != nil {
				return err
			}
			shown.ID, shown.Value, shown.Expires = t.ID, t.Value, t.Expires
		default:
			s, err := c.opt.Ops.CreateSecret(ctx, actor, ref)
			if err != nil {
				return err
			}
			shown.ID, shown.Value = s.ID, s.Value
		}
		if rotate {
			var err error
			if kind == "token" {
				_, err = c.opt.Ops.SetTokenEnabled(ctx, actor, ref, old, false)
			} else {
				_, err = c.opt.Ops.SetSecretEnabled(ctx, actor, ref, old, false)
			}
			if err != nil {
				// The new one exists: show it (once) and say the old one
				// is still enabled.
				c.opt.Log.WarnContext(ctx, "console: rotated credential not disabled", "app", ref, "kind", kind, "err", err)
			} else {
				shown.Rotated = old
			}
		}
		a, err := c.opt.Ops.GetApp(ctx, ref)
		if err != nil {
			return err
		}
		notice := q.L.T("apps." + kind + ".created")
		if rotate && shown.Rotated == "" {
			notice += " " + q.L.F("apps.rotate.kept", old)
		}
		return q.RenderStatus(http.StatusCreated, "app.title", notice, appView{App: a, Once: newOnce(), Secret: shown})
	}
}

// hasCredential checks that the application has the token or secret id.
func (c *Console) hasCredential(q *Request, kind, ref, id string) error {
	if kind == "token" {
		_, err := c.opt.Ops.GetToken(q.Context(), ref, id)
		return err
	}
	secs, err := c.opt.Ops.ListSecrets(q.Context(), ref)
	if err != nil {
		return err
	}
	for _, s := range secs {
		if s.ID == id {
			return nil
		}
	}
	return errNotFound
}

// setCredential enables or disables a token or a client secret.
func (c *Console) setCredential(kind string, enabled bool) func(*Request) error {
	return func(q *Request) error {
		ref, id := q.PathValue("app"), q.PathValue("id")
		var err error
		if kind == "token" {
			_, err = c.opt.Ops.SetTokenEnabled(q.Context(), q.Admin.Actor, ref, id, enabled)
		} else {
			_, err = c.opt.Ops.SetSecretEnabled(q.Context(), q.Admin.Actor, ref, id, enabled)
		}
		if err != nil {
			return err
		}
		q.Redirect("/apps/" + ref)
		return nil
	}
}

// setApp enables or disables an application.
func (c *Console) setApp(enabled bool) func(*Request) error {
	return func(q *Request) error {
		ref := q.PathValue("app")
		if _, err := c.opt.Ops.UpdateApp(q.Context(), q.Admin.Actor, ref, admin.AppPatch{Enabled: &enabled}); err != nil {
			return err
		}
		q.Redirect("/apps/" + ref)
		return nil
	}
}

// newOnce issues a single-use form value.
func newOnce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// useOnce reports whether v is a well-formed single-use value not used
// before, and records it used (by its SHA-256).
func (c *Console) useOnce(ctx context.Context, v string) (bool, error) {
	if len(v) != 32 {
		return false, nil
	}
	if _, err := hex.DecodeString(v); err != nil {
		return false, nil
	}
	sum := sha256.Sum256([]byte(v))
	return c.opt.Sessions.UseConsoleForm(ctx, sum[:], c.opt.Now())
}
