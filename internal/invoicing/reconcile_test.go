package invoicing_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// expectedCharge computes a meter's charge for a period independently of
// the rating engine: the total quantity less the included quantity, priced
// by graduated tiers, rounded once to the cent, half away from zero.
func expectedCharge(m testMeter, total money.Decimal) money.Decimal {
	billable := total.Sub(dec(m.included))
	if billable.Sign() <= 0 {
		return money.Zero
	}
	amount := money.Zero
	for i, t := range m.tiers {
		lo := dec(t[0])
		if billable.Cmp(lo) <= 0 {
			break
		}
		hi := billable
		if i+1 < len(m.tiers) {
			hi = money.MinDecimal(hi, dec(m.tiers[i+1][0]))
		}
		amount = amount.Add(hi.Sub(lo).Mul(dec(t[1])))
	}
	return amount.RoundHalfAwayFromZero(2)
}

// RECONCILIATION: for random usage of three meters with tiers and included
// quantities over a month — records of random lengths at random minutes,
// some reported after the close's cut-off — each invoice's total equals a
// computation made here from the ingested records and the catalog's
// prices, to the cent.
func TestReconciliation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-02-01T00:00:00Z"), invoicing.Config{
			TaxRates: map[string]invoicing.TaxRate{"DE": {Rate: dec("0.19"), Label: "VAT 19 %"}},
		})
		f.importCatalog("")
		rng := rand.New(rand.NewPCG(4, 2024))
		start, end := date("2024-02-01"), date("2024-03-01")
		closeAt := date("2024-03-04T00:00:00Z")
		cut := closeAt.Add(-settle)
		subs := []string{subID(1), subID(2), subID(3)}
		regions := []string{"DE", "US", "DE"}
		totals := make([]map[string]money.Decimal, len(subs))
		var recs []rec
		for i, sub := range subs {
			f.putSub(sub, "reconcile", 1, regions[i])
			totals[i] = map[string]money.Decimal{}
			for range 300 + 100*i {
				m := testMeters[rng.IntN(len(testMeters))]
				dur := time.Duration(1+rng.IntN(180)) * time.Minute
				at := start.Add(time.Duration(rng.Int64N(int64(end.Sub(start)-dur)/int64(time.Minute))) * time.Minute)
				qty := fmt.Sprintf("%d.%03d", rng.IntN(40), rng.IntN(1000))
				reported := at.Add(dur).Add(time.Duration(rng.Int64N(int64(80 * time.Hour))))
				if at.Day() > 25 && rng.IntN(4) == 0 {
					reported = cut.Add(time.Duration(rng.IntN(3600)) * time.Second) // after the cut-off: not billed now
				}
				recs = append(recs, rec{sub: sub, meter: m.id, start: at, qty: qty, reported: reported, dur: dur})
				if reported.Before(cut) {
					totals[i][m.id] = totals[i][m.id].Add(dec(qty))
				}
			}
		}
		f.clock.Set(cut.Add(2 * time.Hour))
		f.ingest(recs...)
		f.clock.Set(closeAt)
		n, err := f.svc.CloseDue(ctx)
		if err != nil || n != len(subs) {
			t.Fatalf("CloseDue = %d, %v", n, err)
		}
		for i, sub := range subs {
			invs, err := f.svc.Invoices(ctx, sub)
			if err != nil || len(invs) != 1 {
				t.Fatalf("%s: %d invoices, %v", sub, len(invs), err)
			}
			inv, err := f.svc.Invoice(ctx, invs[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			want := money.Zero
			for _, m := range testMeters {
				if q, ok := totals[i][m.id]; ok {
					want = want.Add(expectedCharge(m, q))
				}
			}
			sum := money.Zero
			for _, l := range inv.Lines {
				sum = sum.Add(l.Amount)
				if q := totals[i][l.MeterID]; l.Quantity.Cmp(q) != 0 {
					t.Errorf("%s %s: quantity %s, ingested %s", sub, l.MeterName, l.Quantity, q)
				}
			}
			if inv.SubTotal.Cmp(want) != 0 || sum.Cmp(want) != 0 {
				t.Errorf("%s: subtotal %s (lines %s), computed from the records %s", sub, inv.SubTotal, sum, want)
			}
			wantTotal := want
			if regions[i] == "DE" {
				wantTotal = want.Add(want.Mul(dec("0.19")).RoundHalfAwayFromZero(2))
			}
			if inv.Total.Cmp(wantTotal) != 0 {
				t.Errorf("%s: total %s, computed %s", sub, inv.Total, wantTotal)
			}
			if want.Sign() <= 0 {
				t.Errorf("%s: nothing billed; the data should produce charges", sub)
			}
			t.Logf("%s: %d lines, subtotal %s, total %s", sub, len(inv.Lines), inv.SubTotal, inv.Total)
		}
	})
}
