package invoicing_test

import (
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicing"
)

// Usage of March reported after March's close appears on the next invoice
// as "Late usage" lines naming 202404-1 (carry), or nowhere (discard).
func TestLateUsage(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{invoicing.LateUsageCarry, invoicing.LateUsageDiscard} {
		t.Run(policy, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, func(t *testing.T, b backend) {
				f := newFixture(t, b, date("2024-02-20T00:00:00Z"), invoicing.Config{LateUsage: policy})
				f.importCatalog("")
				sub := subID(1)
				f.putSub(sub, "contoso", 1, "US")
				f.clock.Set(date("2024-04-04T00:00:00Z"))
				// March: 95 storage units (5 included, 90 × 0.0208 = 1.872 → 1.87).
				march := date("2024-03-20T00:00:00Z")
				f.ingest(rec{sub: sub, meter: meterStorage, start: march, qty: "95", reported: march.Add(time.Hour)},
					// Reported after March ended but before its close: on March's invoice.
					rec{sub: sub, meter: meterVM, start: march, qty: "1", reported: date("2024-04-03T23:00:00Z")})
				mar, err := f.svc.Close(ctx, sub, "202404-1", false)
				if err != nil {
					t.Fatal(err)
				}
				eqDec(t, "March", mar.Total, "1.97") // 1.87 + 0.096 → 0.10

				// Late: 30 more storage units of March, reported after its close;
				// April: 5 VM hours.
				f.clock.Set(date("2024-05-04T00:00:00Z"))
				april := date("2024-04-10T00:00:00Z")
				f.ingest(rec{sub: sub, meter: meterStorage, start: march.Add(5 * time.Hour), qty: "30", reported: date("2024-04-10T00:00:00Z")},
					rec{sub: sub, meter: meterVM, start: april, qty: "5", reported: april.Add(time.Hour)})
				apr, err := f.svc.Close(ctx, sub, "202405-1", false)
				if err != nil {
					t.Fatal(err)
				}
				var late []invoicing.Line
				for _, l := range apr.Lines {
					if l.Kind == invoicing.LineLateUsage {
						late = append(late, l)
					}
				}
				if policy == invoicing.LateUsageDiscard {
					if len(late) != 0 || len(apr.Lines) != 1 {
						t.Errorf("discard: lines %+v", apr.Lines)
					}
					eqDec(t, "April", apr.Total, "0.48")
				} else {
					if len(late) != 1 || len(apr.Lines) != 2 {
						t.Fatalf("carry: lines %+v", apr.Lines)
					}
					l := late[0]
					// March billed 90 billable units (1.87); with the late 30 it rates
					// 120 billable: 100 × 0.0208 + 20 × 0.02 = 2.48. The late line is
					// the difference: 0.61, in tiers 10 × 0.0208 and 20 × 0.02.
					if l.OriginalPeriod != "202404-1" || l.MeterName != "Hot LRS Data Stored" || l.MeterID != meterStorage {
						t.Errorf("late line %+v", l)
					}
					eqDec(t, "late quantity", l.Quantity, "30")
					eqDec(t, "late included", l.IncludedQuantity, "0")
					eqDec(t, "late amount", l.Amount, "0.61")
					if len(l.Tiers) != 2 {
						t.Fatalf("late tiers %+v", l.Tiers)
					}
					eqDec(t, "tier 0 from", l.Tiers[0].From, "90")
					eqDec(t, "tier 0 to", l.Tiers[0].To, "100")
					eqDec(t, "tier 0 quantity", l.Tiers[0].Quantity, "10")
					eqDec(t, "tier 100 quantity", l.Tiers[1].Quantity, "20")
					eqDec(t, "tier 100 amount", l.Tiers[1].Amount, "0.4")
					eqDec(t, "April", apr.Total, "1.09") // 0.48 + 0.61
				}

				// More late usage of March, reported after April's close: May's
				// invoice carries it (the window starts at April's close).
				f.clock.Set(date("2024-06-04T00:00:00Z"))
				f.ingest(rec{sub: sub, meter: meterVM, start: march.Add(10 * time.Hour), qty: "1", reported: date("2024-05-10T00:00:00Z")})
				may, err := f.svc.Close(ctx, sub, "202406-1", false)
				if err != nil {
					t.Fatal(err)
				}
				if policy == invoicing.LateUsageDiscard {
					if len(may.Lines) != 0 {
						t.Errorf("discard: May lines %+v", may.Lines)
					}
				} else {
					if len(may.Lines) != 1 || may.Lines[0].Kind != invoicing.LineLateUsage || may.Lines[0].OriginalPeriod != "202404-1" || may.Lines[0].MeterID != meterVM {
						t.Fatalf("May lines %+v", may.Lines)
					}
					// March's VM usage went from 1 to 2 hours: 0.10 → 0.19.
					eqDec(t, "May late amount", may.Lines[0].Amount, "0.09")
					// Everything March used is billed, across three invoices, as one rating would.
					st, err := f.charges.Estimate(ctx, sub, date("2024-03-01"), date("2024-04-01"), f.clock.Now())
					if err != nil {
						t.Fatal(err)
					}
					billed := mar.Total.Add(apr.Lines[1].Amount).Add(may.Lines[0].Amount)
					if apr.Lines[1].Kind != invoicing.LineLateUsage {
						billed = mar.Total.Add(apr.Lines[0].Amount).Add(may.Lines[0].Amount)
					}
					if billed.Cmp(st.Total) != 0 {
						t.Errorf("March billed %s over three invoices, its rating is %s", billed, st.Total)
					}
				}
			})
		})
	}
}

