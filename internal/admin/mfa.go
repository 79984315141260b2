package admin

import (
	"context"
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/directory"
)

// Second factors (docs/sso.md, "Second factors"): an administrator sees a
// person's factors in her login state (GET /users/{user}/login) and can
// reset them — for a lost phone or key — which also ends her sessions.

// FactorsReset is the answer of a reset of a person's second factors.
type FactorsReset struct {
	UserID   string `json:"userId"`
	UserName string `json:"userName"`
	// Removed counts the factors removed (her recovery codes went too);
	// SessionsEnded the sessions that ended.
	Removed       int `json:"removed"`
	SessionsEnded int `json:"sessionsEnded"`
}

// ResetFactors removes every second factor and recovery code of a person
// and ends her sessions.
func (o *Ops) ResetFactors(ctx context.Context, actor directory.Actor, ref string) (*FactorsReset, error) {
	svc, u, err := o.loginUser(ctx, ref)
	if err != nil {
		return nil, err
	}
	removed, ended, err := svc.ResetFactors(ctx, actor, u.ID)
	if err != nil {
		return nil, err
	}
	return &FactorsReset{UserID: u.ID, UserName: u.UserName, Removed: removed, SessionsEnded: ended}, nil
}

func (a *API) factorRoutes() {
	a.handle("DELETE /users/{user}/factors", func(r *http.Request, actor directory.Actor) (int, any, error) {
		x, err := a.ops.ResetFactors(r.Context(), actor, r.PathValue("user"))
		return http.StatusOK, x, err
	})
}
