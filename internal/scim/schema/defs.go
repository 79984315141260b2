package schema

import (
	"fmt"
	"regexp"
	"strings"
)

// The definitions below follow RFC 7643 §4 and §8.7.1. Each call builds a
// fresh tree, so nothing here is shared mutable state.

func str(name, desc string) *Attribute {
	return &Attribute{Name: name, Type: String, Description: desc, Mutability: ReadWrite, Returned: ReturnDefault, Uniqueness: "none"}
}

func withCanon(a *Attribute, vals ...string) *Attribute {
	a.CanonicalValues = vals
	return a
}

func boolean(name, desc string) *Attribute {
	return &Attribute{Name: name, Type: Boolean, Description: desc, Mutability: ReadWrite, Returned: ReturnDefault}
}

func ref(name, desc string, types ...string) *Attribute {
	return &Attribute{Name: name, Type: Reference, Description: desc, Mutability: ReadWrite, Returned: ReturnDefault, Uniqueness: "none", ReferenceTypes: types, CaseExact: true}
}

func complexAttr(name, desc string, multi bool, subs ...*Attribute) *Attribute {
	return &Attribute{Name: name, Type: Complex, MultiValued: multi, Description: desc, Mutability: ReadWrite, Returned: ReturnDefault, Uniqueness: "none", SubAttributes: subs}
}

func readOnly(a *Attribute) *Attribute {
	a.Mutability = ReadOnly
	for _, s := range a.SubAttributes {
		readOnly(s)
	}
	return a
}

// multiValued builds the usual value/display/type/primary complex attribute.
func multiValued(name, desc, valueDesc string, valueType Type, types ...string) *Attribute {
	v := str("value", valueDesc)
	v.Type = valueType
	if valueType == Reference {
		v.ReferenceTypes = []string{"external"}
		v.CaseExact = true
	}
	return complexAttr(name, desc, true,
		v,
		str("display", "A human-readable name, primarily used for display purposes."),
		withCanon(str("type", "A label indicating the attribute's function."), types...),
		boolean("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute. The primary attribute value 'true' MUST appear no more than once."),
	)
}

// CommonAttributes returns the id, externalId and meta attributes shared by
// every resource type (RFC 7643 §3.1).
func CommonAttributes() []*Attribute {
	id := str("id", "Unique identifier for the SCIM resource as defined by the service provider.")
	id.CaseExact, id.Mutability, id.Returned, id.Uniqueness = true, ReadOnly, ReturnAlways, "server"
	ext := str("externalId", "An identifier for the resource as defined by the provisioning client.")
	ext.CaseExact = true
	created := &Attribute{Name: "created", Type: DateTime, Description: "The date and time the resource was added to the service provider.", Mutability: ReadOnly, Returned: ReturnDefault}
	modified := &Attribute{Name: "lastModified", Type: DateTime, Description: "The most recent date and time that the details of this resource were updated at the service provider.", Mutability: ReadOnly, Returned: ReturnDefault}
	rtype := str("resourceType", "The name of the resource type of the resource.")
	rtype.CaseExact = true
	loc := ref("location", "The URI of the resource being returned.", "uri")
	ver := str("version", "The version of the resource being returned (a weak ETag).")
	ver.CaseExact = true
	meta := readOnly(complexAttr("meta", "Resource metadata.", false, rtype, created, modified, loc, ver))
	return []*Attribute{id, ext, meta}
}

