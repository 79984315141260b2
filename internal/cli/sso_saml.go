package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/sso/saml"
)

// gatehouse saml: SAML service providers (applications of kind saml-sp)
// and the identity provider's signing keys and metadata.

// samlFlags are the flags of saml create and saml update.
type samlFlags struct {
	metadata, entityID, preset, nameIDFormat, nameIDSource, aliyunAccount, aliyunProvider, aliyunDomain, pushTarget, allowedGroups, name *string
	acs, slo, certs, roles                                                                                                               repeated
	signedRequests, everyone, disabled                                                                                                   *bool
	sessionDuration, minFactors                                                                                                          *int
}

// repeated is a flag that may be given several times (or as a comma list).
type repeated []string

func (r *repeated) String() string { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error {
	*r = append(*r, splitList(v)...)
	return nil
}

func (f *samlFlags) register(fs *flag.FlagSet, update bool) {
	f.metadata = fs.String("metadata", "", "the service provider's metadata: a file, or an https URL (fetched through the egress policy)")
	f.entityID = fs.String("entity-id", "", "the service provider's entity ID (without --metadata)")
	fs.Var(&f.acs, "acs", "an assertion consumer service URL (HTTP-POST; repeat or comma-separate; the first is the default)")
	fs.Var(&f.slo, "slo", "a single logout service URL (HTTP-Redirect)")
	fs.Var(&f.certs, "cert", "a PEM file of the service provider's signing certificate (repeatable)")
	f.signedRequests = fs.Bool("signed-requests", false, "refuse AuthnRequests the service provider has not signed")
	f.preset = fs.String("preset", "", "attribute mapping: gitbook, aliyun-role or aliyun-user (default: the email as NameID)")
	f.nameIDFormat = fs.String("name-id-format", "", "NameID format: email, persistent, unspecified or transient (overrides the preset)")
	f.nameIDSource = fs.String("name-id-source", "", "NameID value: email, userName, id or aliyunUser (overrides the preset)")
	f.aliyunAccount = fs.String("aliyun-account", "", "Alibaba Cloud role SSO: the account id")
	f.aliyunProvider = fs.String("aliyun-provider", "", "Alibaba Cloud role SSO: the RAM identity provider's name")
	fs.Var(&f.roles, "aliyun-role", "Alibaba Cloud role SSO: GROUP=ROLE[+ROLE…], the RAM roles a group's members may assume (repeatable)")
	f.sessionDuration = fs.Int("session-duration", 0, "Alibaba Cloud role SSO: console session length in seconds (900-43200)")
	f.aliyunDomain = fs.String("aliyun-domain", "", "Alibaba Cloud user SSO: the RAM users' logon suffix (such as example.onaliyun.com)")
	f.pushTarget = fs.String("push-target", "", "the push target that creates the service provider's accounts: an account it linked is named by the userName it sent, others are refused (\"-\" to stop)")
	f.allowedGroups = fs.String("allowed-groups", "", "the groups (names or ids, comma-separated) whose members may use the application")
	f.everyone = fs.Bool("everyone", false, "let every active person use the application")
	f.minFactors = fs.Int("min-factors", 0, "factors a session needs to use the application (0: the groups' policy, 1, 2)")
	f.disabled = fs.Bool("disabled", false, "create the application disabled")
	if update {
		f.name = fs.String("name", "", "rename the application")
	}
}

// input turns the flags given into the admin API's input.
func (f *samlFlags) input(c *cmd) (admin.SAMLAppInput, error) {
	var in admin.SAMLAppInput
	if c.set["metadata"] {
		m := *f.metadata
		switch {
		case strings.HasPrefix(m, "https://"):
			in.MetadataURL = m
		case strings.HasPrefix(m, "http://"):
			return in, usagef("saml: the metadata URL must be https")
		default:
			b, err := readLimited(m, 1<<20)
			if err != nil {
				return in, err
			}
			in.Metadata = string(b)
		}
	}
	in.EntityID = *f.entityID
	in.ACS, in.SLO = f.acs, f.slo
	for _, p := range f.certs {
		b, err := readLimited(p, 64<<10)
		if err != nil {
			return in, err
		}
		in.Certificates = append(in.Certificates, string(b))
	}
	if c.set["signed-requests"] {
		in.SignedRequests = f.signedRequests
	}
	if c.set["preset"] {
		in.Preset = f.preset
	}
	in.NameIDFormat, in.NameIDSource = *f.nameIDFormat, *f.nameIDSource
	in.AliyunAccount, in.AliyunProvider, in.AliyunDomain = *f.aliyunAccount, *f.aliyunProvider, *f.aliyunDomain
	switch *f.pushTarget {
	case "":
	case "-":
		in.PushTarget = new(string)
	default:
		in.PushTarget = f.pushTarget
	}
	if len(f.roles) > 0 {
		in.AliyunRoles = map[string][]string{}
		for _, r := range f.roles {
			g, roles, ok := strings.Cut(r, "=")
			if !ok || g == "" || roles == "" {
				return in, usagef("saml: --aliyun-role takes GROUP=ROLE[+ROLE…] (got %q)", r)
			}
			in.AliyunRoles[g] = append(in.AliyunRoles[g], strings.Split(roles, "+")...)
		}
	}
	if c.set["session-duration"] {
		in.SessionDuration = f.sessionDuration
	}
	if c.set["allowed-groups"] {
		g := splitList(*f.allowedGroups)
		if g == nil {
			g = []string{}
		}
		in.AllowedGroups = &g
	}
	if c.set["everyone"] {
		in.Everyone = f.everyone
	}
	if c.set["min-factors"] {
		in.MinFactors = f.minFactors
	}
	if c.set["disabled"] {
		enabled := !*f.disabled
		in.Enabled = &enabled
	}
	if f.name != nil {
		in.Name = *f.name
	}
	return in, nil
}

func readLimited(path string, limit int64) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

func (c *cmd) showSAMLApp(x *admin.SAMLApp) error {
	return c.print(x, func() {
		s := x.Settings
		c.printf("Application:     %s (id %s, %s)\n", x.Name, x.ID, map[bool]string{true: "enabled", false: "disabled"}[x.Enabled])
		c.printf("Entity ID:       %s\n", s.EntityID)
		for _, e := range s.ACS {
			c.printf("ACS:             %s\n", e.URL)
		}
		for _, e := range s.SLO {
			c.printf("SLO:             %s\n", e.URL)
		}
		preset := s.Preset
		if preset == "" {
			preset = "none"
		}
		c.printf("Preset:          %s (NameID %s from %s)\n", preset, s.NameID.Format, s.NameID.Source)
		for _, a := range s.Attributes {
			c.printf("Attribute:       %s ← %s\n", a.Name, a.Source)
		}
		c.printf("Signed requests: %v (%d certificates)\n", s.SignedRequests, len(s.Certificates))
		switch {
		case x.Access.Everyone:
			c.printf("Who may use it:  everyone\n")
		case len(x.Access.AllowedGroups) == 0:
			c.printf("Who may use it:  nobody yet (give --allowed-groups or --everyone)\n")
		default:
			c.printf("Who may use it:  the groups %s\n", strings.Join(x.Access.AllowedGroups, ", "))
		}
		c.printf("\nGive the service provider:\n")
		c.printf("  IdP entity ID:   %s\n", x.IdP.EntityID)
		c.printf("  IdP metadata:    %s\n", x.IdP.MetadataURL)
		c.printf("  SSO URL:         %s\n", x.IdP.SSOURL)
		c.printf("  SLO URL:         %s\n", x.IdP.SLOURL)
		c.printf("  Certificate:     SHA-256 %s (gatehouse saml metadata, or the metadata URL)\n", x.IdP.Fingerprint)
		c.printf("  IdP-initiated:   %s\n", x.IdP.IdPInitiatedURL)
		if strings.HasPrefix(x.IdP.EntityID, "urn:") {
			c.printf("\nSet base_url (GATEHOUSE_BASE_URL) to Gatehouse's https address: the URLs above derive from it.\n")
		}
	})
}

func (e *env) samlCmd(args []string) error {
	var cf, uf samlFlags
	var in *time.Duration
	var bits *int
	appArg := []arg{{"APP", "the application's name or id"}}
	subs := map[string]*sub{
		"create": {
			about: "create a SAML service provider from its metadata (--metadata FILE|URL) or --entity-id and --acs",
			args:  []arg{{"NAME", "the application's name"}},
			flags: func(fs *flag.FlagSet) func() error { cf.register(fs, false); return nil },
			run: func(c *cmd) error {
				input, err := cf.input(c)
				if err != nil {
					return err
				}
				input.Name = c.pos[0]
				x, err := c.a.Admin.CreateSAMLApp(c.e.ctx, cliActor(), input)
				if err != nil {
					return err
				}
				return c.showSAMLApp(x)
			},
		},
		"update": {
			about: "change a SAML service provider: only the flags given change",
			args:  appArg,
			flags: func(fs *flag.FlagSet) func() error { uf.register(fs, true); return nil },
			run: func(c *cmd) error {
				input, err := uf.input(c)
				if err != nil {
					return err
				}
				x, err := c.a.Admin.UpdateSAMLApp(c.e.ctx, cliActor(), c.pos[0], input)
				if err != nil {
					return err
				}
				return c.showSAMLApp(x)
			},
		},
		"show": {about: "show a SAML service provider and what to give it (entity ID, URLs, certificate)", args: appArg, run: func(c *cmd) error {
			x, err := c.a.Admin.GetSAMLApp(c.e.ctx, c.pos[0])
			if err != nil {
				return err
			}
			return c.showSAMLApp(x)
		}},
		"metadata": {about: "print the identity provider's signed metadata (also served at /saml/metadata)", run: func(c *cmd) error {
			if c.a.SAML == nil {
				return fmt.Errorf("this database has no SAML identity provider")
			}
			md, err := c.a.SAML.Metadata(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(map[string]string{"metadata": string(md)}, func() { c.printf("%s\n", md) })
		}},
		"keys": {about: "list the signing keys' certificates: the one that signs, and the one waiting or replaced", run: func(c *cmd) error {
			keys, err := c.a.Admin.SAMLKeys(c.e.ctx)
			if err != nil {
				return err
			}
			return c.print(admin.Items(keys), func() { samlKeyTable(c, keys) })
		}},
		"rotate-key": {
			about: "make a new signing key, published at once and signing after --in (give service providers the new certificate meanwhile)",
			flags: func(fs *flag.FlagSet) func() error {
				in = fs.Duration("in", 0, "how long the new key waits before it signs (e.g. 336h); 0: at once")
				bits = fs.Int("bits", saml.DefaultKeyBits, "RSA key size: 2048, 3072 or 4096 (3072 doubles the signing cost)")
				return nil
			},
			run: func(c *cmd) error {
				k, err := c.a.Admin.RotateSAMLKey(c.e.ctx, cliActor(), *in, *bits)
				if err != nil {
					return err
				}
				return c.print(k, func() {
					c.printf("New SAML signing key %s (SHA-256 %s), in the metadata now, signing from %s.\n", k.ID, k.Fingerprint, fmtTime(k.Activates))
					c.printf("Service providers that pin the certificate (GitBook, Alibaba Cloud) need the new one before then.\n")
				})
			},
		},
	}
	return e.runGroup(&group{name: "saml", about: "Gatehouse as a SAML 2.0 identity provider: service providers (applications of kind saml-sp), signing keys, metadata.",
		order: []string{"create", "show", "update", "metadata", "keys", "rotate-key"}, subs: subs}, args)
}

func samlKeyTable(c *cmd, keys []saml.KeyInfo) {
	var rows [][]string
	for _, k := range keys {
		rows = append(rows, []string{k.ID, k.State, strconv.Itoa(k.Bits), fmtTime(k.Activates), fmtTime(k.NotAfter), k.Fingerprint})
	}
	_ = table(c.e.stdout, []string{"ID", "STATE", "BITS", "SIGNS FROM", "CERT EXPIRES", "SHA-256"}, rows)
}
