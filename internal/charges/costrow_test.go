package charges_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

const (
	costSub     = "6f1c3a52-8d7e-4b4a-9a8e-3c1d2b4e5f60"
	tieredMeter = "1d7518e5-bc2f-4a93-9057-1b3047856645"
	flatMeter   = "0e59ad56-03e5-4c3d-90d4-6670874d7e29"
	freeMeter   = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d" // no price
)

const costRateCard = `{"OfferTerms":[
  {"Name":"Monetary Credit","EffectiveDate":"2014-09-01T00:00:00Z","Credit":150,"ExcludedMeterIds":[]},
  {"Name":"Recurring Charge","EffectiveDate":"2014-09-01T00:00:00Z","RecurringCharge":10}],
 "Meters":[
  {"MeterId":"` + tieredMeter + `","MeterName":"Tiered","MeterCategory":"Compute","MeterSubCategory":"D2","Unit":"Hours","MeterTags":[],
   "MeterRegion":"US West","MeterRates":{"0":1.99,"100":0.99},"EffectiveDate":"2017-09-01T00:00:00Z","IncludedQuantity":10},
  {"MeterId":"` + flatMeter + `","MeterName":"Flat","MeterCategory":"Storage","MeterSubCategory":"","Unit":"GB","MeterTags":[],
   "MeterRegion":"","MeterRates":{"0":0.029},"EffectiveDate":"2014-08-01T00:00:00Z","IncludedQuantity":0}],
 "Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`

// TestCostRows: the cost rows of a period, by day, meter and resource,
// allocate each rating line exactly (worked by hand below) and add up,
// with the offer terms, to the estimate's total; unpriced usage is
// returned unpriced.
func TestCostRows(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		ctx := context.Background()
		now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
		srv := reckontest.Start(t, reckontest.Options{Backend: b, Now: func() time.Time { return now }})
		if _, _, err := srv.Accounts.Put(ctx, costSub, account.Subscription{DisplayName: "Costs", BillingAccount: "contoso"}); err != nil {
			t.Fatal(err)
		}
		if _, err := srv.Catalog.Import(ctx, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"},
			strings.NewReader(costRateCard)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.Catalog.PutMeter(ctx, freeMeter, catalog.Meter{MeterName: "Unpriced", MeterCategory: "Other", Unit: "1"}); err != nil {
			t.Fatal(err)
		}
		vm := func(n string) string {
			return "/subscriptions/" + costSub + "/resourceGroups/rg-" + n + "/providers/Microsoft.Compute/virtualMachines/vm-" + n
		}
		batch := srv.Usage.NewBatch(true)
		for i, r := range []struct{ id, meter, q, from, to, uri, tags string }{
			{"a", tieredMeter, "60", "2024-03-02T00:00:00Z", "2024-03-02T06:00:00Z", vm("1"), `{"team":"red"}`},
			{"b", tieredMeter, "90", "2024-03-05T10:00:00Z", "2024-03-05T11:00:00Z", vm("2"), `{"team":"blue"}`},
			{"c", flatMeter, "1000", "2024-03-03T00:00:00Z", "2024-03-04T00:00:00Z", vm("1"), `{"team":"red"}`},
			{"d", freeMeter, "5", "2024-03-03T00:00:00Z", "2024-03-03T01:00:00Z", "", ""},
		} {
			in := usage.RecordInput{ID: r.id, SubscriptionID: costSub, MeterID: r.meter, Quantity: json.RawMessage(r.q),
				UsageStartTime: r.from, UsageEndTime: r.to, ResourceURI: r.uri, ReportedTime: "2024-03-09T00:00:00Z"}
			if r.tags != "" {
				in.Tags = json.RawMessage(r.tags)
			}
			batch.Add(i, &in, nil)
		}
		if res, err := srv.Usage.Ingest(ctx, batch); err != nil || res.Accepted != 4 {
			t.Fatalf("ingest: %v %+v", err, res)
		}
		start, end := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
		rows, err := srv.Charges.CostRows(ctx, costSub, start, end, charges.Daily, now)
		if err != nil {
			t.Fatal(err)
		}
		// Tiered meter, 10 included, tiers 1.99 then 0.99 from 100 billable:
		// 03-02 vm-1: positions 0–60 → 50 billable × 1.99 = 99.50;
		// 03-05 vm-2: positions 60–150 → billable 50–140: 50 × 1.99 + 40 × 0.99 = 139.10;
		// line 238.60. Flat: 1000 × 0.029 = 29.00 on 03-03 vm-1. Unpriced: 5, no cost.
		// Terms: recurring 10; credit −min(150, 267.60) = −150. Total 127.60.
		type want struct{ day, meter, rg, qty, billable, cost string }
		wants := []want{
			{"2024-03-02", tieredMeter, "rg-1", "60", "50", "99.5"},
			{"2024-03-03", flatMeter, "rg-1", "1000", "1000", "29"},
			{"2024-03-03", freeMeter, "", "5", "0", "0"},
			{"2024-03-05", tieredMeter, "rg-2", "90", "90", "139.1"},
		}
		var usageRows []charges.CostRow
		total := money.Zero
		for _, r := range rows {
			total = total.Add(r.Cost)
			if r.MeterID != "" {
				usageRows = append(usageRows, r)
			}
		}
		if len(usageRows) != len(wants) {
			t.Fatalf("%d usage rows: %+v", len(usageRows), usageRows)
		}
		for i, w := range wants {
			r := usageRows[i]
			if r.ChargePeriodStart.Format(time.DateOnly) != w.day || r.MeterID != w.meter || r.ResourceGroup != w.rg ||
				r.Quantity.String() != w.qty || r.BillableQuantity.String() != w.billable || r.Cost.String() != w.cost {
				t.Errorf("row %d = %s %s %s q=%s billable=%s cost=%s, want %+v", i, r.ChargePeriodStart.Format(time.DateOnly), r.MeterID, r.ResourceGroup,
					r.Quantity, r.BillableQuantity, r.Cost, w)
			}
		}
		if r := usageRows[2]; r.Priced {
			t.Errorf("the unpriced meter's row is priced: %+v", r)
		}
		if r := usageRows[0]; r.Tags["team"] != "red" || r.ListUnitPrice.String() != "1.99" || r.UnitPrice.String() != "1.99" ||
			r.ChargePeriodEnd.Sub(r.ChargePeriodStart) != 24*time.Hour || r.BillingPeriodStart != start {
			t.Errorf("row 0 details: %+v", r)
		}
		if r := usageRows[3]; r.UnitPrice.String() != "1.5455555556" { // 139.10 / 90, rounded to 10 digits
			t.Errorf("effective unit price %s", r.UnitPrice)
		}
		est, err := srv.Charges.Estimate(ctx, costSub, start, end, now)
		if err == nil {
			t.Fatal("the estimate should refuse the unpriced meter's usage")
		}
		_ = est
		if total.String() != "127.6" {
			t.Errorf("rows add up to %s, want 127.6 (the terms included)", total)
		}
		// Hourly rows add up to the same.
		hourly, err := srv.Charges.CostRows(ctx, costSub, start, end, charges.Hourly, now)
		if err != nil {
			t.Fatal(err)
		}
		ht := money.Zero
		for _, r := range hourly {
			ht = ht.Add(r.Cost)
		}
		if ht.String() != "127.6" || len(hourly) != 6+1+24+1+2 {
			t.Errorf("hourly: %d rows adding up to %s", len(hourly), ht)
		}
	})
}

