package oidc

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// userClaims returns the person's claims for the granted scopes (OIDC
// Core §5.4): profile, email, and Gatehouse's groups. Claims without a
// value are left out.
func (p *Provider) userClaims(ctx context.Context, c *client, userID string, scopes []string) (map[string]any, error) {
	out := map[string]any{}
	wantGroups := slices.Contains(scopes, ScopeGroups) && c.set.GroupsClaim != GroupsNone
	if !slices.Contains(scopes, ScopeProfile) && !slices.Contains(scopes, ScopeEmail) && !wantGroups {
		return out, nil
	}
	u, err := p.opt.Users.User(ctx, userID, directory.ReadOptions{Groups: wantGroups})
	if err != nil {
		return nil, err
	}
	set := func(k string, v any) {
		if s, ok := v.(string); ok && s == "" || v == nil {
			return
		}
		out[k] = v
	}
	if slices.Contains(scopes, ScopeProfile) {
		name, _ := u.Attrs["name"].(map[string]any)
		str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
		full := u.DisplayName
		if full == "" {
			full = str(name, "formatted")
		}
		set("name", full)
		set("given_name", str(name, "givenName"))
		set("family_name", str(name, "familyName"))
		set("middle_name", str(name, "middleName"))
		set("nickname", str(u.Attrs, "nickName"))
		set("preferred_username", u.UserName)
		set("locale", str(u.Attrs, "locale"))
		set("zoneinfo", str(u.Attrs, "timezone"))
		if !u.Modified.IsZero() {
			out["updated_at"] = u.Modified.Unix()
		}
	}
	if slices.Contains(scopes, ScopeEmail) {
		if email := primaryEmail(u.Attrs); email != "" {
			out["email"] = email
			out["email_verified"] = c.set.EmailVerified
		}
	}
	if wantGroups {
		groups := []string{}
		for _, g := range u.Groups {
			if c.set.GroupsClaim == GroupsAll || c.app.Access.Everyone || slices.Contains(c.app.Access.AllowedGroups, g.ID) {
				groups = append(groups, g.DisplayName)
			}
		}
		slices.Sort(groups)
		out["groups"] = slices.Compact(groups)
	}
	return out, nil
}

// primaryEmail is the email marked primary, else the first of type work,
// else the first.
func primaryEmail(attrs directory.Attrs) string {
	list, _ := attrs["emails"].([]any)
	var first, work string
	for _, e := range list {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if v == "" {
			continue
		}
		if p, _ := m["primary"].(bool); p {
			return v
		}
		if t, _ := m["type"].(string); t == "work" && work == "" {
			work = v
		}
		if first == "" {
			first = v
		}
	}
	if work != "" {
		return work
	}
	return first
}

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
