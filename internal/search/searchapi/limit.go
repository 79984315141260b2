package searchapi

import (
	"math"
	"sync"
	"time"
)

// Limits are how many searches a minute each asker may run: a person
// with her session, and an application's token (whichever person it
// acts for). 0 is no limit.
type Limits struct {
	Person int
	App    int
}

// Limiter is a token bucket per asker: a bucket holds a minute's worth
// of searches and refills continuously, so a burst of a minute's searches
// is allowed and then one every 60/n seconds. It is in memory, per
// process: with several replicas each counts its own.
type Limiter struct {
	limits Limits
	now    func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// sweepAt is the number of buckets above which full ones are forgotten
// (at most once a minute): the map holds at most the askers of the last
// minute or so.
const sweepAt = 1024

// NewLimiter returns a limiter of limits; now is the clock (time.Now
// when nil).
func NewLimiter(limits Limits, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{limits: limits, now: now, buckets: map[string]*bucket{}}
}

// Allow takes one search from who's bucket, or reports how long to wait
// for one.
func (l *Limiter) Allow(who Who) (bool, time.Duration) {
	key, per := "user:"+who.UserID, l.limits.Person
	if who.AppID != "" {
		key, per = "app:"+who.AppID, l.limits.App
	}
	if per <= 0 {
		return true, 0
	}
	capacity, rate := float64(per), float64(per)/60 // tokens, tokens a second
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) >= sweepAt && now.Sub(l.swept) >= time.Minute {
		l.sweep(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: capacity, at: now}
		l.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(capacity, b.tokens+d.Seconds()*rate)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / rate * float64(time.Second))
	return false, max(wait, time.Second)
}

// sweep forgets the buckets that have refilled (a full bucket and no
// bucket are the same).
func (l *Limiter) sweep(now time.Time) {
	l.swept = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= time.Minute {
			delete(l.buckets, k)
		}
	}
}