// TestCostRowsAddUp: for random usage with prices whose products need
// rounding, the cost rows of each meter add up exactly to the estimate's
// rounded line, and all rows to its total, daily and hourly.
func TestCostRowsAddUp(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)
	srv := reckontest.Start(t, reckontest.Options{Now: func() time.Time { return now }})
	if _, _, err := srv.Accounts.Put(ctx, costSub, account.Subscription{DisplayName: "Costs", BillingAccount: "contoso"}); err != nil {
		t.Fatal(err)
	}
	body := strings.NewReplacer(`"0":1.99,"100":0.99`, `"0":0.0123457,"7.5":0.0098765,"40":0.0012345`, `"0":0.029`, `"0":0.3333333`).Replace(costRateCard)
	if _, err := srv.Catalog.Import(ctx, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"},
		strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	batch := srv.Usage.NewBatch(true)
	seed := uint64(7)
	next := func(n uint64) uint64 { seed = seed*6364136223846793005 + 1442695040888963407; return (seed >> 33) % n }
	for i := range 300 {
		meter := []string{tieredMeter, flatMeter}[i%2]
		from := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(next(24*8)) * time.Hour).Add(time.Duration(next(60)) * time.Minute)
		in := usage.RecordInput{ID: "r" + strings.Repeat("x", i%3) + time.Duration(i).String(), SubscriptionID: costSub, MeterID: meter,
			Quantity:       json.RawMessage(`"` + money.Quantity(int64(next(5_000_000_000))).String() + `"`),
			UsageStartTime: from.Format(time.RFC3339), UsageEndTime: from.Add(time.Duration(1+next(180)) * time.Minute).Format(time.RFC3339),
			ResourceURI: "/subscriptions/" + costSub + "/resourceGroups/rg/providers/x/y/vm" + time.Duration(next(4)).String(), ReportedTime: "2024-03-09T12:00:00Z"}
		batch.Add(i, &in, nil)
	}
	if res, err := srv.Usage.Ingest(ctx, batch); err != nil || res.Accepted != 300 {
		t.Fatalf("ingest: %v %+v", err, res.Rejected)
	}
	start, end := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)
	est, err := srv.Charges.Estimate(ctx, costSub, start, end, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{charges.Daily, charges.Hourly} {
		rows, err := srv.Charges.CostRows(ctx, costSub, start, end, g, now)
		if err != nil {
			t.Fatal(err)
		}
		byMeter, total := map[string]money.Decimal{}, money.Zero
		for _, r := range rows {
			byMeter[r.MeterID] = byMeter[r.MeterID].Add(r.Cost)
			total = total.Add(r.Cost)
		}
		for _, l := range est.Lines {
			if l.MeterID != "" && byMeter[l.MeterID].Cmp(l.Amount) != 0 {
				t.Errorf("%s: meter %s rows add up to %s, the line is %s", g, l.MeterID, byMeter[l.MeterID], l.Amount)
			}
		}
		if total.Cmp(est.Total) != 0 {
			t.Errorf("%s: rows add up to %s, the estimate is %s", g, total, est.Total)
		}
	}
}
