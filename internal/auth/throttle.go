package auth

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// throttle slows down failed authentication: each key (a client address,
// an application) may fail limit times per window; past that, further
// failures are answered 429 with the time until the next failure would be
// allowed. Successes are never counted or refused here.
type throttle struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	keys   map[string]*rate.Limiter
}

func newThrottle(limit int, window time.Duration, now func() time.Time) *throttle {
	return &throttle{limit: limit, window: window, now: now, keys: map[string]*rate.Limiter{}}
}

func (t *throttle) limiter(key string) *rate.Limiter {
	l := t.keys[key]
	if l == nil {
		if len(t.keys) > 100000 {
			// A flood of distinct keys: forget the lot rather than grow.
			clear(t.keys)
		}
		l = rate.NewLimiter(rate.Every(t.window/time.Duration(t.limit)), t.limit)
		t.keys[key] = l
	}
	return l
}

// wait returns how long key must wait before failing again (0 if it may).
func (t *throttle) wait(key string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.keys[key]
	if !ok {
		return 0
	}
	return waitFor(l, t.now())
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
