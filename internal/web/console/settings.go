package console

import (
	"maps"
	"slices"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-id/gatehouse/internal/events"
)

// Settings: the configuration each server recorded when it started and at
// every reload (events.ServerConfig, what `gatehouse rules list` and the
// other administration commands show as "the running configuration"): the
// events source, the base URL, the rules file and its targets — their
// secrets, URLs with credentials and headers replaced by "(not recorded)"
// before they were stored, so that nothing here can reveal one.

type settingsView struct {
	Servers []serverSettings
	Err     string
}

type serverSettings struct {
	*events.ServerConfig
	Targets []namedYAML
	Rules   []namedYAML
}

type namedYAML struct {
	Name, YAML string
}

func (c *Console) settingsPage(q *Request) error {
	v := settingsView{}
	if c.opt.Data.Settings == nil {
		v.Err = q.L.T("settings.none")
		return q.Render("settings.title", v)
	}
	recs, err := c.opt.Data.Settings(q.Context())
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		v.Err = q.L.T("settings.none")
	}
	for _, r := range recs {
		s := serverSettings{ServerConfig: r}
		for _, name := range slices.Sorted(maps.Keys(r.Targets)) {
			b, _ := yaml.Marshal(r.Targets[name])
			s.Targets = append(s.Targets, namedYAML{Name: name, YAML: string(b)})
		}
		for _, rule := range r.Rules {
			b, _ := yaml.Marshal(rule)
			s.Rules = append(s.Rules, namedYAML{Name: rule.Name, YAML: string(b)})
		}
		v.Servers = append(v.Servers, s)
	}
	return q.Render("settings.title", v)
}
