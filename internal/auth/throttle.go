package auth

import (
	"container/list"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxThrottleKeys bounds the keys the throttle remembers. Past it, the key
// whose last failure is the oldest is forgotten first: it is the one that
// has regained the most of its allowance, so forgetting it costs the least.
const maxThrottleKeys = 100000

// throttle slows down failed authentication: each key (a client network, an
// application) may fail limit times per window; past that, further
// failures are answered 429 with the time until the next failure would be
// allowed. Successes are never counted or refused here.
type throttle struct {
	mu      sync.Mutex
	limit   int
	window  time.Duration
	now     func() time.Time
	maxKeys int
	keys    map[string]*list.Element // of *throttleEntry
	order   *list.List               // most recent failure first
}

type throttleEntry struct {
	key string
	l   *rate.Limiter
}

func newThrottle(limit int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{limit: limit, window: window, now: now, maxKeys: maxThrottleKeys,
		keys: map[string]*list.Element{}, order: list.New()}
}

// addrKey is the throttle key of a client address: IPv4 addresses count
// one by one, IPv6 addresses by their /64 (the network a single host is
// given, inside which it may pick a new address for every request), and an
// IPv4-mapped IPv6 address as the IPv4 address it carries. Anything that
// is not an IP address (a Unix socket's "@") is its own key.
func addrKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return "addr:" + client
	}
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return "addr:" + a.String()
	}
	p, _ := a.Prefix(64)
	return "addr:" + p.String()
}

// limiter returns key's limiter, making it the most recently failed key
// (creating it, and forgetting the oldest key past maxKeys).
func (t *throttle) limiter(key string) *rate.Limiter {
	if el, ok := t.keys[key]; ok {
		t.order.MoveToFront(el)
		return el.Value.(*throttleEntry).l
	}
	for len(t.keys) >= t.maxKeys {
		oldest := t.order.Back()
		t.order.Remove(oldest)
		delete(t.keys, oldest.Value.(*throttleEntry).key)
	}
	e := &throttleEntry{key: key, l: rate.NewLimiter(rate.Every(t.window/time.Duration(t.limit)), t.limit)}
	t.keys[key] = t.order.PushFront(e)
	return e.l
}

// wait returns how long key must wait before failing again (0 if it may).
// A key told to wait counts as failing now: it stays among the most
// recent keys, so that a flood of other keys does not make it forgotten
// while it keeps trying.
func (t *throttle) wait(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.keys[key]
	if !ok {
		return 0
	}
	d := waitFor(el.Value.(*throttleEntry).l, t.now())
	if d > 0 {
		t.order.MoveToFront(el)
	}
	return d
}

func waitFor(l *rate.Limiter, now time.Time) time.Duration {
	tokens := l.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	return time.Duration((1 - tokens) / float64(l.Limit()) * float64(time.Second))
}

// fail records a failure of key and returns how long it must now wait (0
// if it was still within its allowance).
func (t *throttle) fail(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.limiter(key)
	now := t.now()
	if l.AllowN(now, 1) {
		return 0
	}
	return max(waitFor(l, now), time.Second)
}

// Throttle is the failure throttle for other authentication paths (the
// login page): limit failures per key in window, as for credentials.
type Throttle struct{ t *throttle }

// NewThrottle returns a throttle allowing limit failures per key in window.
func NewThrottle(limit int, window time.Duration, now func() time.Time) *Throttle {
	return &Throttle{t: newThrottle(limit, window, now)}
}

// Wait returns how long key must wait before failing again (0 if it may).
func (t *Throttle) Wait(key string) time.Duration { return t.t.wait(key) }

// Fail records a failure of key and returns how long it must now wait (0
// if it was still within its allowance).
func (t *Throttle) Fail(key string) time.Duration { return t.t.fail(key) }

// AddrKey is the throttle key of a client address: an IPv4 address, or
// an IPv6 address's /64.
func AddrKey(client string) string { return addrKey(client) }

// NetworkKey is the network a client address belongs to, for limits that
// apply to a whole network rather than one host: an IPv4 address's /24,
// an IPv6 address's /64 (an IPv4-mapped IPv6 address as its IPv4
// address). Anything else is its own key.
func NetworkKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil {
		return "net:" + client
	}
	a = a.Unmap().WithZone("")
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return "net:" + p.String()
}

// Authorization returns a request's Authorization header. Sent more than
// once it is ambiguous — a proxy may have checked one, we would read
// another — so it is then a value that authenticates nobody: the request
// is refused as an invalid credential.
func Authorization(r *http.Request) string {
	if v := r.Header.Values("Authorization"); len(v) > 1 {
		return "Duplicate Authorization headers"
	}
	return r.Header.Get("Authorization")
}
