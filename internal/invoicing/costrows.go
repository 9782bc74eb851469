package invoicing

import (
	"context"
	"slices"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
)

// CostRows returns a subscription's cost rows whose charge period starts
// in [from, to), rated per billing period as its invoice is: a closed
// period's usage reported before its close (so its rows add up to its
// invoice), an open period's usage reported until now. Each row names its
// billing period and, once the period is closed, its invoice.
func (s *Service) CostRows(ctx context.Context, subscriptionID string, from, to time.Time, granularity string) ([]charges.CostRow, error) {
	periods, err := s.Periods(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(periods, func(x, y Period) int { return x.Start.Compare(y.Start) })
	var out []charges.CostRow
	for _, p := range periods {
		if !p.Start.Before(to) || !p.End.After(from) {
			continue
		}
		cut := s.clock()
		if p.ClosedAt != nil {
			cut = *p.ClosedAt
		}
		rows, err := s.charges.CostRows(ctx, subscriptionID, p.Start, p.End, granularity, cut)
		if err != nil {
			return nil, err
		}
		invoice := ""
		if p.ClosedAt != nil {
			inv, err := s.periodInvoice(ctx, p)
			if err != nil {
				return nil, err
			}
			invoice = inv.Name
		}
		for i := range rows {
			r := &rows[i]
			r.BillingPeriodName = p.Name
			if r.InvoiceName == "" {
				r.InvoiceName = invoice
			}
			if st := r.ChargePeriodStart; !st.Before(from) && st.Before(to) {
				out = append(out, *r)
			}
		}
	}
	return out, nil
}
