package app

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/config"
)

// proxies are the trusted reverse proxies. A request from one of them
// comes from the address it appended last to X-Forwarded-For, walking back
// over further trusted proxies; from anyone else, X-Forwarded-For is
// ignored (a client can write anything there).
type proxies struct{ nets []netip.Prefix }

func newProxies(list []string) (*proxies, error) {
	p := &proxies{}
	for _, s := range list {
		n, err := config.ParseCIDR(s)
		if err != nil {
			return nil, err
		}
		p.nets = append(p.nets, n)
	}
	return p, nil
}

func (p *proxies) trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// client returns the request's client address.
func (p *proxies) client(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !p.trusted(peer) {
		return netip.Addr{}, false
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		if !p.trusted(a) || i == 0 {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// wrap rewrites RemoteAddr of requests from trusted proxies to the client's
// address, so that throttling and logs see the client.
func (p *proxies) wrap(next http.Handler) http.Handler {
	if len(p.nets) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a, ok := p.client(r); ok {
			r2 := *r
			r2.RemoteAddr = netip.AddrPortFrom(a, 0).String()
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}
