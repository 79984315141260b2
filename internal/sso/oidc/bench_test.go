package oidc_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/auth"
	"github.com/gatehouse-id/gatehouse/internal/sso/oidc"
)

// The token endpoint's throughput on SQLite, over HTTP on loopback, one
// request at a time: a code exchange (confidential client, PKCE: one
// argon2-free secret check, one write, an access token and an ID token
// signed with ES256) and a refresh with rotation (one write, the same two
// signatures). docs/benchmarks.md has the figures.

func BenchmarkCodeExchange(b *testing.B) {
	h := newHarness(b)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	verifier, challenge := pkce()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		code := h.directCode(ann.ID, wiki, challenge, "openid email")
		b.StartTimer()
		if tr := h.exchange(wiki, code, verifier); tr.status != http.StatusOK {
			b.Fatalf("exchange: %d %v", tr.status, tr.body)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
}

func BenchmarkRefresh(b *testing.B) {
	h := newHarness(b)
	ann := h.user("ann@example.com")
	wiki := h.client("wiki", wikiSettings, auth.Access{Everyone: true})
	verifier, challenge := pkce()
	tr := h.exchange(wiki, h.directCode(ann.ID, wiki, challenge, "openid email offline_access"), verifier)
	rt := tr.str("refresh_token")
	b.ReportAllocs()
	for b.Loop() {
		r := h.refresh(wiki, rt)
		if r.status != http.StatusOK {
			b.Fatalf("refresh: %d %v", r.status, r.body)
		}
		rt = r.str("refresh_token")
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}

// directCode records a grant and its code as the authorization endpoint
// does after a login, without the browser.
func (h *harness) directCode(userID string, c *rp, challenge, scope string) string {
	now := time.Now().UTC()
	value := newID() + newID()
	g := &oidc.Grant{ID: newID(), ClientID: c.id, UserID: userID, SessionID: "s", Scopes: splitScope(scope), AuthTime: now,
		AMR: []string{"pwd"}, ACR: "urn:gatehouse:acr:1fa", Offline: true, Created: now, Expires: now.Add(time.Hour)}
	code := &oidc.Token{Hash: sha(value), GrantID: g.ID, Kind: oidc.KindCode, RedirectURI: c.redirect, Challenge: challenge,
		Created: now, Expires: now.Add(time.Minute)}
	if err := h.store.CreateGrant(h.ctx, g, code, ""); err != nil {
		panic(err)
	}
	return value
}
