package invoicing_test

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/usage"
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// BenchmarkCloseDue closes one month of many subscriptions, each with the
// same number of usage records (three tiered meters with included
// quantities, records spread over every hour of January 2024), through
// CloseDue: listing the due periods, rating, carrying late usage (none),
// numbering, rendering (a fake renderer) and storing. The baseline is
// charges.Estimate alone over the same periods, with the same parallelism
// (Config.CloseWorkers = GOMAXPROCS), the floor of any close.
//
// Run it once (closing is once):
//
//	go test ./internal/invoicing -run '^$' -bench CloseDue -benchtime 1x
//
// RECKON_BENCH_REAL_PDF=1 renders the real PDFs instead of the fake.
//
// Sizes: RECKON_BENCH_SUBSCRIPTIONS (default 100) and
// RECKON_BENCH_RECORDS_PER_SUBSCRIPTION (default 10,000); the store is
// SQLite unless RECKON_BENCH_BACKEND=postgres (with
// RECKON_TEST_POSTGRES_DSN).
func BenchmarkCloseDue(b *testing.B) {
	if b.N > 1 {
		b.Skip("closing is once: run with -benchtime 1x")
	}
	subs := envInt("RECKON_BENCH_SUBSCRIPTIONS", 100)
	perSub := envInt("RECKON_BENCH_RECORDS_PER_SUBSCRIPTION", 10_000)
	be := sqliteBackend
	if os.Getenv("RECKON_BENCH_BACKEND") == "postgres" {
		be = postgresBackend
	}
	jan, feb := date("2024-01-01"), date("2024-02-01")
	f := newFixture(b, be, jan, invoicing.Config{})
	if os.Getenv("RECKON_BENCH_REAL_PDF") == "1" {
		// The real renderer, so that the figure includes the PDFs.
		f.svc = f.serviceWith(invoicepdf.New(invoicepdf.Options{}), invoicing.Config{})
	}
	f.importCatalog("")
	ids := make([]string, subs)
	for i := range subs {
		ids[i] = subID(1000 + i)
		f.putSub(ids[i], fmt.Sprintf("bench-%d", i%10), 1, "US")
	}
	f.clock.Set(date("2024-02-04T00:00:00Z"))
	hours := int(feb.Sub(jan) / time.Hour)
	t0 := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 2 {
		wg.Go(func() {
			for s := range work {
				batch := f.usage.NewBatch(true)
				for i := range perSub {
					h := jan.Add(time.Duration(i%hours) * time.Hour)
					m := testMeters[(i/hours)%len(testMeters)]
					in := usage.RecordInput{
						ID: fmt.Sprintf("b-%d-%d", s, i), SubscriptionID: ids[s], MeterID: m.id,
						Quantity:       json.RawMessage(fmt.Sprintf(`"%d.%03d"`, 1+i%7, (i*37)%1000)),
						UsageStartTime: h.Format(time.RFC3339), UsageEndTime: h.Add(time.Hour).Format(time.RFC3339),
						ResourceURI:  fmt.Sprintf("/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%d", ids[s], i%5),
						ReportedTime: h.Add(time.Hour).Format(time.RFC3339),
					}
					batch.Add(i, &in, nil)
				}
				res, err := f.usage.Ingest(ctx, batch)
				if err != nil || res.Accepted != perSub {
					b.Errorf("ingest: %v, %d accepted", err, res.Accepted)
				}
			}
		})
	}
	for s := range subs {
		work <- s
	}
	close(work)
	wg.Wait()
	if b.Failed() {
		return
	}
	b.Logf("%s: ingested %d subscriptions × %d records in %v", be, subs, perSub, time.Since(t0).Round(time.Millisecond))

	cut := f.clock.Now().Add(-settle)
	t0 = time.Now()
	var bwg sync.WaitGroup
	next := make(chan string)
	for range runtime.GOMAXPROCS(0) { // as CloseDue's workers
		bwg.Go(func() {
			for id := range next {
				if _, err := f.charges.Estimate(ctx, id, jan, feb, cut); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	bwg.Wait()
	baseline := time.Since(t0)

	b.ResetTimer()
	t0 = time.Now()
	n, err := f.svc.CloseDue(ctx)
	elapsed := time.Since(t0)
	b.StopTimer()
	if err != nil || n != subs {
		b.Fatalf("CloseDue = %d, %v", n, err)
	}
	b.ReportMetric(float64(elapsed.Microseconds())/1000/float64(subs), "ms/subscription")
	b.ReportMetric(float64(baseline.Microseconds())/1000/float64(subs), "baseline-ms/subscription")
	b.ReportMetric(elapsed.Seconds(), "s-total")
	b.ReportMetric(baseline.Seconds(), "baseline-s-total")
	b.Logf("%s: closed %d subscriptions (%d records) in %v = %.2f ms each; baseline charges.Estimate %v = %.2f ms each",
		be, subs, subs*perSub, elapsed.Round(time.Millisecond), float64(elapsed.Microseconds())/1000/float64(subs),
		baseline.Round(time.Millisecond), float64(baseline.Microseconds())/1000/float64(subs))
}
