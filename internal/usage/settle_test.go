package usage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// fastClock runs 7200 times faster than real time: an hour passes in half a
// second, so hourly reported windows end and settle while the test runs.
type fastClock struct{ base, real time.Time }

func (c fastClock) Now() time.Time {
	return c.base.Add(time.Since(c.real) * 7200)
}

// TestEndedWindowStableUnderConcurrentIngestion checks the reported-time
// guarantee with the server assigning reported times: writers ingest
// continuously while a reader reads every hourly window as soon as it is
// readable (its end plus the settle margin has passed). Reading each window
// again at the end must give exactly the same rows; a record that committed
// into a window after it was first read would change them.
func TestEndedWindowStableUnderConcurrentIngestion(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		clock := fastClock{base: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), real: time.Now()}
		// 30 simulated minutes = 250 ms of real time; a transaction may stay
		// open for half of it.
		const settleMargin = 30 * time.Minute
		db := reckontest.OpenStore(t, b)
		svc := usage.NewService(db, clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), usage.Config{SettleMargin: settleMargin})
		t.Cleanup(svc.Close)
		ctx := context.Background()
		if _, _, err := account.NewService(db, clock.Now).Put(ctx, sub1, account.Subscription{DisplayName: "Settle", BillingAccount: "acct"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := catalog.NewService(db, clock.Now).PutMeter(ctx, meterA, catalog.Meter{MeterName: "A", MeterCategory: "Test", Unit: "1 Hour"}); err != nil {
			t.Fatal(err)
		}

		stop := make(chan struct{})
		var wg sync.WaitGroup
		var accepted, busy atomic.Int64
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					now := clock.Now().Truncate(time.Second)
					batch := svc.NewBatch(false) // the server assigns the reported time
					for i := range 20 {
						in := usage.RecordInput{
							ID: fmt.Sprintf("w%d-%d-%d", w, n, i), SubscriptionID: sub1, MeterID: meterA,
							Quantity: json.RawMessage(`"0.5"`), ResourceURI: fmt.Sprintf("/vm/%d", i%4),
							UsageStartTime: now.Add(-2 * time.Hour).Format(time.RFC3339), UsageEndTime: now.Add(-time.Hour).Format(time.RFC3339),
						}
						batch.Add(i, &in, nil)
					}
					res, err := svc.Ingest(ctx, batch)
					if be := billing.AsError(err); be != nil && be.Kind == billing.KindUnavailable {
						busy.Add(1) // a slow commit was abandoned; nothing was written
						continue
					}
					if err != nil || res.Accepted != 20 {
						t.Errorf("ingest: %+v, %v", res, err)
						return
					}
					accepted.Add(20)
				}
			}()
		}

		read := func(end time.Time) ([]string, error) {
			q := usage.Query{SubscriptionID: sub1, ReportedStart: end.Add(-time.Hour), ReportedEnd: end, Granularity: usage.Hourly, ShowDetails: true}
			var rows []string
			for {
				p, err := svc.Aggregate(ctx, q)
				if err != nil {
					return nil, err
				}
				for _, r := range p.Rows {
					rows = append(rows, fmt.Sprintf("%d %d %d %s", r.Key.Bucket, r.Key.MeterKey, r.Key.InstanceKey, r.Quantity))
				}
				if p.Next == nil {
					return rows, nil
				}
				q.After = p.Next
			}
		}

		first := map[time.Time][]string{}
		var order []time.Time
		deadline := time.Now().Add(2500 * time.Millisecond)
		for time.Now().Before(deadline) {
			end := clock.Now().Add(-settleMargin).Truncate(time.Hour)
			if !end.Before(clock.base.Add(time.Hour)) {
				if _, seen := first[end]; !seen {
					rows, err := read(end)
					if err != nil {
						t.Fatalf("read window ending %s at %s: %v", end, clock.Now(), err)
					}
					first[end] = rows
					order = append(order, end)
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		wg.Wait()

		if len(order) < 2 {
			t.Fatalf("only %d windows were read; the test did not run long enough", len(order))
		}
		nonEmpty := 0
		for _, end := range order {
			again, err := read(end)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(again, first[end]) {
				t.Errorf("window ending %s changed after it was read:\nfirst %v\nnow   %v", end, first[end], again)
			}
			if len(again) > 0 {
				nonEmpty++
			}
		}
		if nonEmpty == 0 || accepted.Load() == 0 {
			t.Fatalf("no usage landed in the windows read (accepted %d); the test proves nothing", accepted.Load())
		}
		t.Logf("%d windows read while %d records were ingested (%d commits abandoned as too slow)", len(order), accepted.Load(), busy.Load())
	})
}
