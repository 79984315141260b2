package console

import (
	"context"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/events"
	"github.com/gatehouse-id/gatehouse/internal/provision"
)

// Provisioning: the push targets and LDAP directories with what the
// database keeps of their runs (Data.Runs), each push target's latest
// runs (their push.run audit records, read through admin.Ops), its failed
// deliveries (its implicit rule push:TARGET, dead), and a push target's
// plan — `gatehouse push TARGET --dry-run` (Data.PushPlan): what a push
// would create, update or deactivate, changing nothing.

// planRows bounds the accounts a plan lists (the summary counts them all).
const planRows = 500

// pushErrors is how many failed deliveries a push target shows.
const pushErrors = 20

// pushHistory is how many runs a push target shows; pushRecords bounds
// the push.run records read to find them.
const (
	pushHistory = 5
	pushRecords = 200
)

type provisioningView struct {
	Runs []provisionRun
	Err  string
	// Plan is the dry run asked for, with the accounts it would change.
	Plan      *provision.Summary
	PlanItems []provision.Item
	PlanMore  int
}

type provisionRun struct {
	Run
	Failed []*events.Delivery
	// Pushes are the target's latest push runs, newest first.
	Pushes []provision.RunRecord
}

// pushRuns returns each push target's latest runs (at most per target),
// newest first, from the push.run records of the audit log.
func (c *Console) pushRuns(ctx context.Context, per int) (map[string][]provision.RunRecord, error) {
	entries, _, err := c.opt.Ops.Audit(ctx, admin.AuditFilter{Action: provision.RunAction, Limit: pushRecords})
	if err != nil {
		return nil, err
	}
	out := map[string][]provision.RunRecord{}
	for _, e := range entries {
		r, ok := provision.ReadRunRecord(e)
		if ok && len(out[e.ResourceID]) < per {
			out[e.ResourceID] = append(out[e.ResourceID], r)
		}
	}
	return out, nil
}

func (c *Console) provisioningPage(q *Request) error {
	v, err := c.provisioning(q)
	if err != nil {
		return err
	}
	return q.Render("prov.title", v)
}

func (c *Console) provisioning(q *Request) (*provisioningView, error) {
	v := &provisioningView{}
	if c.opt.Data.Runs == nil {
		v.Err = q.L.T("prov.none")
		return v, nil
	}
	runs, err := c.opt.Data.Runs(q.Context())
	if err != nil {
		return nil, err
	}
	pushes, err := c.pushRuns(q.Context(), pushHistory)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		pr := provisionRun{Run: r}
		if r.Kind == "push" {
			pr.Pushes = pushes[r.Name]
			ds, err := c.opt.Ops.Deliveries(q.Context(), events.DeliveryQuery{Rule: "push:" + r.Name, State: events.StateDead, Limit: pushErrors})
			if err == nil {
				pr.Failed = ds
			}
		}
		v.Runs = append(v.Runs, pr)
	}
	return v, nil
}

// pushPlan is POST /provisioning/{target}/plan: the dry run. A POST (with
// the CSRF token) although it changes nothing: it reads the target, which
// a link followed by accident should not make it do.
func (c *Console) pushPlan(q *Request) error {
	target := q.PathValue("target")
	if c.opt.Data.PushPlan == nil {
		return Errorf(http.StatusServiceUnavailable, "prov.none")
	}
	v, err := c.provisioning(q)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(v.Runs, func(r provisionRun) bool { return r.Kind == "push" && r.Name == target }) {
		return Errorf(http.StatusNotFound, "prov.err.target", target)
	}
	sum, items, err := c.opt.Data.PushPlan(q.Context(), target)
	if err != nil {
		return &Error{Status: http.StatusBadGateway, Key: "prov.err.plan", Args: []any{target, err.Error()}}
	}
	v.Plan = sum
	for _, it := range items {
		if it.Action == "unchanged" {
			continue
		}
		if len(v.PlanItems) == planRows {
			v.PlanMore++
			continue
		}
		v.PlanItems = append(v.PlanItems, it)
	}
	return q.Render("prov.title", v)
}
