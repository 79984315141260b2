package saml

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
	"github.com/gatehouse-id/gatehouse/internal/scim/schema"
)

// Validate is the auth.SSOValidator of the saml-sp kind: it reads the
// settings strictly, checks them and returns them normalised.
func Validate(_ context.Context, _ *auth.App, raw json.RawMessage) (json.RawMessage, error) {
	s, err := DecodeSettings(raw)
	if err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(s)
}

// AppLister lists the applications (auth.Service).
type AppLister interface {
	Apps(ctx context.Context) ([]*auth.App, error)
}

// AuthApps finds the service providers among the applications, and keeps
// them until the credentials version moves (any change of an application
// moves it, in this process or another).
type AuthApps struct {
	Apps    AppLister
	Version func(ctx context.Context) (int64, error)

	mu      sync.Mutex
	version int64
	sps     []*ServiceProvider
}

// SAMLServiceProviders implements Apps.
func (a *AuthApps) SAMLServiceProviders(ctx context.Context) ([]*ServiceProvider, error) {
	v, err := a.Version(ctx)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.sps != nil && a.version == v {
		sps := a.sps
		a.mu.Unlock()
		return sps, nil
	}
	a.mu.Unlock()
	apps, err := a.Apps.Apps(ctx)
	if err != nil {
		return nil, err
	}
	sps := []*ServiceProvider{}
	for _, app := range apps {
		if app.Kind != auth.KindSAMLSP {
			continue
		}
		sp := &ServiceProvider{AppID: app.ID, Name: app.Name, Enabled: app.Enabled}
		if len(app.SSO) > 0 {
			if s, err := DecodeSettings(app.SSO); err == nil && s.Validate() == nil {
				sp.Settings = s
			}
		}
		sps = append(sps, sp)
	}
	a.mu.Lock()
	a.sps, a.version = sps, v
	a.mu.Unlock()
	return sps, nil
}

// DirectoryUsers reads people from the directory, with their groups.
type DirectoryUsers struct {
	Directory *directory.Service
	// Schemas resolve the filters of Namesakes.
	Schemas *schema.Registry
}

// maxNamesakes bounds the accounts Namesakes reads: one other is enough
// to refuse.
const maxNamesakes = 20

// Namesakes implements Namesakes: the active accounts whose email (any of
// them), userName, or userName before "@" equals value, compared as the
// directory compares those attributes (without regard to case).
func (d DirectoryUsers) Namesakes(ctx context.Context, source, value string) ([]*directory.User, error) {
	if value == "" {
		return nil, nil
	}
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) } // a JSON string, as filters take
	lit := quote(value)
	var f string
	switch source {
	case "email":
		f = "active eq true and emails.value eq " + lit
	case "userName":
		f = "active eq true and userName eq " + lit
	case "aliyunUser":
		f = "active eq true and (userName eq " + lit + " or userName sw " + quote(value+"@") + ")"
	default:
		return nil, nil
	}
	e, err := filter.Parse(f)
	if err != nil {
		return nil, err
	}
	if err := filter.Resolve(e, d.Schemas.User); err != nil {
		return nil, err
	}
	page, err := d.Directory.Users(ctx, directory.Profile{TargetOrgID: directory.RootOrgID}, directory.Query{Filter: e, Limit: maxNamesakes})
	if err != nil {
		return nil, err
	}
	return page.Items, nil
}

// User implements Users.
func (d DirectoryUsers) User(ctx context.Context, id string) (*directory.User, error) {
	return d.Directory.User(ctx, directory.Profile{}, id, directory.ReadOptions{Groups: true})
}
