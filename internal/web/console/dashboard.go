package console

import (
	"context"
	"errors"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// The dashboard: accounts, recent changes, delivery health and failing
// targets, push and LDAP sync runs. Every figure comes from the
// operations the CLI and the admin API use (admin.Ops), or Data.Runs.

// dashboardView is the dashboard's data.
type dashboardView struct {
	Users, Groups, Orgs int
	Recent              []*directory.AuditEntry
	// Targets are the delivery targets with their queues; TargetsErr
	// says why they cannot be shown.
	Targets    []targetHealth
	TargetsErr string
	// Dead are the latest dead deliveries.
	Dead []*events.Delivery
	Runs []Run
	// LastPush is each push target's latest run.
	LastPush map[string]provision.RunRecord
}

// targetHealth is a target's queue and whether it is failing.
type targetHealth struct {
	admin.TargetView
	Pending, Running, Delivered, Dead int64
	Failing                           bool
}

// recentChanges is how many audit records the dashboard shows.
const recentChanges = 10

func (c *Console) dashboard(q *Request) error {
	ctx := q.Context()
	var v dashboardView
	var err error
	if v.Users, err = c.count(ctx, c.opt.Ops.Users, ""); err != nil {
		return err
	}
	// Not counted: the inactive accounts (a filter on active scans
	// every account: 70 ms at 100,000). The tile links to them.
	gp, err := c.opt.Ops.Groups(ctx, admin.ListQuery{Limit: 1})
	if err != nil {
		return err
	}
	v.Groups = gp.Total
	orgs, err := c.opt.Ops.Orgs(ctx)
	if err != nil {
		return err
	}
	v.Orgs = len(orgs)
	if v.Recent, _, err = c.opt.Ops.Audit(ctx, admin.AuditFilter{Limit: recentChanges}); err != nil {
		return err
	}
	targets, err := c.opt.Ops.Targets(ctx)
	var de *directory.Error
	switch {
	case errors.As(err, &de) && de.Kind != directory.ErrUnavailable:
		v.TargetsErr = de.Msg
	case err != nil:
		return err
	default:
		for _, t := range targets {
			h := targetHealth{TargetView: t, Pending: t.Queue[events.StatePending], Running: t.Queue[events.StateRunning],
				Delivered: t.Queue[events.StateDelivered], Dead: t.Queue[events.StateDead]}
			h.Failing = t.Disabled != "" || h.Dead > 0
			v.Targets = append(v.Targets, h)
		}
		// Failing targets first.
		slices.SortStableFunc(v.Targets, func(a, b targetHealth) int {
			switch {
			case a.Failing && !b.Failing:
				return -1
			case b.Failing && !a.Failing:
				return 1
			}
			return 0
		})
		if v.Dead, err = c.opt.Ops.Deliveries(ctx, events.DeliveryQuery{State: events.StateDead, Limit: 5}); err != nil {
			return err
		}
	}
	if c.opt.Data.Runs != nil {
		if v.Runs, err = c.opt.Data.Runs(ctx); err != nil {
			return err
		}
		pushes, err := c.pushRuns(ctx, 1)
		if err != nil {
			return err
		}
		v.LastPush = map[string]provision.RunRecord{}
		for name, rs := range pushes {
			v.LastPush[name] = rs[0]
		}
	}
	return q.Render("dashboard.title", v)
}

// count returns how many users match filter.
func (c *Console) count(ctx context.Context, list func(context.Context, admin.ListQuery) (*admin.ListPage[admin.UserSummary], error), filter string) (int, error) {
	p, err := list(ctx, admin.ListQuery{Filter: filter, Limit: 1})
	if err != nil {
		return 0, err
	}
	return p.Total, nil
}
