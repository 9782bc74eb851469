package charges_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// BenchmarkEstimate1MRecords rates one subscription-month of 1,000,000
// usage records (100 meters with three tiers, 14 resources each, every
// hour of March 2026) end to end: reading the month's segments, summing
// per meter and hour, loading the price list and rating. The baseline is
// the usage read alone (UsageByHour), the floor any rating of stored usage
// pays; rating's own cost is BenchmarkRate1MRows in package rating.
func BenchmarkEstimate1MRecords(b *testing.B) {
	const meters, resources = 100, 14
	month := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	end := month.AddDate(0, 1, 0)
	now := end.Add(48 * time.Hour)
	srv := reckontest.Start(b, reckontest.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	sub := "0b6c1e7a-2f3d-4c5b-8a9e-1d2c3b4a5f6e"
	if _, _, err := srv.Accounts.Put(ctx, sub, account.Subscription{DisplayName: "bench", BillingAccount: "bench"}); err != nil {
		b.Fatal(err)
	}
	meterID := func(m int) string { return fmt.Sprintf("%08x-0000-4000-8000-%012x", m+1, m+1) }
	var rc strings.Builder
	rc.WriteString(`{"OfferTerms":[],"Meters":[`)
	for m := range meters {
		if m > 0 {
			rc.WriteByte(',')
		}
		fmt.Fprintf(&rc, `{"MeterId":"%s","MeterName":"m%d","MeterCategory":"Compute","MeterSubCategory":"","Unit":"1 Hour","MeterTags":[],"MeterRegion":"US East",`+
			`"MeterRates":{"0":0.0%d,"1000":0.0%d,"5000":0.00%d},"EffectiveDate":"2020-01-01T00:00:00Z","IncludedQuantity":%d}`, meterID(m), m, m+10, m+20, m%3*10, m%7+1)
	}
	rc.WriteString(`],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`)
	if _, err := srv.Catalog.Import(ctx, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"},
		strings.NewReader(rc.String())); err != nil {
		b.Fatal(err)
	}
	hours := int(end.Sub(month) / time.Hour)
	total := meters * resources * hours // 1,041,600
	start := time.Now()
	batch := srv.Usage.NewBatch(true)
	n := 0
	for h := range hours {
		t := month.Add(time.Duration(h) * time.Hour)
		for m := range meters {
			for r := range resources {
				in := usage.RecordInput{
					ID: fmt.Sprintf("r-%d-%d-%d", h, m, r), SubscriptionID: sub, MeterID: meterID(m),
					Quantity:       json.RawMessage(fmt.Sprintf(`"%d.%03d"`, 1+(h+m+r)%5, (h*7+r)%1000)),
					UsageStartTime: t.Format(time.RFC3339), UsageEndTime: t.Add(time.Hour).Format(time.RFC3339),
					ResourceURI:  fmt.Sprintf("/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%d", sub, r),
					ReportedTime: t.Add(time.Hour).Format(time.RFC3339),
				}
				batch.Add(n, &in, nil)
				n++
				if batch.Len() == 50_000 || n == total {
					res, err := srv.Usage.Ingest(ctx, batch)
					if err != nil || res.Accepted != batch.Len() {
						b.Fatalf("ingest: %v %+v", err, res.Rejected[:min(len(res.Rejected), 3)])
					}
					batch = srv.Usage.NewBatch(true)
				}
			}
		}
	}
	b.Logf("ingested %d records in %v", total, time.Since(start).Round(time.Millisecond))

	timed := func(b *testing.B, fn func()) {
		var d []time.Duration
		for b.Loop() {
			t0 := time.Now()
			fn()
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "ms-p50")
	}
	b.Run("estimate", func(b *testing.B) {
		b.ReportAllocs()
		timed(b, func() {
			st, err := srv.Charges.Estimate(ctx, sub, month, end, now)
			if err != nil || len(st.Lines) != meters {
				b.Fatalf("%v, %d lines", err, len(st.Lines))
			}
		})
	})
	b.Run("baseline-usage-read", func(b *testing.B) {
		b.ReportAllocs()
		timed(b, func() {
			rows, err := srv.Usage.UsageByHour(ctx, sub, month, end, now)
			if err != nil || len(rows) != meters*hours {
				b.Fatalf("%v, %d rows", err, len(rows))
			}
		})
	})
}
