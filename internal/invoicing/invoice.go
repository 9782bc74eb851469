// Package invoicing closes billing periods into immutable invoices: monthly
// periods per subscription, closing after a grace time (or on demand),
// rating the period's usage reported before the close, numbering invoices
// from a gapless sequence per billing account, carrying late usage into the
// next invoice or leaving it out, credit notes that correct an issued
// invoice, and the PDF rendered once at issue.
package invoicing

import (
	"log/slog"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/rating"
)

// Period is a subscription's monthly billing period [Start, End), whole UTC
// days, named YYYYMM-N after the month of its end (N counts periods of the
// subscription ending in that month, from 1).
type Period struct {
	SubscriptionID string     `json:"subscriptionId"`
	Name           string     `json:"name"`
	Start          time.Time  `json:"start"`
	End            time.Time  `json:"end"`
	ClosedAt       *time.Time `json:"closedAt,omitempty"`
	// InvoiceNames are the invoices (and credit notes) issued for the period.
	InvoiceNames []string `json:"invoiceNames"`
}

// Document kinds.
const (
	KindInvoice    = "Invoice"
	KindCreditNote = "CreditNote"
)

// Invoice is an issued invoice or credit note. It never changes once
// issued.
type Invoice struct {
	Name           string    `json:"name"` // the number, from the billing account's gapless sequence
	Kind           string    `json:"kind"`
	BillingAccount string    `json:"billingAccount"`
	SubscriptionID string    `json:"subscriptionId"`
	PeriodName     string    `json:"periodName"`
	PeriodStart    time.Time `json:"periodStart"`
	PeriodEnd      time.Time `json:"periodEnd"`
	IssuedAt       time.Time `json:"issuedAt"`
	InvoiceDate    time.Time `json:"invoiceDate"` // UTC midnight of the issue day
	DueDate        time.Time `json:"dueDate"`
	Currency       string    `json:"currency"`
	Locale         string    `json:"locale"` // the subscription's, for the PDF
	Seller         Party     `json:"seller"`
	Buyer          Party     `json:"buyer"`
	Lines          []Line    `json:"lines"`
	// SubTotal is the sum of the lines' amounts; Tax is computed on it
	// (rounded once); Total = SubTotal + Tax.Amount.
	SubTotal money.Decimal `json:"subTotal"`
	Tax      *Tax          `json:"tax,omitempty"` // nil when no rate is configured for the buyer's country
	Total    money.Decimal `json:"total"`
	// Corrects names the invoice a credit note corrects; Reason says why.
	Corrects string `json:"corrects,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// PDFSHA256 is the hex sha256 of the PDF stored at issue.
	PDFSHA256 string `json:"pdfSha256"`
}

// Party is the seller (the operator) or the buyer (the billing account).
type Party struct {
	Name    string   `json:"name"`
	Address []string `json:"address,omitempty"`
	TaxID   string   `json:"taxId,omitempty"`
	Country string   `json:"country,omitempty"` // ISO 3166 alpha-2 (the buyer's: the subscription's RegionInfo)
	// LogoPNG is the seller's logo (PNG bytes), drawn on the PDF.
	LogoPNG []byte `json:"-"`
}

// Line kinds, beyond the rating engine's (Usage and the offer terms).
const (
	// LineLateUsage is usage of an earlier, closed period carried into this
	// invoice; Line.OriginalPeriod names that period.
	LineLateUsage = "Late usage"
	// LineCorrection is a credit note's line.
	LineCorrection = "Correction"
)

// Line is one invoice line: a rating line with the meter's names, grouped
// on the PDF by MeterCategory.
type Line struct {
	Kind             string              `json:"kind"` // rating.LineKind values, LineLateUsage or LineCorrection
	MeterID          string              `json:"meterId,omitempty"`
	MeterName        string              `json:"meterName,omitempty"`
	MeterCategory    string              `json:"meterCategory,omitempty"`
	MeterSubCategory string              `json:"meterSubCategory,omitempty"`
	MeterRegion      string              `json:"meterRegion,omitempty"`
	Unit             string              `json:"unit,omitempty"`
	Quantity         money.Decimal       `json:"quantity"`
	IncludedQuantity money.Decimal       `json:"includedQuantity"`
	Tiers            []rating.TierCharge `json:"tiers,omitempty"`
	Amount           money.Decimal       `json:"amount"` // rounded to the currency's minor unit
	OriginalPeriod   string              `json:"originalPeriod,omitempty"`
	Description      string              `json:"description,omitempty"`
}

// Tax is the invoice's tax line.
type Tax struct {
	Label  string        `json:"label"` // e.g. "VAT 19 %"
	Rate   money.Decimal `json:"rate"`  // a fraction: 0.19
	Amount money.Decimal `json:"amount"`
}

// Renderer turns an invoice into its PDF. It must be deterministic: the same
// invoice gives the same bytes.
type Renderer interface {
	Render(inv *Invoice) ([]byte, error)
}

// Late-usage policies (DESIGN.md): usage of a closed period that arrives
// after its close is carried into the next invoice (default) or left out
// of billing (Azure's behaviour).
const (
	LateUsageCarry   = "carry"
	LateUsageDiscard = "discard"
)

// Config configures closing and invoices.
type Config struct {
	// GraceTime is how long after a period's end it closes; default 72 h.
	GraceTime time.Duration
	// LateUsage is LateUsageCarry (default) or LateUsageDiscard.
	LateUsage string
	// Seller is printed on every invoice.
	Seller Party
	// TaxRates by buyer country (RegionInfo); none configured: no tax line.
	TaxRates map[string]TaxRate
	// NumberPrefix returns the invoice number prefix of a billing account;
	// nil: the account name upper-cased, letters and digits only, and "-".
	NumberPrefix func(billingAccount string) string
	// PaymentDays is the due date's distance from the invoice date; default 30.
	PaymentDays int
	// SettleMargin is the ingest settle margin (usage.Service.SettleMargin):
	// a close rates the usage reported before now minus it, since no
	// record can still commit with an earlier reported time; default 30 s.
	SettleMargin time.Duration
	// CloseWorkers is how many subscriptions CloseDue closes at once;
	// default GOMAXPROCS.
	CloseWorkers int
	// Log receives the scheduler's messages; nil discards them.
	Log *slog.Logger
}

// TaxRate is a tax configured for a country.
type TaxRate struct {
	Rate  money.Decimal // a fraction: 0.19
	Label string
}
