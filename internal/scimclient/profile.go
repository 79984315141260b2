package scimclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Profile is what the client assumes about a downstream beyond what the
// server's ServiceProviderConfig says.
type Profile struct {
	Name string
	// UserAttributes, when not nil, are the only user attributes sent
	// (compared case-insensitively); others are dropped from documents
	// before they are sent.
	UserAttributes []string
	// LowerCaseUserName lower-cases userName before sending it (and before
	// filtering on it).
	LowerCaseUserName bool
	// Groups reports whether the downstream has a Groups endpoint.
	Groups bool
	// Active reports whether users have an active attribute, that is
	// whether they can be deactivated rather than deleted.
	Active bool
	// Discover: ask the server for its ServiceProviderConfig. Without it
	// (or when the server does not serve one) the client assumes Assumed.
	Discover bool
	// Assumed is the configuration used when not discovering.
	Assumed ServiceProviderConfig
	// PageSize is the page size asked for when listing (0: the default).
	PageSize int
	// UserName, when set, is what the downstream accepts as a user name
	// (RAM's rule), and UserNameRule says it in words: a name it does not
	// match is refused before anything is sent.
	UserName     *regexp.Regexp
	UserNameRule string
}

// checkUserName refuses a user name the downstream does not accept.
func (p Profile) checkUserName(name string) error {
	if p.UserName == nil || p.UserName.MatchString(name) {
		return nil
	}
	return fmt.Errorf("userName %q is not a %s user name (%s)", name, p.Name, p.UserNameRule)
}

// The profiles. Assumptions not confirmed by vendor documentation are
// marked as such.
//
//   - generic: any RFC 7644 server. PATCH, filters and Bulk as its
//     ServiceProviderConfig says (PUT when it serves none).
//   - ram: Alibaba Cloud RAM (https://scim.aliyun.com, endpoints at the root,
//     OAuth 2.0 client credentials at https://oauth.aliyun.com/v1/token).
//     Only id, externalId, userName and displayName exist; user names are
//     lower-cased (as IDaaS does when it pushes to RAM); filters are eq and
//     and on id/userName/externalId; no Groups; no PATCH documented, so
//     updates are PUTs; DELETE is a hard delete and there is no active
//     state, so users cannot be deactivated. RAM's ServiceProviderConfig is
//     not documented and is not asked for. Its error bodies and 409
//     behaviour are undocumented: errors are parsed leniently.
//   - idaas: Alibaba Cloud IDaaS EIAM as a SCIM server: Users and Groups with
//     PATCH, 100 per page, discovery without authentication. Its field rules
//     (one email and one phone number, both of type "work") are the caller's
//     to follow: documents are sent as built.
//   - gitbook: GitBook's SCIM connections. Which attributes it keeps and
//     whether Groups map to teams is undocumented: the profile is generic,
//     with lower-case user names (GitBook matches the lower-case email).
var profiles = map[string]Profile{
	"generic": {Name: "generic", Groups: true, Active: true, Discover: true,
		Assumed: ServiceProviderConfig{Filter: true}},
	"ram": {Name: "ram", UserAttributes: []string{"id", "externalId", "userName", "displayName"},
		LowerCaseUserName: true, Assumed: ServiceProviderConfig{Filter: true}, PageSize: 100,
		UserName: regexp.MustCompile(`^[a-z0-9._-]{1,64}$`), UserNameRule: "1 to 64 letters, digits, '.', '-' and '_'"},
	"idaas": {Name: "idaas", Groups: true, Active: true, Discover: true, PageSize: 100,
		Assumed: ServiceProviderConfig{Patch: true, Filter: true}},
	"gitbook": {Name: "gitbook", Groups: true, Active: true, Discover: true, LowerCaseUserName: true,
		Assumed: ServiceProviderConfig{Filter: true}},
}

func profileNamed(name string) (Profile, bool) {
	if name == "" {
		name = "generic"
	}
	p, ok := profiles[strings.ToLower(name)]
	p.UserAttributes = slices.Clone(p.UserAttributes)
	return p, ok
}

// allowsUserAttr reports whether the profile keeps attribute name.
func (p Profile) allowsUserAttr(name string) bool {
	if p.UserAttributes == nil || strings.EqualFold(name, "schemas") {
		return true
	}
	return slices.ContainsFunc(p.UserAttributes, func(a string) bool { return strings.EqualFold(a, name) })
}

// ServiceProviderConfig is what a server says it supports (RFC 7643 §5).
type ServiceProviderConfig struct {
	Patch              bool
	Bulk               bool
	BulkMaxOperations  int
	BulkMaxPayloadSize int
	Filter             bool
	FilterMaxResults   int
	Sort               bool
	ETag               bool
	ChangePassword     bool
}

// ServiceProviderConfig returns what the server supports: the configured
// override, else the server's own document (asked for once and cached),
// else — for profiles that do not discover, or servers that do not serve it
// — the profile's assumptions.
func (c *Client) ServiceProviderConfig(ctx context.Context) (*ServiceProviderConfig, error) {
	c.spcMu.Lock()
	defer c.spcMu.Unlock()
	if c.spc != nil {
		out := *c.spc
		return &out, nil
	}
	spc := c.profile.Assumed
	if c.profile.Discover {
		d, _, err := c.doc(ctx, request{method: http.MethodGet, path: c.cfg.Paths.ServiceProviderConfig})
		var e *Error
		switch {
		case err == nil:
			spc = parseSPC(d)
		case errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Status == http.StatusNotImplemented ||
			e.Status == http.StatusMethodNotAllowed):
			// Not served: keep the assumptions.
		default:
			return nil, err
		}
	}
	c.spc = &spc
	out := spc
	return &out, nil
}

func parseSPC(d map[string]any) ServiceProviderConfig {
	feature := func(name string) map[string]any {
		for k, v := range d {
			if strings.EqualFold(k, name) {
				m, _ := v.(map[string]any)
				return m
			}
		}
		return nil
	}
	field := func(m map[string]any, name string) any {
		for k, v := range m {
			if strings.EqualFold(k, name) {
				return v
			}
		}
		return nil
	}
	supported := func(name string) bool {
		return truthy(field(feature(name), "supported"))
	}
	num := func(feat, name string) int {
		switch v := field(feature(feat), name).(type) {
		case json.Number:
			n, _ := v.Int64()
			return int(n)
		case float64:
			return int(v)
		case string:
			n, _ := strconv.Atoi(v)
			return n
		}
		return 0
	}
	return ServiceProviderConfig{
		Patch: supported("patch"), Bulk: supported("bulk"), Filter: supported("filter"),
		Sort: supported("sort"), ETag: supported("etag"), ChangePassword: supported("changePassword"),
		BulkMaxOperations: num("bulk", "maxOperations"), BulkMaxPayloadSize: num("bulk", "maxPayloadSize"),
		FilterMaxResults: num("filter", "maxResults"),
	}
}

// truthy reads a boolean that may come as a string ("True").
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

// usePatch reports whether updates go as PATCH.
func (c *Client) usePatch(ctx context.Context) (bool, error) {
	spc, err := c.ServiceProviderConfig(ctx)
	if err != nil {
		return false, err
	}
	return spc.Patch, nil
}
