package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/events"
)

// Targets and deliveries: the targets with their queues
// (admin.Ops.Targets), the deliveries filtered by target, rule and state
// (admin.Ops.Deliveries), a delivery's attempt log and event
// (admin.Ops.Delivery), and replay (admin.Ops.Replay, audited as
// deliveries.replay): of one delivery, or of a target's dead letters.

// deliveriesPage is how many deliveries a page lists.
const deliveriesPage = 50

type targetsView struct {
	Targets []admin.TargetView
	Err     string
}

func (c *Console) targetsPage(q *Request) error {
	ts, err := c.opt.Ops.Targets(q.Context())
	if msg, ok := unavailable(err); ok {
		return q.Render("targets.title", targetsView{Err: msg})
	}
	if err != nil {
		return err
	}
	return q.Render("targets.title", targetsView{Targets: ts})
}

// unavailable is the message of an operation refused because this
// database has no event pipeline.
func unavailable(err error) (string, bool) {
	var de *directory.Error
	if errors.As(err, &de) && de.Kind == directory.ErrInvalid {
		return de.Msg, true
	}
	return "", false
}

type deliveriesView struct {
	Query      events.DeliveryQuery
	Dead       bool // the dead letters page
	Deliveries []*events.Delivery
	Targets    []string
	States     []string
	NextURL    string
	FirstURL   string
	Err        string
}

// deliveriesPage lists deliveries; the dead letters page (dead) is the
// same list with the state fixed, and a replay of a target's dead
// letters.
func (c *Console) deliveries(dead bool) func(*Request) error {
	return func(q *Request) error {
		qs := q.URL.Query()
		dq := events.DeliveryQuery{Target: qs.Get("target"), Rule: qs.Get("rule"), State: qs.Get("state"), EventID: qs.Get("event"), Limit: deliveriesPage + 1}
		if dead {
			dq.State = events.StateDead
		}
		v := deliveriesView{Dead: dead, States: []string{events.StatePending, events.StateRunning, events.StateDelivered, events.StateDead}}
		path, title := "/deliveries", "deliveries.title"
		if dead {
			path, title = "/dead", "dead.title"
		}
		switch dq.State {
		case "", events.StatePending, events.StateRunning, events.StateDelivered, events.StateDead:
		default:
			return Errorf(http.StatusBadRequest, "deliveries.err.state")
		}
		if b := qs.Get("before"); b != "" {
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n < 0 {
				return Errorf(http.StatusBadRequest, "deliveries.err.before")
			}
			dq.BeforeSeq = n
		}
		v.Query = dq
		if ts, err := c.opt.Ops.Targets(q.Context()); err == nil {
			for _, t := range ts {
				v.Targets = append(v.Targets, t.Name)
			}
		}
		ds, err := c.opt.Ops.Deliveries(q.Context(), dq)
		if msg, ok := unavailable(err); ok {
			v.Err = msg
			return q.Render(title, v)
		}
		if err != nil {
			return err
		}
		if len(ds) > deliveriesPage {
			// The next page: deliveries of events before those shown. A
			// page does not end inside one event's deliveries (unless the
			// event alone has more than a page).
			before := ds[deliveriesPage-1].EventSeq
			if cut := ds[deliveriesPage].EventSeq; cut == before {
				n := deliveriesPage
				for n > 0 && ds[n-1].EventSeq == cut {
					n--
				}
				if n > 0 {
					ds, before = ds[:n], cut+1
				}
			}
			if len(ds) > deliveriesPage {
				ds = ds[:deliveriesPage]
			}
			next := url.Values{}
			for k, val := range map[string]string{"target": dq.Target, "rule": dq.Rule, "event": dq.EventID} {
				if val != "" {
					next.Set(k, val)
				}
			}
			if !dead && dq.State != "" {
				next.Set("state", dq.State)
			}
			next.Set("before", strconv.FormatInt(before, 10))
			v.NextURL = Prefix + path + "?" + next.Encode()
		}
		if dq.BeforeSeq > 0 {
			v.FirstURL = Prefix + path
		}
		v.Deliveries = ds
		return q.Render(title, v)
	}
}

type deliveryView struct {
	D *admin.DeliveryDetail
}

func (c *Console) deliveryPage(q *Request) error {
	d, err := c.opt.Ops.Delivery(q.Context(), q.PathValue("id"))
	if err != nil {
		return err
	}
	notice := ""
	if q.URL.Query().Get("replayed") != "" {
		notice = q.L.T("deliveries.replayed.one")
	}
	return q.RenderStatus(http.StatusOK, "delivery.title", notice, deliveryView{D: d})
}

// replayOne is POST /deliveries/{id}/replay.
func (c *Console) replayOne(q *Request) error {
	id := q.PathValue("id")
	if _, err := c.opt.Ops.Replay(q.Context(), q.Admin.Actor, admin.ReplayRequest{IDs: []string{id}}); err != nil {
		return err
	}
	q.Redirect("/deliveries/" + url.PathEscape(id) + "?replayed=1")
	return nil
}

// replayDead is POST /dead/replay: a target's dead letters (or every
// target's) made pending again.
func (c *Console) replayDead(q *Request) error {
	target := q.PostFormValue("target")
	n, err := c.opt.Ops.Replay(q.Context(), q.Admin.Actor, admin.ReplayRequest{Target: target, State: events.StateDead})
	if err != nil {
		return err
	}
	v := deliveriesView{Dead: true, Query: events.DeliveryQuery{Target: target, State: events.StateDead}}
	if ts, err := c.opt.Ops.Targets(q.Context()); err == nil {
		for _, t := range ts {
			v.Targets = append(v.Targets, t.Name)
		}
	}
	ds, err := c.opt.Ops.Deliveries(q.Context(), events.DeliveryQuery{Target: target, State: events.StateDead, Limit: deliveriesPage})
	if err != nil {
		return err
	}
	v.Deliveries = ds
	return q.RenderStatus(http.StatusOK, "dead.title", q.L.F("deliveries.replayed", n), v)
}
