package invoicing_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/export"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Cost rows add up to the invoices, late usage included: usage of March
// reported after March's close is billed on April's invoice, and so
// appears in April's rows as "Late usage" rows naming March (with the
// offer credit's change), dated on their March days, billed in April's
// period under April's invoice. Before April closes, the same rows are in
// April's rows without an invoice.
func TestCostRowsCarryLateUsage(t *testing.T) {
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
		marRows := f.costRows(sub, "2024-03-01", "2024-04-01")
		f.reconcile(marRows, mar)
		for _, r := range marRows {
			if r.OriginalPeriod != "" || r.Kind == invoicing.LineLateUsage {
				t.Errorf("March row %+v is late usage", r)
			}
		}

		// Late March usage (VM and storage, from March 10), and April's own:
		// usage +2.88 (VM) and storage, and so the credit grows to its cap.
		f.clock.Set(date("2024-04-25T00:00:00Z"))
		lateDay := date("2024-03-10T00:00:00Z")
		recs = nil
		for h := range 30 {
			recs = append(recs, rec{sub: sub, meter: meterVM, start: lateDay.Add(time.Duration(h) * time.Hour), qty: "1", reported: date("2024-04-20T00:00:00Z")})
		}
		recs = append(recs, rec{sub: sub, meter: meterStorage, start: lateDay, qty: "40", reported: date("2024-04-20T00:00:00Z")},
			rec{sub: sub, meter: meterVM, start: date("2024-04-10T00:00:00Z"), qty: "5", reported: date("2024-04-10T02:00:00Z")})
		f.ingest(recs...)

		// April is open: its rows carry the late usage, without an invoice.
		open := f.costRows(sub, "2024-04-01", "2024-05-01")
		lateSum, n := money.Zero, 0
		for _, r := range open {
			if r.OriginalPeriod == "" {
				continue
			}
			n++
			lateSum = lateSum.Add(r.Cost)
			if r.OriginalPeriod != "202404-1" || r.InvoiceName != "" || r.BillingPeriodName != "202405-1" ||
				!r.BillingPeriodStart.Equal(date("2024-04-01")) || r.ChargePeriodStart.Month() != time.March {
				t.Errorf("open late row %+v", r)
			}
		}
		if n == 0 {
			t.Fatal("April's rows have no late usage of March")
		}
		// March's rows are unchanged: the late usage is billed in April.
		if got := f.costRows(sub, "2024-03-01", "2024-04-01"); sumCost(got).Cmp(sumCost(marRows)) != 0 || len(got) != len(marRows) {
			t.Errorf("March rows changed: %d rows %s, were %d rows %s", len(got), sumCost(got), len(marRows), sumCost(marRows))
		}

		f.clock.Set(date("2024-05-04T00:00:00Z"))
		apr, err := f.svc.Close(ctx, sub, "202405-1", false)
		if err != nil {
			t.Fatal(err)
		}
		aprRows := f.costRows(sub, "2024-04-01", "2024-05-01")
		f.reconcile(aprRows, apr)
		billedLate := money.Zero
		for _, l := range apr.Lines {
			if l.Kind == invoicing.LineLateUsage {
				billedLate = billedLate.Add(l.Amount)
			}
		}
		rowsLate := money.Zero
		kinds := map[string]bool{}
		for _, r := range aprRows {
			if r.OriginalPeriod != "" {
				rowsLate = rowsLate.Add(r.Cost)
				kinds[r.Kind] = true
				if r.InvoiceName != apr.Name || r.BillingPeriodName != "202405-1" || r.ChargePeriodStart.Month() != time.March {
					t.Errorf("late row %+v", r)
				}
			}
		}
		if rowsLate.Cmp(billedLate) != 0 || rowsLate.Cmp(lateSum) != 0 {
			t.Errorf("late rows %s, late lines %s, before the close %s", rowsLate, billedLate, lateSum)
		}
		if !kinds[invoicing.LineLateUsage] || !kinds["Monetary Credit"] {
			t.Errorf("late row kinds %v: want usage and the credit's change", kinds)
		}

		// In a FOCUS export of April, the late rows are Corrections of
		// March billed in April, and the export totals April's invoice.
		focusCheck(t, aprRows, apr, billedLate)

		// Hourly rows reconcile too.
		f.reconcile(f.costRowsHourly(sub, "2024-04-01", "2024-05-01"), apr)

		// Under discard, nothing late is billed, and no late rows appear.
		disc := f.service(invoicing.Config{LateUsage: invoicing.LateUsageDiscard})
		rows, err := disc.CostRows(ctx, sub, date("2024-04-01"), date("2024-05-01"), charges.Daily)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.OriginalPeriod != "" {
				t.Errorf("discard: late row %+v", r)
			}
		}
	})
}

