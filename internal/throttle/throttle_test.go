package throttle

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := New(3600, func() time.Time { return now }) // one a second
	for i := range 3600 {
		d := l.Take("a")
		if !d.Allowed || d.Remaining != 3600-i-1 {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := l.Take("a")
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != time.Second {
		t.Fatalf("over budget: %+v", d)
	}
	if d := l.Take("b"); !d.Allowed || d.Remaining != 3599 {
		t.Fatalf("another key shares the budget: %+v", d)
	}
	now = now.Add(2500 * time.Millisecond) // 2.5 requests refilled
	for i := range 2 {
		if d := l.Take("a"); !d.Allowed {
			t.Fatalf("after the refill, request %d refused", i)
		}
	}
	if d := l.Take("a"); d.Allowed || d.RetryAfter != time.Second {
		t.Fatalf("third request after 2.5 s: %+v", d)
	}
	now = now.Add(2 * time.Hour)
	if d := l.Take("a"); !d.Allowed || d.Remaining != 3599 {
		t.Fatalf("after two hours the budget is full again (and no more): %+v", d)
	}
	if l.Len() != 1 { // "b" was full again and pruned
		t.Fatalf("%d buckets kept, want 1", l.Len())
	}
	if d := New(0, nil).Take("x"); !d.Allowed {
		t.Fatal("no budget means no limit")
	}
}

// BenchmarkTake is the cost the limiter adds to a request.
func BenchmarkTake(b *testing.B) {
	l := New(1_000_000_000, time.Now)
	keys := []string{"p1|s1|r", "p2|s1|r", "p1|s2|w"}
	i := 0
	for b.Loop() {
		l.Take(keys[i%3])
		i++
	}
}
