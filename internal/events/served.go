package events

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"strings"
	"time"
)

// ServerConfig is the configuration a server runs its pipeline with, as it
// records it in the database at start and at every reload: what the
// command line shows as the running system's rules, targets and event
// source, whatever its own environment says. It holds no secret: the
// targets' secret settings are replaced (RedactTargets).
type ServerConfig struct {
	// Server names the server: its host name and the address it listens
	// on. A server restarted on the same host and address replaces its
	// record.
	Server  string    `json:"server"`
	PID     int       `json:"pid"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Recorded is when the configuration was put in force (start, reload).
	Recorded time.Time `json:"recorded"`
	// Stopped is when the server stopped; nil while it runs (or when it
	// died without stopping).
	Stopped *time.Time `json:"stopped,omitempty"`

	// Source is the CloudEvents source of Gatehouse's own events.
	Source string `json:"source"`
	// BaseURL is the SCIM base URL that event documents name (empty:
	// none).
	BaseURL string `json:"baseUrl,omitempty"`
	// RulesFile is the rules file as the server names it (empty: none).
	RulesFile string `json:"rulesFile,omitempty"`
	// Targets and Rules are the rules file's, as loaded; the rules made
	// through the admin API are in the database already.
	Targets map[string]TargetSpec `json:"targets,omitempty"`
	Rules   []RuleSpec            `json:"rules,omitempty"`
}

// Digest identifies the configuration itself (not who recorded it, or
// when): two servers with the same digest run the same rules and targets.
func (c *ServerConfig) Digest() string {
	b, _ := json.Marshal(struct {
		Source, BaseURL, RulesFile string
		Targets                    map[string]TargetSpec
		Rules                      []RuleSpec
	}{c.Source, c.BaseURL, c.RulesFile, c.Targets, c.Rules})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// File is the recorded rules file, with the admin API's rules api.
func (c *ServerConfig) File(api []RuleSpec) *File {
	return &File{Targets: c.Targets, Rules: c.Rules, API: api}
}

// ServerConfigStore keeps the configurations servers record.
type ServerConfigStore interface {
	// RecordServerConfig stores c as its server's configuration, replacing
	// the server's previous record, and forgets the records of servers
	// that have recorded nothing since before forgetBefore.
	RecordServerConfig(ctx context.Context, c *ServerConfig, forgetBefore time.Time) error
	// ServerStopped notes that server stopped at.
	ServerStopped(ctx context.Context, server string, at time.Time) error
	// ServerConfigs returns the records, the most recently recorded first.
	ServerConfigs(ctx context.Context) ([]*ServerConfig, error)
}

// NotRecorded replaces the value of a secret setting in a recorded
// configuration: an environment variable that is never set, so that the
// target it belongs to builds as one that cannot deliver.
const NotRecorded = "${env:GATEHOUSE_SECRET_NOT_RECORDED}"

// RedactTargets returns a copy of targets without their secrets, for
// recording: a webhook's URL (it may carry a token), secrets and header
// values, Resend's API key, the SMTP password, the SCIM token and client
// secret, EventBridge's access key and security token are NotRecorded, and
// so is every query parameter value (and fragment) of the other URLs —
// Resend's and SCIM's base URLs, the SCIM token URL, EventBridge's endpoint
// — which may carry a key (?access_token=…, ?key=…).
// What is left names each target's kind, endpoints, policy and push scope.
func RedactTargets(targets map[string]TargetSpec) map[string]TargetSpec {
	if targets == nil {
		return nil
	}
	hide := func(s *string) {
		if *s != "" {
			*s = NotRecorded
		}
	}
	hideQuery := func(s *string) { *s = redactQuery(*s) }
	out := make(map[string]TargetSpec, len(targets))
	for name, t := range targets {
		if w := t.Webhook; w != nil {
			c := *w
			hide(&c.URL)
			c.Secrets = make([]string, len(w.Secrets))
			for i := range w.Secrets {
				c.Secrets[i] = NotRecorded
			}
			if w.Headers != nil {
				c.Headers = maps.Clone(w.Headers)
				for k := range c.Headers {
					c.Headers[k] = NotRecorded
				}
			}
			t.Webhook = &c
		}
		if r := t.Resend; r != nil {
			c := *r
			hide(&c.APIKey)
			hideQuery(&c.BaseURL)
			t.Resend = &c
		}
		if m := t.SMTP; m != nil {
			c := *m
			hide(&c.Password)
			t.SMTP = &c
		}
		if s := t.SCIM; s != nil {
			c := *s
			hide(&c.Token)
			hide(&c.ClientSecret)
			hideQuery(&c.BaseURL)
			hideQuery(&c.TokenURL)
			t.SCIM = &c
		}
		if e := t.EventBridge; e != nil {
			c := *e
			hideQuery(&c.Endpoint)
			hide(&c.AccessKeyID)
			hide(&c.AccessKeySecret)
			hide(&c.SecurityToken)
			t.EventBridge = &c
		}
		out[name] = t
	}
	return out
}

// redactQuery returns the URL u with the value of every query parameter
// NotRecorded (a parameter without a value, which may be a key itself,
// wholly), and its fragment too; the scheme, host, path and parameter
// names stay. It works on the text, so that nothing of a value survives
// however it is written.
func redactQuery(u string) string {
	base, frag, hasFrag := strings.Cut(u, "#")
	if hasFrag && frag != "" {
		frag = NotRecorded
	}
	base, query, hasQuery := strings.Cut(base, "?")
	if hasQuery && query != "" {
		parts := strings.Split(query, "&")
		for i, p := range parts {
			switch name, _, ok := strings.Cut(p, "="); {
			case ok:
				parts[i] = name + "=" + NotRecorded
			case p != "":
				parts[i] = NotRecorded
			}
		}
		base += "?" + strings.Join(parts, "&")
	} else if hasQuery {
		base += "?"
	}
	if hasFrag {
		base += "#" + frag
	}
	return base
}