// focusCheck exports rows to FOCUS CSV, reads the folder back, and checks
// that its total is the invoice's subtotal and that the Correction rows
// (late usage of March, with their original charge dates) add up to late.
func focusCheck(t *testing.T, rows []charges.CostRow, inv *invoicing.Invoice, late money.Decimal) {
	t.Helper()
	dir := t.TempDir()
	w, err := export.NewFOCUSWriter(export.Options{Dir: dir, Format: export.FormatCSV}, export.FOCUSOptions{ProviderName: "Test"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if err := w.Write(&rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var got [][]*string
	m, err := export.ReadFolder(dir, func(row []*string) error {
		got = append(got, slices.Clone(row))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, c := range m.Columns {
		col[c.Name] = i
	}
	total, corrections := money.Zero, money.Zero
	n := len(got)
	for _, row := range got {
		cost, err := money.ParseDecimal(text(row[col["BilledCost"]]))
		if err != nil {
			t.Fatal(err)
		}
		total = total.Add(cost)
		if text(row[col["ChargeClass"]]) == export.ChargeClassCorrection {
			corrections = corrections.Add(cost)
			if start, invoice, period := text(row[col["ChargePeriodStart"]]), text(row[col["InvoiceId"]]), text(row[col["BillingPeriodStart"]]); !strings.HasPrefix(start, "2024-03-") || invoice != inv.Name ||
				period != "2024-04-01T00:00:00Z" {
				t.Errorf("correction row: charge %s, invoice %s, billing period %s", start, invoice, period)
			}
		}
	}
	if n != len(rows) || total.Cmp(inv.SubTotal) != 0 || corrections.Cmp(late) != 0 || len(m.Totals) != 1 || m.Totals[0].Cost.Cmp(inv.SubTotal) != 0 {
		t.Errorf("FOCUS: %d rows of %d, total %s (manifest %+v), corrections %s; invoice subtotal %s, late lines %s",
			n, len(rows), total, m.Totals, corrections, inv.SubTotal, late)
	}
}

func text(s *string) string {
	if s == nil {
		return "(null)"
	}
	return *s
}

func (f *fixture) costRows(sub, from, to string) []charges.CostRow {
	f.t.Helper()
	rows, err := f.svc.CostRows(ctx, sub, date(from), date(to), charges.Daily)
	if err != nil {
		f.t.Fatal(err)
	}
	return rows
}

func (f *fixture) costRowsHourly(sub, from, to string) []charges.CostRow {
	f.t.Helper()
	rows, err := f.svc.CostRows(ctx, sub, date(from), date(to), charges.Hourly)
	if err != nil {
		f.t.Fatal(err)
	}
	return rows
}

// reconcile checks that rows add up to an invoice's subtotal and name it.
func (f *fixture) reconcile(rows []charges.CostRow, inv *invoicing.Invoice) {
	f.t.Helper()
	if got := sumCost(rows); got.Cmp(inv.SubTotal) != 0 {
		f.t.Errorf("%s: rows total %s, invoice subtotal %s", inv.PeriodName, got, inv.SubTotal)
	}
	for _, r := range rows {
		if r.InvoiceName != inv.Name || r.BillingPeriodName != inv.PeriodName {
			f.t.Errorf("row of %s names invoice %q period %q: %+v", inv.Name, r.InvoiceName, r.BillingPeriodName, r)
			return
		}
	}
}

func sumCost(rows []charges.CostRow) money.Decimal {
	s := money.Zero
	for _, r := range rows {
		s = s.Add(r.Cost)
	}
	return s
}
