package invoicing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/rating"
)

// close closes one period of sub; created reports whether this call issued
// the invoice (false: the period was already closed).
func (s *Service) close(ctx context.Context, sub account.Subscription, name string, force bool, actor string) (*Invoice, bool, error) {
	now := s.now()
	ps, lastClose, err := s.periods(ctx, sub, now)
	if err != nil {
		return nil, false, err
	}
	var p *Period
	for i := range ps {
		if strings.EqualFold(ps[i].Name, name) {
			p = &ps[i]
		}
	}
	if p == nil {
		return nil, false, periodNotFound(name)
	}
	if p.ClosedAt != nil {
		inv, err := s.periodInvoice(ctx, *p)
		return inv, false, err
	}
	if p.End.After(now) {
		return nil, false, billing.Conflict("PeriodNotEnded", "billingPeriodName", "The billing period '%s' ends at %s; it cannot be closed before.",
			p.Name, p.End.Format(time.RFC3339))
	}
	if !force && p.End.Add(s.cfg.GraceTime).After(now) {
		return nil, false, billing.Conflict("PeriodNotEnded", "billingPeriodName", "The billing period '%s' closes at %s, after its grace time; use force to close it now.",
			p.Name, p.End.Add(s.cfg.GraceTime).Format(time.RFC3339))
	}
	cut := now.Add(-s.cfg.SettleMargin)
	if cut.Before(lastClose) {
		cut = lastClose // cut-offs never go back
	}
	st, err := s.charges.Estimate(ctx, sub.SubscriptionID, p.Start, p.End, cut)
	if err != nil {
		return nil, false, err
	}
	cur, err := money.ParseCurrency(st.Currency)
	if err != nil {
		return nil, false, err
	}
	lines := make([]Line, 0, len(st.Lines))
	for _, l := range st.Lines {
		lines = append(lines, invoiceLine(l))
	}
	if s.cfg.LateUsage == LateUsageCarry && !lastClose.IsZero() {
		late, err := s.lateUsage(ctx, sub, ps, p.Name, lastClose, cut)
		if err != nil {
			return nil, false, err
		}
		lines = append(lines, late...)
	}
	inv := &Invoice{
		Kind: KindInvoice, BillingAccount: sub.BillingAccount, SubscriptionID: sub.SubscriptionID,
		PeriodName: p.Name, PeriodStart: p.Start, PeriodEnd: p.End, Currency: cur.String(), Locale: sub.Locale,
		Seller: s.cfg.Seller, Buyer: Party{Name: sub.BillingAccount, Country: sub.RegionInfo}, Lines: lines,
	}
	s.dates(inv, now)
	if err := s.totals(inv, cur, s.taxRate(sub.RegionInfo)); err != nil {
		return nil, false, err
	}
	series := s.cfg.NumberPrefix(sub.BillingAccount)
	req := IssueRequest{Kind: KindInvoice, SubscriptionID: sub.SubscriptionID, BillingAccount: sub.BillingAccount, Series: series,
		Period: *p, ClosedAt: cut, LastClose: lastClose, Actor: actor}
	stored, created, err := s.repo.Issue(ctx, req, func(number int64, _ []Invoice) (*Invoice, []byte, error) {
		return s.finish(inv, series, number)
	})
	if err != nil {
		return nil, false, err
	}
	return &stored, created, nil
}

// periodInvoice returns the invoice of a closed period.
func (s *Service) periodInvoice(ctx context.Context, p Period) (*Invoice, error) {
	if len(p.InvoiceNames) == 0 {
		return nil, fmt.Errorf("invoicing: closed period %s of %s has no invoice", p.Name, p.SubscriptionID)
	}
	inv, err := s.repo.Invoice(ctx, p.InvoiceNames[0])
	if err != nil {
		return nil, err
	}
	return &inv, nil
}

// finish names a document with its number, renders its PDF and records the
// PDF's sha256 in it.
func (s *Service) finish(inv *Invoice, series string, number int64) (*Invoice, []byte, error) {
	out := *inv
	out.Name = InvoiceName(series, number)
	pdf, err := s.render.Render(&out)
	if err != nil {
		return nil, nil, fmt.Errorf("invoicing: render %s: %w", out.Name, err)
	}
	sum := sha256.Sum256(pdf)
	out.PDFSHA256 = hex.EncodeToString(sum[:])
	return &out, pdf, nil
}

// dates sets the issue instant, the invoice date (its UTC day) and the due
// date.
func (s *Service) dates(inv *Invoice, now time.Time) {
	inv.IssuedAt = now
	inv.InvoiceDate = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	inv.DueDate = inv.InvoiceDate.AddDate(0, 0, s.cfg.PaymentDays)
}

func (s *Service) taxRate(country string) *TaxRate {
	if r, ok := s.cfg.TaxRates[country]; ok {
		return &r
	}
	return nil
}

// totals sets SubTotal (the sum of the lines' rounded amounts), the tax
// (SubTotal × rate, rounded once to the currency's minor unit) and Total.
func (s *Service) totals(inv *Invoice, cur money.Currency, rate *TaxRate) error {
	sub := money.Zero
	for _, l := range inv.Lines {
		sub = sub.Add(l.Amount)
	}
	inv.SubTotal, inv.Total, inv.Tax = sub, sub, nil
	if rate != nil {
		amount, ok := sub.MulExact(rate.Rate)
		if !ok {
			return fmt.Errorf("invoicing: tax of %s at %s is not exact", sub, rate.Rate)
		}
		inv.Tax = &Tax{Label: rate.Label, Rate: rate.Rate, Amount: cur.Round(amount)}
		inv.Total = sub.Add(inv.Tax.Amount)
	}
	return nil
}

