package app

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
	"github.com/gatehouse-id/gatehouse/internal/scim/filter"
)

// PushTargets names the targets that can be pushed.
func (a *App) PushTargets() []string {
	if a.Events == nil {
		return nil
	}
	var out []string
	for name, t := range a.Events.Config().Targets {
		if t.Push != nil {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// RecordPush appends the audit record of a push run (provision.RunAction)
// that started at start and ended with sum and err: every push that writes
// leaves one, with its counts, never an account's name. The record is
// written even when ctx was cancelled (the push was interrupted).
func (a *App) RecordPush(ctx context.Context, actor directory.Actor, target, trigger string, start time.Time, sum *provision.Summary, err error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return a.Directory.RecordAudit(ctx, provision.RunEntry(actor, target, trigger, start, time.Now(), sum, err))
}

// Pusher builds the push of target name, its scope resolved.
func (a *App) Pusher(ctx context.Context, name string) (*provision.Pusher, error) {
	if a.Events == nil {
		return nil, fmt.Errorf("%w: the event pipeline is not available on this database", provision.ErrNoTarget)
	}
	t := a.Events.Config().Targets[name]
	if t == nil || t.Push == nil {
		known := a.PushTargets()
		if len(known) == 0 {
			return nil, fmt.Errorf("%w %q: the rules file has no SCIM target with a push section", provision.ErrNoTarget, name)
		}
		return nil, fmt.Errorf("%w %q (push targets: %v)", provision.ErrNoTarget, name, known)
	}
	if err := t.Unavailable(); err != nil {
		return nil, fmt.Errorf("push %s: %w", name, err)
	}
	links, ok := a.Store.(provision.LinkStore)
	if !ok {
		return nil, fmt.Errorf("the database keeps no push links")
	}
	scope, err := a.resolveScope(ctx, t.Push.Spec)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", name, err)
	}
	docs, err := a.Events.Builder().UserDocuments(ctx)
	if err != nil {
		return nil, err
	}
	return &provision.Pusher{
		Name: name, Dir: a.Directory, Docs: docs, Map: t.Push.Mapping, Target: t.Push.Target, Client: t.Push.Client,
		Links: links, Scope: scope, OnLeave: t.Push.Spec.OnLeave, Prune: t.Push.Spec.Prune, Concurrency: t.Push.Spec.Concurrency,
	}, nil
}

// resolveScope turns a push's organizations and groups (ids or names) into
// ids. A name that matches nothing is an error: a typo must not widen or
// empty the scope silently. So is a name that several organizations (or
// groups) have: the error lists the candidates' ids, one of which the
// rules file must then name.
func (a *App) resolveScope(ctx context.Context, ps events.PushSpec) (directory.SyncScope, error) {
	var sc directory.SyncScope
	if len(ps.Organizations) > 0 {
		orgs, err := a.Store.Orgs(ctx)
		if err != nil {
			return sc, err
		}
		byID := map[string]*directory.Organization{}
		for _, o := range orgs {
			byID[o.ID] = o
		}
		for _, want := range ps.Organizations {
			if o := byID[want]; o != nil {
				sc.OrgIDs = append(sc.OrgIDs, o.ID)
				continue
			}
			var named []string
			for _, o := range orgs {
				if o.Name == want {
					named = append(named, o.ID+" ("+orgPathName(byID, o)+")")
				}
			}
			switch len(named) {
			case 0:
				return sc, fmt.Errorf("no organization has the id or name %q", want)
			case 1:
				id, _, _ := strings.Cut(named[0], " ")
				sc.OrgIDs = append(sc.OrgIDs, id)
			default:
				slices.Sort(named)
				return sc, fmt.Errorf("the organization name %q is ambiguous: %d organizations have it: %s; give the id of the one meant",
					want, len(named), strings.Join(named, ", "))
			}
		}
	}
	for _, want := range ps.Groups {
		e, err := filter.Parse("id eq " + strconv.Quote(want) + " or displayName eq " + strconv.Quote(want))
		if err == nil {
			err = filter.Resolve(e, a.Schemas.Group)
		}
		if err != nil {
			return sc, err
		}
		page, err := a.Store.Groups(ctx, directory.Query{Filter: e, Limit: 10})
		if err != nil {
			return sc, err
		}
		var ids []string
		for _, g := range page.Items {
			if g.ID == want {
				ids = []string{g.ID}
				break
			}
			ids = append(ids, g.ID)
		}
		switch {
		case len(ids) == 0:
			return sc, fmt.Errorf("no group has the id or name %q", want)
		case len(ids) > 1:
			slices.Sort(ids)
			more := ""
			if page.Next != nil {
				more = ", …"
			}
			return sc, fmt.Errorf("the group name %q is ambiguous: several groups have it: %s%s; give the id of the one meant",
				want, strings.Join(ids, ", "), more)
		}
		sc.GroupIDs = append(sc.GroupIDs, ids[0])
	}
	return sc, nil
}

// orgPathName is an organization's path of names from the top ("Corp /
// Support"), to tell organizations of the same name apart.
func orgPathName(byID map[string]*directory.Organization, o *directory.Organization) string {
	var names []string
	for n := 0; o != nil && n < 64; n++ {
		if o.ID == directory.RootOrgID {
			break
		}
		names = append(names, o.Name)
		o = byID[o.ParentID]
	}
	slices.Reverse(names)
	return strings.Join(names, " / ")
}
