package invoicing_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
)

// february ingests, for sub, 10 VM hours (1 each), 200 storage units (20 ×
// 10) and 5 egress units in February 2024, reported an hour after use.
func february(f *fixture, sub string) {
	var recs []rec
	t0 := date("2024-02-10T00:00:00Z")
	for h := range 10 {
		t := t0.Add(time.Duration(h) * time.Hour)
		recs = append(recs, rec{sub: sub, meter: meterVM, start: t, qty: "1", reported: t.Add(time.Hour)},
			rec{sub: sub, meter: meterStorage, start: t, qty: "20", reported: t.Add(time.Hour)})
	}
	recs = append(recs, rec{sub: sub, meter: meterEgress, start: t0, qty: "5", reported: t0.Add(2 * time.Hour)})
	f.ingest(recs...)
}

func TestCloseIssuesInvoice(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-15T10:00:00Z"), invoicing.Config{
			Seller:   invoicing.Party{Name: "Reckon Cloud GmbH", Country: "DE", TaxID: "DE123456789"},
			TaxRates: map[string]invoicing.TaxRate{"DE": {Rate: dec("0.19"), Label: "VAT 19 %"}},
		})
		f.importCatalog("")
		sub := subID(1)
		f.putSub(sub, "contoso", 1, "DE")
		f.clock.Set(date("2024-03-03T12:00:00Z"))
		february(f, sub)

		// Before the grace time (72 h after 03-01) the period closes only by force.
		_, err := f.svc.Close(ctx, sub, "202403-1", false)
		if e := billing.AsError(err); e == nil || e.Kind != billing.KindConflict || e.Code != "PeriodNotEnded" {
			t.Fatalf("close before the grace time: %v, want Conflict PeriodNotEnded", err)
		}
		// The current period has not ended: not even force closes it.
		_, err = f.svc.Close(ctx, sub, "202404-1", true)
		if e := billing.AsError(err); e == nil || e.Code != "PeriodNotEnded" {
			t.Fatalf("force close of the open period: %v, want PeriodNotEnded", err)
		}
		_, err = f.svc.Close(ctx, sub, "202405-1", true)
		if e := billing.AsError(err); e == nil || e.Kind != billing.KindNotFound || e.Code != "BillingPeriodNotFound" {
			t.Fatalf("close of a future period: %v, want NotFound BillingPeriodNotFound", err)
		}
		f.clock.Set(date("2024-03-04T00:00:00Z")) // exactly end + 72 h
		inv, err := f.svc.Close(ctx, sub, "202403-1", false)
		if err != nil {
			t.Fatalf("close: %v", err)
		}
		if inv.Name != "CONTOSO-000001" || inv.Kind != invoicing.KindInvoice || inv.PeriodName != "202403-1" ||
			!inv.PeriodStart.Equal(date("2024-02-01")) || !inv.PeriodEnd.Equal(date("2024-03-01")) {
			t.Errorf("invoice %s %s %s [%s, %s)", inv.Name, inv.Kind, inv.PeriodName, inv.PeriodStart, inv.PeriodEnd)
		}
		if !inv.InvoiceDate.Equal(date("2024-03-04")) || !inv.DueDate.Equal(date("2024-04-03")) || inv.Currency != "USD" || inv.Locale != "en-US" {
			t.Errorf("dates %s / %s, currency %s, locale %s", inv.InvoiceDate, inv.DueDate, inv.Currency, inv.Locale)
		}
		if inv.Buyer.Name != "contoso" || inv.Buyer.Country != "DE" || inv.Seller.Name != "Reckon Cloud GmbH" || inv.Seller.TaxID != "DE123456789" {
			t.Errorf("buyer %+v seller %+v", inv.Buyer, inv.Seller)
		}
		want := map[string][3]string{ // quantity, included, amount
			"D2 v3":               {"10", "0", "0.96"},
			"Hot LRS Data Stored": {"200", "5", "3.98"},
			"Data Transfer Out":   {"5", "5", "0"},
		}
		if len(inv.Lines) != len(want) {
			t.Fatalf("%d lines, want %d: %+v", len(inv.Lines), len(want), inv.Lines)
		}
		for _, l := range inv.Lines {
			w, ok := want[l.MeterName]
			if !ok || l.Kind != "Usage" {
				t.Errorf("unexpected line %+v", l)
				continue
			}
			eqDec(t, l.MeterName+" quantity", l.Quantity, w[0])
			eqDec(t, l.MeterName+" included", l.IncludedQuantity, w[1])
			eqDec(t, l.MeterName+" amount", l.Amount, w[2])
		}
		for _, l := range inv.Lines {
			if l.MeterName == "Hot LRS Data Stored" {
				if l.MeterCategory != "Storage" || len(l.Tiers) != 2 {
					t.Errorf("storage line %+v", l)
				} else {
					eqDec(t, "tier 1 amount", l.Tiers[0].Amount, "2.08")
					eqDec(t, "tier 2 quantity", l.Tiers[1].Quantity, "95")
					eqDec(t, "tier 2 amount", l.Tiers[1].Amount, "1.9")
				}
			}
		}
		eqDec(t, "subtotal", inv.SubTotal, "4.94")
		if inv.Tax == nil || inv.Tax.Label != "VAT 19 %" {
			t.Fatalf("tax %+v", inv.Tax)
		}
		eqDec(t, "tax", inv.Tax.Amount, "0.94") // 4.94 × 0.19 = 0.9386
		eqDec(t, "total", inv.Total, "5.88")

		// The PDF is the renderer's output, stored with its sha256.
		pdf, err := f.svc.PDF(ctx, inv.Name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(pdf)
		if hex.EncodeToString(sum[:]) != inv.PDFSHA256 {
			t.Errorf("pdf sha256 %x, invoice says %s", sum, inv.PDFSHA256)
		}
		again, _ := textRenderer{}.Render(inv)
		if !bytes.Equal(pdf, again) {
			t.Errorf("stored pdf:\n%s\nrendered:\n%s", pdf, again)
		}
		got, err := f.svc.Invoice(ctx, inv.Name)
		if err != nil || got.Total.Cmp(inv.Total) != 0 || len(got.Lines) != 3 || got.PDFSHA256 != inv.PDFSHA256 || !got.IssuedAt.Equal(inv.IssuedAt) {
			t.Errorf("Invoice(%s) = %+v, %v", inv.Name, got, err)
		}

		// Closing again issues nothing and returns the same invoice.
		f.clock.Advance(time.Hour)
		again2, err := f.svc.Close(ctx, sub, "202403-1", true)
		if err != nil || again2.Name != inv.Name || !again2.IssuedAt.Equal(inv.IssuedAt) {
			t.Fatalf("second close: %v, %+v", err, again2)
		}
		list, err := f.svc.Invoices(ctx, sub)
		if err != nil || len(list) != 1 || list[0].Name != inv.Name || list[0].Lines != nil {
			t.Fatalf("Invoices = %+v, %v", list, err)
		}
		p, err := f.svc.Period(ctx, sub, "202403-1")
		if err != nil || p.ClosedAt == nil || len(p.InvoiceNames) != 1 || p.InvoiceNames[0] != inv.Name {
			t.Fatalf("Period = %+v, %v", p, err)
		}
		if want := date("2024-03-04").Add(-settle); !p.ClosedAt.Equal(want) {
			t.Errorf("closedAt %s, want the cut-off %s", p.ClosedAt, want)
		}
		if _, err := f.svc.Invoice(ctx, "CONTOSO-000002"); billing.AsError(err) == nil || billing.AsError(err).Code != "InvoiceNotFound" {
			t.Errorf("missing invoice: %v", err)
		}
		if _, err := f.svc.PDF(ctx, "CONTOSO-000002"); billing.AsError(err) == nil || billing.AsError(err).Code != "InvoiceNotFound" {
			t.Errorf("missing pdf: %v", err)
		}
	})
}
