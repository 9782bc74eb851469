package invoicing

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/rating"
)

// CostRows returns a subscription's cost rows for [from, to), rated per
// billing period as its invoices are:
//
//   - the usage rows whose charge period starts in [from, to): a closed
//     period's usage reported before its close (so that its rows add up to
//     its invoice), an open period's usage reported until now;
//   - under the carry policy, the late-usage rows billed in a period that
//     starts in [from, to): usage of an already closed period reported
//     after its close, which the next close carries. Each is the
//     difference that late usage made to a row of the closed period
//     (Kind "Late usage", OriginalPeriod naming it), so that with the usage
//     rows they add up to the invoice that carries them.
//
// Each row names its billing period and, once that period is closed, its
// invoice.
func (s *Service) CostRows(ctx context.Context, subscriptionID string, from, to time.Time, granularity string) ([]charges.CostRow, error) {
	periods, err := s.Periods(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(periods, func(x, y Period) int { return x.Start.Compare(y.Start) })
	now := s.clock()
	invoices := map[string]string{} // period name → invoice name
	invoiceOf := func(p Period) (string, error) {
		if p.ClosedAt == nil {
			return "", nil
		}
		if name, ok := invoices[p.Name]; ok {
			return name, nil
		}
		inv, err := s.periodInvoice(ctx, p)
		if err != nil {
			return "", err
		}
		invoices[p.Name] = inv.Name
		return inv.Name, nil
	}
	var out []charges.CostRow
	for _, p := range periods {
		if !p.Start.Before(to) || !p.End.After(from) {
			continue
		}
		cut := now
		if p.ClosedAt != nil {
			cut = *p.ClosedAt
		}
		rows, err := s.charges.CostRows(ctx, subscriptionID, p.Start, p.End, granularity, cut)
		if err != nil {
			return nil, err
		}
		invoice, err := invoiceOf(p)
		if err != nil {
			return nil, err
		}
		kept := rows[:0]
		for i := range rows {
			r := &rows[i]
			r.BillingPeriodName, r.InvoiceName = p.Name, invoice
			if st := r.ChargePeriodStart; !st.Before(from) && st.Before(to) {
				kept = append(kept, *r)
			}
		}
		if out == nil {
			out = kept // most ranges are one period: no copy
		} else {
			out = append(out, kept...)
		}
	}
	if s.cfg.LateUsage != LateUsageCarry {
		return out, nil
	}
	for _, w := range lateWindows(periods, now) {
		if w.carrier.Start.Before(from) || !w.carrier.Start.Before(to) {
			continue
		}
		invoice, err := invoiceOf(w.carrier)
		if err != nil {
			return nil, err
		}
		rows, err := s.lateRows(ctx, subscriptionID, w, granularity)
		if err != nil {
			return nil, err
		}
		for i := range rows {
			r := &rows[i]
			r.BillingPeriodStart, r.BillingPeriodEnd, r.BillingPeriodName = w.carrier.Start, w.carrier.End, w.carrier.Name
			r.InvoiceName = invoice
		}
		out = append(out, rows...)
	}
	return out, nil
}

// lateWindow is a reporting window [from, to) whose late usage one
// period's invoice carries: the window between the subscription's
// previous close and the close of carrier (or now, for the next close).
type lateWindow struct {
	from, to time.Time
	carrier  Period
	// closed are the periods closed by from: those the window's usage is
	// late for.
	closed []Period
}

// lateWindows returns the late-usage windows of a subscription's periods
// (sorted by start): one for each close after the first, and one for the
// usage reported since the last close, which the next close will carry —
// that of the first open period after the last closed one, as periods
// close in order (or the first open one, when none follows).
func lateWindows(periods []Period, now time.Time) []lateWindow {
	var closed []Period
	var open *Period
	for i, p := range periods {
		switch {
		case p.ClosedAt != nil:
			closed = append(closed, p)
			if open != nil && open.Start.Before(p.Start) {
				open = nil // an earlier gap: prefer an open period after this one
			}
		case open == nil:
			open = &periods[i]
		}
	}
	if open == nil {
		for i := range periods {
			if periods[i].ClosedAt == nil {
				open = &periods[i]
				break
			}
		}
	}
	slices.SortFunc(closed, func(x, y Period) int { return x.ClosedAt.Compare(*y.ClosedAt) })
	var out []lateWindow
	for i := 1; i < len(closed); i++ {
		out = append(out, lateWindow{from: *closed[i-1].ClosedAt, to: *closed[i].ClosedAt, carrier: closed[i], closed: closed[:i]})
	}
	if open != nil && len(closed) > 0 && closed[len(closed)-1].ClosedAt.Before(now) {
		out = append(out, lateWindow{from: *closed[len(closed)-1].ClosedAt, to: now, carrier: *open, closed: closed})
	}
	return out
}

// lateRows returns the rows of a window's late usage: for each period Q it
// is late for, Q's rows rated with the usage reported before w.to minus
// Q's rows rated with the usage reported before w.from, row by row — the
// same difference of two ratings that the close bills as late-usage
// lines, allocated to days (or hours), meters and resources.
func (s *Service) lateRows(ctx context.Context, subscriptionID string, w lateWindow, granularity string) ([]charges.CostRow, error) {
	touched := make([]bool, len(w.closed))
	err := s.repo.UsageReported(ctx, subscriptionID, w.from, w.to, func(start, end time.Time) {
		for i, q := range w.closed {
			if start.Before(q.End) && (end.After(q.Start) || start.Equal(end) && !start.Before(q.Start)) {
				touched[i] = true
			}
		}
	})
	if err != nil {
		return nil, err
	}
	var out []charges.CostRow
	for i, q := range w.closed {
		if !touched[i] {
			continue
		}
		before, err := s.charges.CostRows(ctx, subscriptionID, q.Start, q.End, granularity, w.from)
		if err != nil {
			return nil, err
		}
		after, err := s.charges.CostRows(ctx, subscriptionID, q.Start, q.End, granularity, w.to)
		if err != nil {
			return nil, err
		}
		out = append(out, diffRows(before, after, q.Name)...)
	}
	return out, nil
}

// rowKey identifies a cost row across two ratings of one period.
type rowKey struct {
	kind, meter, instance, listPrice string
	charge                           time.Time
	priced                           bool
	// nth tells apart rows alike in all the above (rate versions of one
	// day with the same list price): both ratings order rows alike.
	nth int
}

func keyOfRow(r *charges.CostRow) rowKey {
	// The instance is the resource with its location and tags: charges
	// keeps apart the rows of one resource whose tags changed.
	var b strings.Builder
	b.WriteString(r.ResourceURI)
	b.WriteByte(0)
	b.WriteString(r.Location)
	for _, k := range slices.Sorted(maps.Keys(r.Tags)) {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(r.Tags[k])
	}
	return rowKey{r.Kind, r.MeterID, b.String(), r.ListUnitPrice.String(), r.ChargePeriodStart, r.Priced, 0}
}

// diffRows returns after − before row by row, as late-usage rows of the
// period named original; rows that did not change are left out. Quantities
// and costs are differences; the unit prices are the after row's.
func diffRows(before, after []charges.CostRow, original string) []charges.CostRow {
	keys := func(rows []charges.CostRow) []rowKey {
		out := make([]rowKey, len(rows))
		seen := make(map[rowKey]int, len(rows))
		for i := range rows {
			k := keyOfRow(&rows[i])
			k.nth = seen[k]
			seen[k]++
			out[i] = k
		}
		return out
	}
	beforeKeys, afterKeys := keys(before), keys(after)
	old := make(map[rowKey]*charges.CostRow, len(before))
	for i, k := range beforeKeys {
		old[k] = &before[i]
	}
	var out []charges.CostRow
	emit := func(b *charges.CostRow, a *charges.CostRow) {
		r := *b
		if a != nil {
			r.Quantity = b.Quantity.Sub(a.Quantity)
			r.BillableQuantity = b.BillableQuantity.Sub(a.BillableQuantity)
			r.ListCost = b.ListCost.Sub(a.ListCost)
			r.Cost = b.Cost.Sub(a.Cost)
		}
		if r.Quantity.IsZero() && r.BillableQuantity.IsZero() && r.Cost.IsZero() && r.ListCost.IsZero() {
			return
		}
		if r.Kind == string(rating.LineUsage) {
			r.Kind = string(LineLateUsage)
		}
		r.OriginalPeriod = original
		out = append(out, r)
	}
	for i, k := range afterKeys {
		emit(&after[i], old[k])
		delete(old, k)
	}
	// A row of the earlier rating that the later one no longer has (it
	// cannot lose usage, but an offer-term row can disappear): its negation.
	for i, k := range beforeKeys {
		if _, ok := old[k]; !ok {
			continue
		}
		zero := before[i]
		zero.Quantity, zero.BillableQuantity, zero.ListCost, zero.Cost = money.Zero, money.Zero, money.Zero, money.Zero
		emit(&zero, &before[i])
	}
	slices.SortStableFunc(out, func(a, b charges.CostRow) int {
		if c := a.ChargePeriodStart.Compare(b.ChargePeriodStart); c != 0 {
			return c
		}
		if c := strings.Compare(a.MeterID, b.MeterID); c != 0 {
			return c
		}
		return strings.Compare(a.ResourceURI, b.ResourceURI)
	})
	return out
}
