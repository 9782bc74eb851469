package portal_test

import (
	"sort"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// BenchmarkPages measures the main pages over the demo data (SQLite), as
// a signed-in account admin sees them: each answer is a full request
// through the session, grants and rendering. It reports the median
// (p50-ms) besides the mean. "overview-cold" rates the open billing period
// again on every request (its cached rows live a minute).
//
//	go test ./internal/portal -run '^$' -bench Pages -benchtime 50x
func BenchmarkPages(b *testing.B) {
	e := start(b, reckontest.SQLite, true)
	br := newBrowser(b, e.srv)
	br.signIn(userAdmin, password)
	base := "/portal/subscriptions/" + demo.SubContosoProd
	invs, err := e.srv.Invoicing.Invoices(b.Context(), demo.SubContosoProd)
	if err != nil || len(invs) == 0 {
		b.Fatalf("invoices: %v %v", invs, err)
	}
	for _, c := range []struct {
		name, path string
		cold       bool // the open period's cached rows expire before each request
	}{
		{"overview", base + "/overview", false},
		{"overview-cold", base + "/overview", true},
		{"overview-90d", base + "/overview?days=90", false},
		{"usage", base + "/usage", false},
		{"usage-60d-by-resource", base + "/usage?from=2026-09-21&to=2026-11-20&groupBy=resource", false},
		{"invoices", base + "/invoices", false},
		{"invoice", base + "/invoices/" + invs[0].Name, false},
		{"ratecard", base + "/ratecard", false},
	} {
		b.Run(c.name, func(b *testing.B) {
			br.page(c.path) // warm
			var ds []time.Duration
			b.ResetTimer()
			for b.Loop() {
				if c.cold {
					e.clock.Advance(time.Minute)
				}
				began := time.Now()
				br.page(c.path)
				ds = append(ds, time.Since(began))
			}
			b.StopTimer()
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50-ms")
		})
	}
}