// Offer terms appear on the invoice as their own lines; late usage that
// consumes more of a credit carries the credit's change too.
func TestOfferTermsAndLateUsage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-02-20T00:00:00Z"), invoicing.Config{})
		f.importCatalog(`[{"Name":"Recurring Charge","EffectiveDate":"2020-01-01T00:00:00Z","RecurringCharge":10},` +
			`{"Name":"Monetary Credit","EffectiveDate":"2020-01-01T00:00:00Z","Credit":3,"ExcludedMeterIds":[]}]`)
		sub := subID(1)
		f.putSub(sub, "contoso", 1, "US")
		f.clock.Set(date("2024-04-04T00:00:00Z"))
		march := date("2024-03-05T00:00:00Z")
		var recs []rec
		for h := range 20 {
			recs = append(recs, rec{sub: sub, meter: meterVM, start: march.Add(time.Duration(h) * time.Hour), qty: "1", reported: march.Add(time.Duration(h+1) * time.Hour)})
		}
		f.ingest(recs...)
		mar, err := f.svc.Close(ctx, sub, "202404-1", false)
		if err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{}
		for _, l := range mar.Lines {
			kinds[l.Kind] = l.Amount.String()
			if l.Kind != "Usage" && l.Description != l.Kind {
				t.Errorf("term line without its description: %+v", l)
			}
		}
		// 20 × 0.096 = 1.92, fully credited; the recurring charge stays.
		if kinds["Usage"] != "1.92" || kinds["Recurring Charge"] != "10" || kinds["Monetary Credit"] != "-1.92" {
			t.Errorf("March lines %v", kinds)
		}
		eqDec(t, "March", mar.Total, "10")

		// 30 late VM hours of March: usage +2.88, the credit grows by 1.08 to its cap of 3.
		f.clock.Set(date("2024-05-04T00:00:00Z"))
		recs = nil
		for h := range 30 {
			recs = append(recs, rec{sub: sub, meter: meterVM, start: march.Add(time.Duration(100+h) * time.Hour), qty: "1", reported: date("2024-04-20T00:00:00Z")})
		}
		f.ingest(recs...)
		apr, err := f.svc.Close(ctx, sub, "202405-1", false)
		if err != nil {
			t.Fatal(err)
		}
		late := map[string]string{}
		for _, l := range apr.Lines {
			if l.Kind == invoicing.LineLateUsage {
				if l.OriginalPeriod != "202404-1" {
					t.Errorf("late line %+v", l)
				}
				late[l.Description] = l.Amount.String()
			}
		}
		if len(late) != 2 || late[""] != "2.88" || late["Monetary Credit"] != "-1.08" {
			t.Errorf("late lines %v", late)
		}
		eqDec(t, "April", apr.Total, "11.8") // 10 recurring + 2.88 − 1.08
	})
}
