package console

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// The audit log: filtered a page at a time (admin.Ops.Audit, what
// `gatehouse audit list` and GET /admin/v1/audit read), and the chain
// verified against the configured checkpoints (admin.Ops.VerifyAudit,
// what `gatehouse audit verify` and POST /admin/v1/audit/verify run).

// auditPageSize is how many records a page shows.
const auditPageSize = 100

type auditView struct {
	Filter  admin.AuditFilter
	Entries []*directory.AuditEntry
	NextURL string
	// Report is the verification's result (the verify form's answer).
	Report *directory.AuditReport
}

func (c *Console) auditFilter(q *Request) admin.AuditFilter {
	v := q.URL.Query()
	f := admin.AuditFilter{Actor: v.Get("actor"), Resource: v.Get("resource"), Action: v.Get("action"),
		Since: v.Get("since"), Until: v.Get("until"), Limit: auditPageSize}
	if b, err := strconv.ParseInt(v.Get("before"), 10, 64); err == nil && b > 0 {
		f.Before = b
	}
	return f
}

func (c *Console) auditPage(q *Request) error {
	f := c.auditFilter(q)
	v := auditView{Filter: f}
	entries, next, err := c.opt.Ops.Audit(q.Context(), f)
	var de *directory.Error
	if errors.As(err, &de) && de.Kind == directory.ErrInvalid {
		return q.renderError(http.StatusBadRequest, "audit.title", de.Msg, v)
	}
	if err != nil {
		return err
	}
	v.Entries = entries
	if next > 0 {
		u := url.Values{}
		for k, s := range map[string]string{"actor": f.Actor, "resource": f.Resource, "action": f.Action, "since": f.Since, "until": f.Until} {
			if s != "" {
				u.Set(k, s)
			}
		}
		u.Set("before", strconv.FormatInt(next, 10))
		v.NextURL = Prefix + "/audit?" + u.Encode()
	}
	return q.Render("audit.title", v)
}

// auditVerify verifies the chain: a read, but a POST (it reads the whole
// log, which a link should not start).
func (c *Console) auditVerify(q *Request) error {
	rep, err := c.opt.Ops.VerifyAudit(q.Context(), admin.VerifyInput{})
	if err != nil {
		return err
	}
	notice := ""
	if rep.OK {
		notice = q.L.F("audit.verify.ok", rep.Records)
	}
	v := auditView{Filter: admin.AuditFilter{}, Report: rep}
	status := http.StatusOK
	if !rep.OK {
		return q.renderError(status, "audit.title", q.L.F("audit.verify.bad", len(rep.Problems)), v)
	}
	return q.RenderStatus(status, "audit.title", notice, v)
}