// CoreUser returns urn:ietf:params:scim:schemas:core:2.0:User, plus IDaaS's
// phoneRegion.
func CoreUser() *Schema {
	userName := str("userName", "Unique identifier for the User, typically used by the user to directly authenticate to the service provider. REQUIRED.")
	userName.Required, userName.Uniqueness = true, "server"

	name := complexAttr("name", "The components of the user's real name.", false,
		str("formatted", "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display."),
		str("familyName", "The family name of the User, or last name in most Western languages."),
		str("givenName", "The given name of the User, or first name in most Western languages."),
		str("middleName", "The middle name(s) of the User."),
		str("honorificPrefix", "The honorific prefix(es) of the User, or title in most Western languages."),
		str("honorificSuffix", "The honorific suffix(es) of the User, or suffix in most Western languages."),
	)

	password := str("password", "The User's cleartext password. Write-only: stored as an argon2id hash and never returned.")
	password.Mutability, password.Returned = WriteOnly, ReturnNever

	phoneRegion := str("phoneRegion", "IDaaS: the calling code of the phone number's region, without '+'.")

	emails := multiValued("emails", "Email addresses for the user.", "Email addresses for the user.", String, "work", "home", "other")
	phones := multiValued("phoneNumbers", "Phone numbers for the User.", "Phone number of the User.", String, "work", "home", "mobile", "fax", "pager", "other")
	ims := multiValued("ims", "Instant messaging addresses for the User.", "Instant messaging address for the User.", String, "aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")
	photos := multiValued("photos", "URLs of photos of the User.", "URL of a photo of the User.", Reference, "photo", "thumbnail")

	addresses := complexAttr("addresses", "A physical mailing address for this User.", true,
		str("formatted", "The full mailing address, formatted for display or use with a mailing label."),
		str("streetAddress", "The full street address component."),
		str("locality", "The city or locality component."),
		str("region", "The state or region component."),
		str("postalCode", "The zip code or postal code component."),
		str("country", "The country name component."),
		withCanon(str("type", "A label indicating the attribute's function."), "work", "home", "other"),
		boolean("primary", "A Boolean value indicating the 'primary' or preferred attribute value for this attribute."),
	)

	groupRef := ref("$ref", "The URI of the corresponding 'Group' resource to which the user belongs.", "User", "Group")
	groups := readOnly(complexAttr("groups", "A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.", true,
		str("value", "The identifier of the User's group."),
		groupRef,
		str("display", "A human-readable name, primarily used for display purposes."),
		withCanon(str("type", "A label indicating the attribute's function."), "direct", "indirect"),
	))

	x509 := multiValued("x509Certificates", "A list of certificates issued to the User.", "The value of an X.509 certificate.", Binary)
	x509.SubAttributes[0].CaseExact = true

	return &Schema{
		ID:          UserURN,
		Name:        "User",
		Description: "User Account",
		Attributes: []*Attribute{
			userName,
			name,
			str("displayName", "The name of the User, suitable for display to end-users."),
			str("nickName", "The casual way to address the user in real life."),
			ref("profileUrl", "A fully qualified URL pointing to a page representing the User's online profile.", "external"),
			str("title", "The user's title, such as \"Vice President.\""),
			str("userType", "Used to identify the relationship between the organization and the user."),
			str("preferredLanguage", "Indicates the User's preferred written or spoken language."),
			str("locale", "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
			str("timezone", "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
			boolean("active", "A Boolean value indicating the User's administrative status."),
			password,
			emails,
			phones,
			phoneRegion,
			ims,
			photos,
			addresses,
			groups,
			multiValued("entitlements", "A list of entitlements for the User that represent a thing the User has.", "The value of an entitlement.", String),
			multiValued("roles", "A list of roles for the User that collectively represent who the User is.", "The value of a role.", String),
			x509,
		},
	}
}

// EnterpriseUser returns the enterprise User extension with IDaaS's
// organizationId.
func EnterpriseUser() *Schema {
	mgrValue := str("value", "The id of the SCIM resource representing the User's manager.")
	mgrValue.CaseExact = true
	// RFC 7643's read-only manager.displayName is left out: Gatehouse
	// neither returns nor filters on it.
	orgID := str("organizationId", "IDaaS: the id of the organization the account belongs to.")
	orgID.CaseExact = true
	return &Schema{
		ID:          EnterpriseURN,
		Name:        "EnterpriseUser",
		Description: "Enterprise User",
		Attributes: []*Attribute{
			str("employeeNumber", "Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization."),
			str("costCenter", "Identifies the name of a cost center."),
			str("organization", "Identifies the name of an organization."),
			str("division", "Identifies the name of a division."),
			str("department", "Identifies the name of a department."),
			complexAttr("manager", "The User's manager.", false,
				mgrValue,
				ref("$ref", "The URI of the SCIM resource representing the User's manager.", "User"),
			),
			orgID,
		},
	}
}

// CoreGroup returns urn:ietf:params:scim:schemas:core:2.0:Group. Members
// are Users only: Gatehouse does not support nested groups (as IDaaS).
func CoreGroup() *Schema {
	displayName := str("displayName", "A human-readable name for the Group. REQUIRED and unique (case-insensitively).")
	displayName.Required, displayName.Uniqueness = true, "server"
	value := str("value", "Identifier of the member of this Group.")
	value.CaseExact, value.Mutability = true, Immutable
	mref := ref("$ref", "The URI corresponding to a SCIM resource that is a member of this Group.", "User")
	mref.Mutability = Immutable
	mtype := withCanon(str("type", "A label indicating the type of resource. Only \"User\" is supported."), "User")
	mtype.Mutability = Immutable
	display := str("display", "A human-readable name for the member: the User's displayName, else userName.")
	display.Mutability = ReadOnly
	return &Schema{
		ID:          GroupURN,
		Name:        "Group",
		Description: "Group",
		Attributes: []*Attribute{
			displayName,
			complexAttr("members", "A list of members of the Group.", true, value, mref, mtype, display),
		},
	}
}

// ExtensionDef declares a custom extension namespace, such as Okta's
// urn:ietf:params:scim:schemas:extension:customfield:2.0:User or Entra's
// urn:ietf:params:scim:schemas:extension:<Name>:2.0:User.
type ExtensionDef struct {
	URN         string
	Name        string
	Description string
	Attributes  []ExtensionAttr
}

// ExtensionAttr is one attribute of a custom extension.
type ExtensionAttr struct {
	Name        string
	Type        Type
	MultiValued bool
	CaseExact   bool
	Required    bool
	Description string
}

var attrNameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// Schema validates the definition and builds its schema.
func (d ExtensionDef) Schema() (*Schema, error) {
	var problems []string
	if !strings.HasPrefix(strings.ToLower(d.URN), "urn:") || strings.ContainsAny(d.URN, " \t\"[]") {
		problems = append(problems, fmt.Sprintf("extension schema %q: must be a URN", d.URN))
	}
	for _, known := range []string{UserURN, GroupURN, EnterpriseURN} {
		if strings.EqualFold(d.URN, known) {
			problems = append(problems, fmt.Sprintf("extension schema %q: is a built-in schema", d.URN))
		}
	}
	s := &Schema{ID: d.URN, Name: d.Name, Description: d.Description}
	if s.Name == "" {
		s.Name = "CustomExtension"
	}
	if s.Description == "" {
		s.Description = "Custom User extension"
	}
	seen := map[string]bool{}
	for _, a := range d.Attributes {
		if !attrNameRE.MatchString(a.Name) {
			problems = append(problems, fmt.Sprintf("extension %s: attribute name %q is not a valid SCIM attribute name", d.URN, a.Name))
		}
		if seen[strings.ToLower(a.Name)] {
			problems = append(problems, fmt.Sprintf("extension %s: attribute %q is declared twice", d.URN, a.Name))
		}
		seen[strings.ToLower(a.Name)] = true
		t := a.Type
		if t == "" {
			t = String
		}
		if !ValidType(t) || t == Complex {
			problems = append(problems, fmt.Sprintf("extension %s: attribute %q has unsupported type %q (use string, boolean, integer, decimal, dateTime, reference or binary)", d.URN, a.Name, a.Type))
		}
		desc := a.Description
		if desc == "" {
			desc = "Custom attribute " + a.Name
		}
		attr := &Attribute{
			Name: a.Name, Type: t, MultiValued: a.MultiValued, CaseExact: a.CaseExact, Required: a.Required,
			Description: desc, Mutability: ReadWrite, Returned: ReturnDefault, Uniqueness: "none",
		}
		if t == Reference {
			// A URL of something outside Gatehouse (CheckValues).
			attr.ReferenceTypes = []string{"external"}
		}
		s.Attributes = append(s.Attributes, attr)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return s, nil
}

// Registry holds the resource types Gatehouse serves.
type Registry struct {
	User  *ResourceType
	Group *ResourceType
}

// NewRegistry builds the User and Group resource types, with the enterprise
// extension and the given custom User extensions.
func NewRegistry(custom []ExtensionDef) (*Registry, error) {
	user := &ResourceType{
		ID: "User", Name: "User", Endpoint: "/Users", Description: "User Account",
		Schema:     CoreUser(),
		Extensions: []Extension{{Schema: EnterpriseUser()}},
		Common:     CommonAttributes(),
	}
	var problems []string
	seen := map[string]bool{}
	for _, d := range custom {
		s, err := d.Schema()
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if seen[strings.ToLower(s.ID)] {
			problems = append(problems, fmt.Sprintf("extension schema %q is declared twice", s.ID))
			continue
		}
		seen[strings.ToLower(s.ID)] = true
		user.Extensions = append(user.Extensions, Extension{Schema: s})
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	group := &ResourceType{
		ID: "Group", Name: "Group", Endpoint: "/Groups", Description: "Group",
		Schema: CoreGroup(),
		Common: CommonAttributes(),
	}
	return &Registry{User: user, Group: group}, nil
}

// Schemas lists every schema, core schemas first.
func (r *Registry) Schemas() []*Schema {
	out := []*Schema{r.User.Schema, r.Group.Schema}
	for _, e := range r.User.Extensions {
		out = append(out, e.Schema)
	}
	return out
}

// ResourceTypes lists the resource types.
func (r *Registry) ResourceTypes() []*ResourceType { return []*ResourceType{r.User, r.Group} }
