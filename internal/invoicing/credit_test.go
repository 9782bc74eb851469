package invoicing_test

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
)

func TestCreditNotes(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		f := newFixture(t, b, date("2024-01-15T10:00:00Z"), invoicing.Config{
			TaxRates: map[string]invoicing.TaxRate{"DE": {Rate: dec("0.19"), Label: "VAT 19 %"}},
		})
		f.importCatalog("")
		a, c := subID(1), subID(2)
		f.putSub(a, "contoso", 1, "DE")
		f.putSub(c, "contoso", 1, "DE")
		f.clock.Set(date("2024-03-05T00:00:00Z"))
		february(f, a)
		february(f, c)
		invA, err := f.svc.Close(ctx, a, "202403-1", false)
		if err != nil {
			t.Fatal(err)
		}
		invC, err := f.svc.Close(ctx, c, "202403-1", false)
		if err != nil {
			t.Fatal(err)
		}
		origPDF, _ := f.svc.PDF(ctx, invA.Name)

		// A full reversal by default.
		f.clock.Advance(24 * time.Hour)
		cn, err := f.svc.IssueCreditNote(ctx, "operator", invA.Name, "Billed twice", nil)
		if err != nil {
			t.Fatal(err)
		}
		if cn.Kind != invoicing.KindCreditNote || cn.Name != "CONTOSO-000003" || cn.Corrects != invA.Name || cn.Reason != "Billed twice" ||
			cn.PeriodName != invA.PeriodName || cn.SubscriptionID != a || !cn.InvoiceDate.Equal(date("2024-03-06")) {
			t.Errorf("credit note %+v", cn)
		}
		eqDec(t, "credit subtotal", cn.SubTotal, "-4.94")
		if cn.Tax == nil {
			t.Fatal("credit note without tax")
		}
		eqDec(t, "credit tax", cn.Tax.Amount, "-0.94")
		eqDec(t, "credit total", cn.Total, "-5.88")
		if cn.Total.Add(invA.Total).Sign() != 0 {
			t.Errorf("a full reversal does not cancel the invoice: %s + %s", cn.Total, invA.Total)
		}
		nonZero := 0
		for _, l := range invA.Lines {
			if !l.Amount.IsZero() {
				nonZero++
			}
		}
		if len(cn.Lines) != nonZero {
			t.Errorf("%d credit lines, want %d", len(cn.Lines), nonZero)
		}
		for _, l := range cn.Lines {
			if l.Kind != invoicing.LineCorrection || l.Amount.Sign() >= 0 || !strings.HasPrefix(l.Description, "Reversal of Usage: ") {
				t.Errorf("credit line %+v", l)
			}
		}
		pdf, err := f.svc.PDF(ctx, cn.Name)
		sum := sha256.Sum256(pdf)
		if err != nil || hex.EncodeToString(sum[:]) != cn.PDFSHA256 || !strings.HasPrefix(string(pdf), "CreditNote CONTOSO-000003") {
			t.Errorf("credit note pdf %q, %v", pdf, err)
		}
		// The original is unchanged.
		got, err := f.svc.Invoice(ctx, invA.Name)
		if err != nil || got.Total.Cmp(invA.Total) != 0 || got.PDFSHA256 != invA.PDFSHA256 || got.Kind != invoicing.KindInvoice {
			t.Errorf("original after the credit note: %+v %v", got, err)
		}
		if p, _ := f.svc.PDF(ctx, invA.Name); string(p) != string(origPDF) {
			t.Error("original pdf changed")
		}
		// The period lists the invoice, then the credit note.
		p, err := f.svc.Period(ctx, a, "202403-1")
		if err != nil || len(p.InvoiceNames) != 2 || p.InvoiceNames[0] != invA.Name || p.InvoiceNames[1] != cn.Name {
			t.Errorf("period invoices %v, %v", p.InvoiceNames, err)
		}
		// Closing the period again still returns the invoice, not the credit note.
		if again, err := f.svc.Close(ctx, a, "202403-1", true); err != nil || again.Name != invA.Name {
			t.Errorf("close after credit: %v %v", again, err)
		}
		// Nothing is left to credit.
		_, err = f.svc.IssueCreditNote(ctx, "operator", invA.Name, "again", nil)
		if e := billing.AsError(err); e == nil || e.Code != "CreditExceedsInvoice" || e.Kind != billing.KindConflict {
			t.Errorf("second full reversal: %v", err)
		}

		// Partial credits of c: 1.00, then 3.94 (the rest), then 0.01 is too much.
		cn1, err := f.svc.IssueCreditNote(ctx, "operator", invC.Name, "Goodwill", []invoicing.Line{{Amount: dec("1"), Description: "Goodwill credit"}})
		if err != nil {
			t.Fatal(err)
		}
		if cn1.Name != "CONTOSO-000004" || len(cn1.Lines) != 1 || cn1.Lines[0].Kind != invoicing.LineCorrection || cn1.Lines[0].Description != "Goodwill credit" {
			t.Errorf("partial credit %+v", cn1)
		}
		eqDec(t, "partial subtotal", cn1.SubTotal, "-1")
		eqDec(t, "partial tax", cn1.Tax.Amount, "-0.19")
		eqDec(t, "partial total", cn1.Total, "-1.19")
		if _, err := f.svc.IssueCreditNote(ctx, "operator", invC.Name, "rest", []invoicing.Line{{Amount: dec("3.94")}}); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.IssueCreditNote(ctx, "operator", invC.Name, "too much", []invoicing.Line{{Amount: dec("0.01")}})
		if e := billing.AsError(err); e == nil || e.Code != "CreditExceedsInvoice" {
			t.Errorf("credit beyond the invoice: %v", err)
		}

		for _, c := range []struct {
			name, invoice, reason string
			lines                 []invoicing.Line
			code                  string
		}{
			{"no reason", invC.Name, " ", nil, "MissingProperty"},
			{"negative amount", invC.Name, "x", []invoicing.Line{{Amount: dec("-1")}}, "InvalidProperty"},
			{"zero amount", invC.Name, "x", []invoicing.Line{{Amount: dec("0")}}, "InvalidProperty"},
			{"sub-cent amount", invC.Name, "x", []invoicing.Line{{Amount: dec("0.001")}}, "InvalidProperty"},
			{"credit of a credit note", cn.Name, "x", nil, "InvalidInvoiceKind"},
			{"unknown invoice", "CONTOSO-000999", "x", nil, "InvoiceNotFound"},
			{"reason too long", invC.Name, strings.Repeat("x", 1001), nil, "InvalidProperty"},
		} {
			_, err := f.svc.IssueCreditNote(ctx, "operator", c.invoice, c.reason, c.lines)
			if e := billing.AsError(err); e == nil || e.Code != c.code {
				t.Errorf("%s: %v, want %s", c.name, err, c.code)
			}
		}
		// The sequence is shared and gapless: invoices and credit notes 1..5.
		invs, err := f.svc.InvoicesOfAccount(ctx, "contoso")
		if err != nil || len(invs) != 5 {
			t.Fatalf("%d documents, %v", len(invs), err)
		}
		for i, inv := range invs { // newest first
			if want := invoicing.InvoiceName("CONTOSO-", int64(5-i)); inv.Name != want {
				t.Errorf("document %d is %s, want %s", i, inv.Name, want)
			}
		}
		ofA, _ := f.svc.Invoices(ctx, a)
		if len(ofA) != 2 || ofA[0].Name != cn.Name || ofA[1].Name != invA.Name {
			t.Errorf("documents of a: %+v", ofA)
		}
	})
}
