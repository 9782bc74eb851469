package invoicing

import (
	"context"
	"errors"
	"time"
)

// Repository stores periods, invoices, their PDFs, the numbering sequences
// and the invoice-access opt-ins. Implemented by package store for both
// dialects. It has no path that updates or deletes an issued document, a
// stored PDF or a closed period.
type Repository interface {
	// ClosedPeriods returns the subscription's closed periods, oldest
	// first, with ClosedAt and InvoiceNames (the invoice first, then its
	// credit notes, in number order).
	ClosedPeriods(ctx context.Context, subscriptionID string) ([]Period, error)
	// FirstUsage returns the earliest usage start of the subscription's
	// records. When the subscription's segments are still those counted in
	// known, it returns known without reading them again.
	FirstUsage(ctx context.Context, subscriptionID string, known UsageMark) (UsageMark, error)
	// UsageReported calls fn with the usage interval [start, end) of each
	// record of the subscription reported in [from, to).
	UsageReported(ctx context.Context, subscriptionID string, from, to time.Time, fn func(start, end time.Time)) error
	// Issue stores a new document in one transaction: it takes the next
	// number of req.Series, calls build with it (build names the document
	// and renders its PDF) and stores the document, its PDF and, for an
	// invoice, its period as closed at req.ClosedAt. A failure stores
	// nothing and burns no number.
	//
	// For a credit note, build also gets the credit notes already issued
	// for req.Corrects, read in the transaction (which serialises the
	// documents of the sequence), without their lines.
	//
	// For an invoice, if the period is already closed Issue stores nothing
	// and returns the period's invoice with created false; if the latest
	// close of the subscription's periods is not req.LastClose, it returns
	// ErrStale (the invoice was computed against other closes).
	Issue(ctx context.Context, req IssueRequest, build func(number int64, prior []Invoice) (*Invoice, []byte, error)) (inv Invoice, created bool, err error)
	// Invoice returns a document with its lines, or a KindNotFound error.
	Invoice(ctx context.Context, name string) (Invoice, error)
	// InvoicesOf returns a subscription's documents without their lines,
	// newest first.
	InvoicesOf(ctx context.Context, subscriptionID string) ([]Invoice, error)
	// InvoicesOfAccount returns a billing account's documents without their
	// lines, newest first.
	InvoicesOfAccount(ctx context.Context, billingAccount string) ([]Invoice, error)
	// PDF returns a document's stored PDF, or a KindNotFound error.
	PDF(ctx context.Context, name string) ([]byte, error)
	// SetInvoiceAccess records a subscription's invoice-access opt-in.
	SetInvoiceAccess(ctx context.Context, subscriptionID string, enabled bool, at time.Time) error
	// InvoiceAccess returns a subscription's opt-in (false when never set).
	InvoiceAccess(ctx context.Context, subscriptionID string) (bool, error)
}

// UsageMark is what FirstUsage found: the earliest usage start (zero when
// the subscription has no usage) and how many segments and records it was
// computed from.
type UsageMark struct {
	Segments, Records int64
	First             time.Time
}

// IssueRequest describes a document for Repository.Issue.
type IssueRequest struct {
	Kind           string
	SubscriptionID string
	BillingAccount string
	// Series is the numbering sequence: the billing account's prefix.
	Series string
	// Period is the period an invoice closes (its Name, Start and End).
	Period Period
	// ClosedAt is the close's cut-off, stored with the closed period.
	ClosedAt time.Time
	// LastClose is the latest close of the subscription's periods when the
	// invoice was computed (zero: none).
	LastClose time.Time
	// Corrects is the invoice a credit note corrects.
	Corrects string
	// Actor is who issued the document ("" for the scheduler).
	Actor string
}

// ErrStale is returned by Repository.Issue when the subscription's periods
// were closed by someone else while an invoice was being computed; the
// close is computed again.
var ErrStale = errors.New("invoicing: the subscription's periods changed while the invoice was computed")
