package invoicing

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/rating"
)

// MaxReasonLength bounds a credit note's reason.
const MaxReasonLength = 1000

// IssueCreditNote issues a credit note correcting an issued invoice: by
// default (no lines) it reverses all of it, line by line; lines, when
// given, say what to credit (positive amounts, in the currency's minor
// unit at most, are credited). The credit note has its own number from
// the billing account's sequence, its own PDF, Corrects = invoiceName and
// the original's period, buyer, currency and tax rate; its amounts are
// negative. The credit notes of an invoice together never credit more than
// its SubTotal (Conflict "CreditExceedsInvoice"). The original never
// changes.
func (s *Service) IssueCreditNote(ctx context.Context, actor, invoiceName, reason string, lines []Line) (*Invoice, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, billing.Invalid("MissingProperty", "reason", "The property 'reason' is required.")
	}
	if utf8.RuneCountInString(reason) > MaxReasonLength || !utf8.ValidString(reason) {
		return nil, billing.Invalid("InvalidProperty", "reason", "The reason must be at most %d characters.", MaxReasonLength)
	}
	orig, err := s.repo.Invoice(ctx, invoiceName)
	if err != nil {
		return nil, err
	}
	if orig.Kind != KindInvoice {
		return nil, billing.Invalid("InvalidInvoiceKind", "invoiceName", "'%s' is a credit note; only an invoice can be corrected.", orig.Name)
	}
	cur, err := money.ParseCurrency(orig.Currency)
	if err != nil {
		return nil, err
	}
	var credit []Line
	if len(lines) == 0 {
		for _, l := range orig.Lines {
			if l.Amount.IsZero() {
				continue
			}
			c := l
			c.Kind = LineCorrection
			c.Description = reversal(l)
			c.Amount = l.Amount.Neg()
			c.Tiers = make([]rating.TierCharge, len(l.Tiers))
			for i, t := range l.Tiers {
				t.Amount = t.Amount.Neg()
				c.Tiers[i] = t
			}
			credit = append(credit, c)
		}
	} else {
		for i, l := range lines {
			if l.Amount.Sign() <= 0 || cur.Round(l.Amount).Cmp(l.Amount) != 0 {
				return nil, billing.Invalid("InvalidProperty", "lines", "Line %d: the amount to credit must be positive, in %s with at most %d decimals.", i+1, cur, cur.MinorUnits())
			}
			c := l
			c.Kind = LineCorrection
			c.Amount = l.Amount.Neg()
			c.Tiers = nil
			if strings.TrimSpace(c.Description) == "" {
				c.Description = "Correction"
			}
			credit = append(credit, c)
		}
	}
	cn := &Invoice{
		Kind: KindCreditNote, BillingAccount: orig.BillingAccount, SubscriptionID: orig.SubscriptionID,
		PeriodName: orig.PeriodName, PeriodStart: orig.PeriodStart, PeriodEnd: orig.PeriodEnd,
		Currency: orig.Currency, Locale: orig.Locale, Seller: s.cfg.Seller, Buyer: orig.Buyer, Lines: credit,
		Corrects: orig.Name, Reason: reason,
	}
	if cn.Lines == nil {
		cn.Lines = []Line{}
	}
	s.dates(cn, s.now())
	var rate *TaxRate
	if orig.Tax != nil {
		rate = &TaxRate{Rate: orig.Tax.Rate, Label: orig.Tax.Label}
	}
	if err := s.totals(cn, cur, rate); err != nil {
		return nil, err
	}
	if cn.SubTotal.IsZero() {
		return nil, billing.Conflict("NothingToCredit", "invoiceName", "The invoice '%s' has nothing to credit.", orig.Name)
	}
	series := s.cfg.NumberPrefix(orig.BillingAccount)
	req := IssueRequest{Kind: KindCreditNote, SubscriptionID: orig.SubscriptionID, BillingAccount: orig.BillingAccount, Series: series,
		Period: Period{Name: orig.PeriodName, Start: orig.PeriodStart, End: orig.PeriodEnd}, Corrects: orig.Name, Actor: actor}
	stored, _, err := s.repo.Issue(ctx, req, func(number int64, prior []Invoice) (*Invoice, []byte, error) {
		if err := checkCredit(orig, prior, cn.SubTotal); err != nil {
			return nil, nil, err
		}
		return s.finish(cn, series, number)
	})
	if err != nil {
		return nil, err
	}
	return &stored, nil
}

// checkCredit refuses a credit note of amount (negative) that would take
// the credit notes of orig (prior ones and this one) beyond its SubTotal.
func checkCredit(orig Invoice, prior []Invoice, amount money.Decimal) error {
	credited := amount.Neg()
	for _, d := range prior {
		credited = credited.Sub(d.SubTotal)
	}
	limit := money.MaxDecimal(orig.SubTotal, money.Zero)
	if credited.Cmp(limit) > 0 {
		return billing.Conflict("CreditExceedsInvoice", "lines", "The credit notes of '%s' would credit %s, more than its subtotal %s %s.",
			orig.Name, credited, orig.SubTotal, orig.Currency)
	}
	return nil
}

func reversal(l Line) string {
	what := l.Kind
	if l.MeterName != "" {
		what += ": " + l.MeterName
	}
	if l.OriginalPeriod != "" {
		what += " (" + l.OriginalPeriod + ")"
	}
	return "Reversal of " + what
}
