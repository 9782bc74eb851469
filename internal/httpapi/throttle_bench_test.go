package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// BenchmarkThrottleBurst sends bursts of 992 concurrent reads (16 clients × 62) of one
// subscription by one principal whose budget is 100 an hour: exactly 100
// pass and 900 get 429 with Retry-After, however the requests interleave.
// It reports the time per burst and the answers; the baseline is the same
// burst with no budget (every request passes).
func BenchmarkThrottleBurst(b *testing.B) {
	for _, c := range []struct {
		name   string
		budget int
	}{{"budget-100", 100}, {"baseline-no-budget", 0}} {
		b.Run(c.name, func(b *testing.B) {
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			srv := reckontest.Start(b, reckontest.Options{ReadsPerHour: c.budget, Now: clock})
			if _, _, err := srv.Accounts.Put(context.Background(), subA, account.Subscription{DisplayName: "Bench", BillingAccount: "bench"}); err != nil {
				b.Fatal(err)
			}
			path := "/subscriptions/" + subA + "?api-version=2020-01-01"
			var ok, throttled atomic.Int64
			for b.Loop() {
				ok.Store(0)
				throttled.Store(0)
				var wg sync.WaitGroup
				for range 16 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range 1000 / 16 {
							r := httptest.NewRequest(http.MethodGet, path, nil)
							r.Header.Set("Authorization", "Bearer "+srv.AdminToken)
							w := &discardWriter{h: http.Header{}, status: 200}
							srv.API.ServeHTTP(w, r)
							switch w.status {
							case 200:
								ok.Add(1)
							case http.StatusTooManyRequests:
								if w.h.Get("Retry-After") == "" {
									b.Error("429 without Retry-After")
								}
								throttled.Add(1)
							default:
								b.Errorf("status %d", w.status)
							}
						}
					}()
				}
				wg.Wait()
				now = now.Add(2 * time.Hour) // the next burst starts with a full budget
				if c.budget > 0 && ok.Load() != int64(c.budget) {
					b.Fatalf("%d requests passed, want %d", ok.Load(), c.budget)
				}
			}
			b.ReportMetric(float64(ok.Load()), "passed/burst")
			b.ReportMetric(float64(throttled.Load()), "throttled/burst")
		})
	}
}
