package portal

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// canSeeInvoices applies the API's rule: the Account Admin of the billing
// account always; a role of the subscription after the admin's opt-in.
func (p *Portal) canSeeInvoices(ctx context.Context, rc *reqCtx) (bool, error) {
	g := rc.id.Grants
	s := rc.sub
	if g.IsAccountAdmin(s.BillingAccount) {
		return true, nil
	}
	if !g.CanReadSubscription(s.SubscriptionID) {
		return false, nil
	}
	on, err := p.deps.Invoicing.InvoiceAccess(ctx, s.SubscriptionID)
	if err != nil {
		return false, err
	}
	return g.CanSeeInvoices(s.SubscriptionID, s.BillingAccount, on), nil
}

// sortInvoices orders invoices newest first (period end, issue time, name),
// as the API lists them.
func sortInvoices(invs []invoicing.Invoice) {
	slices.SortFunc(invs, func(x, y invoicing.Invoice) int {
		if c := y.PeriodEnd.Compare(x.PeriodEnd); c != 0 {
			return c
		}
		if c := y.IssuedAt.Compare(x.IssuedAt); c != 0 {
			return c
		}
		return strings.Compare(y.Name, x.Name)
	})
}

// invoiceRow is an invoice in a list.
type invoiceRow struct {
	Name, Kind, Status     string
	Date, DueDate, Period  string
	PeriodName             string
	SubTotal, Tax, Total   string
	TotalExact             string
	Corrects, Reason       string
	CreditNote             bool
	Href, PDF, CorrectsURL string
}

func (p *Portal) invoiceRow(rc *reqCtx, inv *invoicing.Invoice) invoiceRow {
	loc := rc.loc
	base := "/portal/subscriptions/" + rc.sub.SubscriptionID + "/invoices/"
	row := invoiceRow{Name: inv.Name, Kind: "Invoice", Status: "Due", Date: loc.date(inv.InvoiceDate), DueDate: loc.date(inv.DueDate),
		Period: loc.date(inv.PeriodStart) + " – " + loc.date(inv.PeriodEnd.Add(-day)), PeriodName: inv.PeriodName,
		SubTotal: loc.amount(inv.Currency, inv.SubTotal), Total: loc.amount(inv.Currency, inv.Total), TotalExact: inv.Total.String(),
		Href: base + inv.Name, PDF: base + inv.Name + "/pdf"}
	tax := money.Zero
	if inv.Tax != nil {
		tax = inv.Tax.Amount
	}
	row.Tax = loc.amount(inv.Currency, tax)
	if inv.Kind == invoicing.KindCreditNote {
		row.Kind, row.Status, row.CreditNote = "Credit note", "Issued", true
		row.Corrects, row.Reason = inv.Corrects, inv.Reason
		row.CorrectsURL = base + inv.Corrects
	}
	return row
}

type invoicesData struct {
	Sub      *subInfo
	Hidden   bool
	Invoices []invoiceRow
	Account  string
}

// invoicesPage lists the subscription's invoices and credit notes.
func (p *Portal) invoicesPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ok, err := p.canSeeInvoices(r.Context(), rc)
	if err != nil {
		return err
	}
	d := invoicesData{Sub: rc.sub, Hidden: !ok, Account: rc.sub.BillingAccount}
	if ok {
		invs, err := p.deps.Invoicing.Invoices(r.Context(), rc.sub.SubscriptionID)
		if err != nil {
			return err
		}
		sortInvoices(invs)
		for i := range invs {
			d.Invoices = append(d.Invoices, p.invoiceRow(rc, &invs[i]))
		}
	}
	p.render(w, r, rc, http.StatusOK, "invoices", "Invoices", d)
	return nil
}

// invoiceOf returns an invoice of the page's subscription the caller may
// see: 403 without the right, 404 for an invoice of another subscription
// or none.
func (p *Portal) invoiceOf(r *http.Request, rc *reqCtx) (invoicing.Invoice, error) {
	ok, err := p.canSeeInvoices(r.Context(), rc)
	if err != nil {
		return invoicing.Invoice{}, err
	}
	if !ok {
		return invoicing.Invoice{}, errForbidden("The invoices of this subscription are visible to its billing account's admin, and to its roles once the admin allows it.")
	}
	name := r.PathValue("invoiceName")
	inv, err := p.deps.Invoicing.Invoice(r.Context(), name)
	if err != nil {
		if e := billing.AsError(err); e != nil && e.Kind == billing.KindNotFound {
			return inv, errNotFound("There is no invoice " + clipText(name) + " for this subscription.")
		}
		return inv, err
	}
	if inv.SubscriptionID != rc.sub.SubscriptionID {
		return inv, errNotFound("There is no invoice " + clipText(name) + " for this subscription.")
	}
	return inv, nil
}

type lineRow struct {
	Kind, Meter, Category, Region, Unit string
	Quantity, Included, Amount          string
	AmountExact                         string
	Note                                string
}

type invoiceData struct {
	Sub         *subInfo
	Invoice     invoiceRow
	Lines       []lineRow
	TaxLabel    string
	Seller      invoicing.Party
	Buyer       invoicing.Party
	CreditNotes []invoiceRow
	PDFSHA256   string
}

// invoicePage shows one invoice with its lines.
func (p *Portal) invoicePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	inv, err := p.invoiceOf(r, rc)
	if err != nil {
		return err
	}
	loc := rc.loc
	d := invoiceData{Sub: rc.sub, Invoice: p.invoiceRow(rc, &inv), Seller: inv.Seller, Buyer: inv.Buyer, PDFSHA256: inv.PDFSHA256}
	if inv.Tax != nil {
		d.TaxLabel = inv.Tax.Label
	}
	for _, l := range inv.Lines {
		name := l.MeterName
		if name == "" {
			name = l.Description
		}
		if name == "" {
			name = l.Kind
		}
		note := ""
		if l.OriginalPeriod != "" {
			note = "Late usage of " + l.OriginalPeriod
		}
		d.Lines = append(d.Lines, lineRow{Kind: l.Kind, Meter: name, Category: l.MeterCategory, Region: l.MeterRegion, Unit: l.Unit,
			Quantity: loc.number(l.Quantity), Included: loc.number(l.IncludedQuantity), Amount: loc.amount(inv.Currency, l.Amount),
			AmountExact: l.Amount.String(), Note: note})
	}
	if inv.Kind == invoicing.KindInvoice {
		invs, err := p.deps.Invoicing.Invoices(r.Context(), rc.sub.SubscriptionID)
		if err != nil {
			return err
		}
		for i := range invs {
			if invs[i].Kind == invoicing.KindCreditNote && invs[i].Corrects == inv.Name {
				d.CreditNotes = append(d.CreditNotes, p.invoiceRow(rc, &invs[i]))
			}
		}
	}
	p.render(w, r, rc, http.StatusOK, "invoice", d.Invoice.Kind+" "+inv.Name, d)
	return nil
}

// invoicePDF answers the PDF stored when the invoice was issued, byte for
// byte.
func (p *Portal) invoicePDF(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	inv, err := p.invoiceOf(r, rc)
	if err != nil {
		return err
	}
	pdf, err := p.deps.Invoicing.PDF(r.Context(), inv.Name)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", `attachment; filename="`+safeFileName(inv.Name)+`.pdf"`)
	h.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(pdf)
	return nil
}

// safeFileName keeps letters, digits, '-', '_' and '.'.
func safeFileName(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
