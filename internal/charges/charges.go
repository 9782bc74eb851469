// Package charges prices a subscription's usage: it gathers the usage of a
// period (package usage), the price list of the subscription's offer and
// currency (package catalog), and hands both to the pure rating engine
// (package rating). Estimates of open periods and the invoices of closed
// ones are both made here.
package charges

import (
	"context"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/rating"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Service prices usage.
type Service struct {
	accounts *account.Service
	catalog  *catalog.Service
	usage    *usage.Service
	clock    billing.Clock
}

// NewService returns a Service over the three domain services.
func NewService(accounts *account.Service, cat *catalog.Service, u *usage.Service, clock billing.Clock) *Service {
	return &Service{accounts: accounts, catalog: cat, usage: u, clock: clock}
}

// Statement is a subscription's charges for a period: the rating engine's
// lines with each meter's names, and what they were computed from.
type Statement struct {
	SubscriptionID string `json:"subscriptionId"`
	OfferDurableID string `json:"offerDurableId"`
	Currency       string `json:"currency"`
	// PeriodStart and PeriodEnd bound the usage time rated; tiers and
	// included quantities accumulate over exactly this range.
	PeriodStart time.Time `json:"periodStart"`
	PeriodEnd   time.Time `json:"periodEnd"`
	// ReportedBefore is the cut-off: usage reported later is not counted.
	ReportedBefore time.Time `json:"reportedBefore"`
	Lines          []Line    `json:"lines"`
	// UsageTotal sums the usage lines, Total every line (rounded amounts).
	UsageTotal money.Decimal `json:"usageTotal"`
	Total      money.Decimal `json:"total"`
}

// Line is a charge line with the names of its meter (usage lines).
type Line struct {
	rating.Line
	MeterName        string `json:"meterName,omitempty"`
	MeterCategory    string `json:"meterCategory,omitempty"`
	MeterSubCategory string `json:"meterSubCategory,omitempty"`
	MeterRegion      string `json:"meterRegion,omitempty"`
	Unit             string `json:"unit,omitempty"`
}

// Estimate rates the usage of subscriptionID whose usage time is in
// [start, end) and that was reported before reportedBefore, under the
// subscription's offer and currency. start and end must be whole hours.
func (s *Service) Estimate(ctx context.Context, subscriptionID string, start, end, reportedBefore time.Time) (Statement, error) {
	sub, err := s.accounts.Get(ctx, subscriptionID)
	if err != nil {
		return Statement{}, err
	}
	start, end = start.UTC(), end.UTC()
	rows, err := s.usage.UsageByHour(ctx, sub.SubscriptionID, start, end, reportedBefore)
	if err != nil {
		return Statement{}, err
	}
	cur, err := money.ParseCurrency(sub.Currency)
	if err != nil {
		return Statement{}, billing.Conflict("InvalidCurrency", "currency", "The subscription's currency '%s' is not an ISO 4217 currency.", sub.Currency)
	}
	in := rating.Input{Start: start, End: end, Currency: cur, Usage: make([]rating.Usage, len(rows))}
	var meterIDs []string
	seen := map[string]bool{}
	for i, r := range rows {
		in.Usage[i] = rating.Usage{MeterID: r.MeterID, Time: r.Hour, Quantity: r.Quantity}
		if !seen[r.MeterID] {
			seen[r.MeterID] = true
			meterIDs = append(meterIDs, r.MeterID)
		}
	}
	prices, err := s.catalog.RatesFor(ctx, sub.OfferDurableID, sub.Currency, meterIDs, start, end)
	if err != nil {
		return Statement{}, err
	}
	in.Meters, in.Terms = ratingPrices(prices)
	ch, err := rating.Rate(in)
	if err != nil {
		return Statement{}, err
	}
	st := Statement{
		SubscriptionID: sub.SubscriptionID, OfferDurableID: prices.OfferDurableID, Currency: cur.String(),
		PeriodStart: start, PeriodEnd: end, ReportedBefore: reportedBefore.UTC(),
		Lines: make([]Line, len(ch.Lines)), UsageTotal: ch.UsageTotal, Total: ch.Total,
	}
	names := map[string]catalog.Meter{}
	for i, l := range ch.Lines {
		st.Lines[i] = Line{Line: l}
		if l.MeterID == "" {
			continue
		}
		m, ok := names[l.MeterID]
		if !ok {
			if m, err = s.catalog.Meter(ctx, l.MeterID); err != nil {
				return Statement{}, err
			}
			names[l.MeterID] = m
		}
		st.Lines[i].MeterName, st.Lines[i].MeterCategory, st.Lines[i].MeterSubCategory = m.MeterName, m.MeterCategory, m.MeterSubCategory
		st.Lines[i].MeterRegion, st.Lines[i].Unit = m.MeterRegion, m.Unit
	}
	return st, nil
}

// ratingPrices turns a catalog price list into the rating engine's input.
func ratingPrices(prices catalog.PriceList) ([]rating.Meter, []rating.Term) {
	var meters []rating.Meter
	for id, versions := range prices.Rates {
		m := rating.Meter{ID: id, Rates: make([]rating.RateVersion, len(versions))}
		for i, v := range versions {
			rv := rating.RateVersion{Effective: v.EffectiveDate, IncludedQuantity: v.IncludedQuantity, Tiers: make([]rating.Tier, len(v.Tiers))}
			for j, t := range v.Tiers {
				rv.Tiers[j] = rating.Tier{Min: t.Min, Price: t.Price}
			}
			m.Rates[i] = rv
		}
		meters = append(meters, m)
	}
	var terms []rating.Term
	for _, t := range prices.Terms {
		rt := rating.Term{Kind: rating.TermKind(t.Name), Effective: t.EffectiveDate, Credit: t.Credit,
			ExcludedMeterIDs: t.ExcludedMeterIDs, Amount: t.RecurringCharge}
		for _, d := range t.TieredDiscount {
			rt.TieredDiscount = append(rt.TieredDiscount, rating.DiscountTier{Min: d.Min, Percent: d.Percent})
		}
		terms = append(terms, rt)
	}
	return meters, terms
}

// CurrentPeriod returns the billing period of subscriptionID that contains
// the present instant.
func (s *Service) CurrentPeriod(ctx context.Context, subscriptionID string) (billing.Period, error) {
	sub, err := s.accounts.Get(ctx, subscriptionID)
	if err != nil {
		return billing.Period{}, err
	}
	return billing.PeriodContaining(s.clock(), sub.BillingDay), nil
}
