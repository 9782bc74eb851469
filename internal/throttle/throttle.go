// Package throttle keeps ARM-style request budgets: each caller (a
// principal on a subscription, for reads or for writes) may make a budget
// of requests per hour, refilled continuously, and is told how many remain.
package throttle

import (
	"math"
	"sync"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Limiter holds one token bucket per key. It is safe for concurrent use.
type Limiter struct {
	perHour float64
	clock   billing.Clock

	mu      sync.Mutex
	buckets map[string]*bucket
	pruned  time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a limiter granting perHour requests an hour per key, all of
// which may be spent at once. perHour <= 0 means no limit.
func New(perHour int, clock billing.Clock) *Limiter {
	return &Limiter{perHour: float64(perHour), clock: clock, buckets: map[string]*bucket{}}
}

// Decision is the outcome of one request.
type Decision struct {
	Allowed bool
	// Remaining is how many more requests the key may make now.
	Remaining int
	// RetryAfter is how long to wait before the next request is allowed
	// (when not Allowed).
	RetryAfter time.Duration
}

// Take spends one request of key's budget if there is one.
func (l *Limiter) Take(key string) Decision {
	if l == nil || l.perHour <= 0 {
		return Decision{Allowed: true, Remaining: math.MaxInt32}
	}
	now := l.clock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	b := l.buckets[key]
	if b == nil {
		b = &bucket{tokens: l.perHour, at: now}
		l.buckets[key] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) / l.perHour * float64(time.Hour))
		return Decision{Allowed: false, Remaining: 0, RetryAfter: max(wait, time.Second)}
	}
	b.tokens--
	return Decision{Allowed: true, Remaining: int(b.tokens)}
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.perHour, b.tokens+el.Hours()*l.perHour)
	}
	b.at = now
}

// prune forgets, at most once a minute, the buckets that are full again:
// they are what a new bucket would be.
func (l *Limiter) prune(now time.Time) {
	if now.Sub(l.pruned) < time.Minute {
		return
	}
	l.pruned = now
	for k, b := range l.buckets {
		l.refill(b, now)
		if b.tokens >= l.perHour {
			delete(l.buckets, k)
		}
	}
}

// Len is the number of keys with a partly spent budget.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