// invoiceLine turns a rating line into an invoice line.
func invoiceLine(l charges.Line) Line {
	out := Line{
		Kind: string(l.Kind), MeterID: l.MeterID, MeterName: l.MeterName, MeterCategory: l.MeterCategory,
		MeterSubCategory: l.MeterSubCategory, MeterRegion: l.MeterRegion, Unit: l.Unit,
		Quantity: l.Quantity, IncludedQuantity: l.IncludedQuantityUsed, Tiers: l.Tiers, Amount: l.Amount,
	}
	if l.Kind != rating.LineUsage {
		out.Description = string(l.Kind)
	}
	return out
}

// lateUsage returns the late-usage lines of a close with cut-off cut under
// the carry policy: for each closed period Q of the subscription (other
// than the one being closed) with usage reported in [lastClose, cut) — the
// window since the subscription's previous close — the difference between
// Q rated with the usage reported before cut and Q rated with the usage
// reported before lastClose. Every earlier close carried Q's usage up to
// its own cut-off, so what Q has billed so far is exactly its rating at
// lastClose; the difference of two ratings under the same prices is the
// marginal charge of the late usage (tiers and included quantities
// continue where the period's billed usage left them, offer credits and
// commitments adjust). Each difference line is a LineLateUsage line
// naming Q.
func (s *Service) lateUsage(ctx context.Context, sub account.Subscription, ps []Period, closing string, lastClose, cut time.Time) ([]Line, error) {
	var closed []Period
	for _, p := range ps {
		if p.ClosedAt != nil && p.Name != closing {
			closed = append(closed, p)
		}
	}
	if len(closed) == 0 || !lastClose.Before(cut) {
		return nil, nil
	}
	touched := make([]bool, len(closed))
	err := s.repo.UsageReported(ctx, sub.SubscriptionID, lastClose, cut, func(start, end time.Time) {
		for i, q := range closed {
			// A record touches Q when its interval overlaps [Q.Start, Q.End);
			// an instant record (start == end) counts in its start hour.
			if start.Before(q.End) && (end.After(q.Start) || start.Equal(end) && !start.Before(q.Start)) {
				touched[i] = true
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var out []Line
	for i, q := range closed {
		if !touched[i] {
			continue
		}
		before, err := s.charges.Estimate(ctx, sub.SubscriptionID, q.Start, q.End, lastClose)
		if err != nil {
			return nil, err
		}
		after, err := s.charges.Estimate(ctx, sub.SubscriptionID, q.Start, q.End, cut)
		if err != nil {
			return nil, err
		}
		out = append(out, diffLines(before.Lines, after.Lines, q.Name)...)
	}
	return out, nil
}

type lineKey struct {
	kind      rating.LineKind
	meter     string
	effective int64
}

func keyOf(l *charges.Line) lineKey {
	return lineKey{l.Kind, l.MeterID, l.Effective.UnixMicro()}
}

// diffLines returns after − before, line by line (matched by kind, meter
// and rate version), as late-usage lines naming period; lines that did not
// change are left out.
func diffLines(before, after []charges.Line, period string) []Line {
	old := make(map[lineKey]*charges.Line, len(before))
	for i := range before {
		old[keyOf(&before[i])] = &before[i]
	}
	seen := map[lineKey]bool{}
	var out []Line
	emit := func(a, b *charges.Line) { // b − a; either may be nil
		var l Line
		src := b
		if src == nil {
			src = a
		}
		l = invoiceLine(*src)
		l.Kind = LineLateUsage
		l.OriginalPeriod = period
		qa, ia, ma := money.Zero, money.Zero, money.Zero
		if a != nil {
			qa, ia, ma = a.Quantity, a.IncludedQuantityUsed, a.Amount
		}
		qb, ib, mb := money.Zero, money.Zero, money.Zero
		if b != nil {
			qb, ib, mb = b.Quantity, b.IncludedQuantityUsed, b.Amount
		}
		l.Quantity, l.IncludedQuantity, l.Amount = qb.Sub(qa), ib.Sub(ia), mb.Sub(ma)
		if l.Quantity.IsZero() && l.IncludedQuantity.IsZero() && l.Amount.IsZero() {
			return
		}
		var ta, tb []rating.TierCharge
		if a != nil {
			ta = a.Tiers
		}
		if b != nil {
			tb = b.Tiers
		}
		l.Tiers = diffTiers(ta, tb)
		if src.Kind == rating.LineUsage {
			l.Description = ""
		} else {
			l.Description = string(src.Kind)
		}
		out = append(out, l)
	}
	for i := range after {
		k := keyOf(&after[i])
		seen[k] = true
		emit(old[k], &after[i])
	}
	for i := range before {
		if !seen[keyOf(&before[i])] {
			emit(&before[i], nil)
		}
	}
	return out
}

// diffTiers returns the tier breakdown of b − a: per tier, the billable
// positions added after those a already billed.
func diffTiers(a, b []rating.TierCharge) []rating.TierCharge {
	old := map[string]rating.TierCharge{}
	for _, t := range a {
		old[t.TierMin.String()] = t
	}
	var out []rating.TierCharge
	for _, t := range b {
		o, had := old[t.TierMin.String()]
		d := t
		if had {
			d.From = o.To
			d.Quantity = t.Quantity.Sub(o.Quantity)
			d.Amount = t.Amount.Sub(o.Amount)
			delete(old, t.TierMin.String())
		}
		if d.Quantity.IsZero() && d.Amount.IsZero() {
			continue
		}
		out = append(out, d)
	}
	for _, o := range old { // a tier no longer used (prices changed): reversed
		o.Quantity, o.Amount = o.Quantity.Neg(), o.Amount.Neg()
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(x, y rating.TierCharge) int { return x.TierMin.Cmp(y.TierMin) })
	return out
}
