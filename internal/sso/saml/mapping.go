package saml

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	crewsaml "github.com/crewjam/saml"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Subject is what an assertion says about a person.
type Subject struct {
	NameID       string
	NameIDFormat string
	Attributes   []crewsaml.Attribute
}

// RefusalError is a reason a person cannot be sent to a service provider
// that she should be told (her account lacks what the service provider
// needs).
type RefusalError struct{ Message string }

func (e *RefusalError) Error() string { return e.Message }

func refuse(format string, a ...any) error { return &RefusalError{Message: fmt.Sprintf(format, a...)} }

// userValue returns one of a user's values by source name.
func userValue(u *directory.User, source string) string {
	name, _ := u.Attrs["name"].(map[string]any)
	str := func(v any) string { s, _ := v.(string); return s }
	switch source {
	case "email":
		return strings.ToLower(u.Email())
	case "userName":
		return u.UserName
	case "displayName":
		return u.DisplayName
	case "givenName":
		return str(name["givenName"])
	case "familyName":
		return str(name["familyName"])
	case "id":
		return u.ID
	}
	return ""
}

var roleSessionNameRE = regexp.MustCompile(`[^\w+=,.@-]`)

// Map computes the NameID and the attributes of the assertion for u with
// the settings s (transientID is the NameID of the transient format).
func (s *Settings) Map(u *directory.User, transientID string) (*Subject, error) {
	return s.mapAs(u, transientID, "")
}

// mapAs is Map with the NameID given (when not ""), as a push's link
// gives it.
func (s *Settings) mapAs(u *directory.User, transientID, nameID string) (*Subject, error) {
	out := &Subject{NameIDFormat: string(nameIDFormats[s.NameID.Format])}
	switch {
	case s.NameID.Format == "transient":
		out.NameID = transientID
	case nameID != "":
		out.NameID = nameID
	case s.NameID.Source == "aliyunUser":
		local, _, _ := strings.Cut(u.UserName, "@")
		local = strings.ToLower(local)
		if local == "" || !aliyunNameRE.MatchString(local) {
			return nil, refuse("your account name cannot name an Alibaba Cloud RAM user")
		}
		out.NameID = local + "@" + s.AliyunUser.Domain
	default:
		out.NameID = userValue(u, s.NameID.Source)
		if out.NameID == "" {
			return nil, refuse("your account has no %s, which this application needs to know who you are", describeSource(s.NameID.Source))
		}
	}
	for _, a := range s.Attributes {
		var values []string
		switch a.Source {
		case "groups":
			for _, g := range u.Groups {
				values = append(values, g.DisplayName)
			}
		case "aliyunRoles":
			values = s.aliyunRoles(u)
			if len(values) == 0 {
				return nil, refuse("none of your groups grants a role in this Alibaba Cloud account")
			}
		case "aliyunSessionDuration":
			if s.AliyunRole != nil && s.AliyunRole.SessionDuration > 0 {
				values = []string{strconv.Itoa(s.AliyunRole.SessionDuration)}
			}
		default:
			v := userValue(u, a.Source)
			if a.Name == aliyunRoleSessionNameAttr {
				v = roleSessionNameRE.ReplaceAllString(v, "-")
				if len(v) > 64 {
					v = v[:64]
				}
				if len(v) < 2 {
					v = u.ID
				}
			}
			if v != "" {
				values = []string{v}
			}
		}
		if len(values) == 0 {
			continue // an attribute without values is left out
		}
		attr := crewsaml.Attribute{Name: a.Name, FriendlyName: a.FriendlyName, NameFormat: attrNameFormat(a.Name)}
		for _, v := range values {
			attr.Values = append(attr.Values, crewsaml.AttributeValue{Type: "xs:string", Value: v})
		}
		out.Attributes = append(out.Attributes, attr)
	}
	return out, nil
}

// aliyunRoles returns one value per RAM role u's groups grant:
// "acs:ram::<account>:role/<role>,acs:ram::<account>:saml-provider/<provider>".
func (s *Settings) aliyunRoles(u *directory.User) []string {
	r := s.AliyunRole
	if r == nil {
		return nil
	}
	var roles []string
	// By group id only: the administration binds the names it is given to
	// ids when the settings are applied, so that a renamed group keeps its
	// roles and a new group of the old name gets none.
	for _, g := range u.Groups {
		for _, role := range r.Roles[g.ID] {
			if !slices.Contains(roles, role) {
				roles = append(roles, role)
			}
		}
	}
	slices.Sort(roles)
	out := make([]string, len(roles))
	for i, role := range roles {
		out[i] = "acs:ram::" + r.Account + ":role/" + strings.ToLower(role) + ",acs:ram::" + r.Account + ":saml-provider/" + r.Provider
	}
	return out
}

func attrNameFormat(name string) string {
	if strings.Contains(name, ":") {
		return "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
	}
	return "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
}

func describeSource(source string) string {
	switch source {
	case "email":
		return "email address"
	case "userName":
		return "account name"
	}
	return source
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings are marshalled
	}
	return b
}
