package charges

import (
	"context"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/rating"
	"github.com/reckon-billing/reckon/internal/usage"

	"github.com/reckon-billing/reckon/internal/money"
)

// CostRow is the cost of one meter's usage by one resource (instance) in one
// charge period (a UTC day or hour): the unit of exports (FOCUS, cost
// details), cost reports and the Consumption usageDetails API.
//
// Costs are allocated from the rating engine's lines so that they add up:
// within a line (a meter, and a rate version when the price changed), the
// rows take the exact cost of the positions their usage occupies in the
// period (usage-time order, then resource), the line's rounding difference
// goes to its last row, and so the rows of a line sum exactly to the
// line's rounded amount on the invoice. Offer-term lines (recurring
// charge, commitment discount, credit) are rows of their own, without a
// meter or resource.
type CostRow struct {
	SubscriptionID string
	BillingAccount string
	Currency       string
	// BillingPeriodStart/End are the billing period the row belongs to;
	// BillingPeriodName its name (filled by invoicing.Service.CostRows).
	BillingPeriodStart, BillingPeriodEnd time.Time
	BillingPeriodName                    string
	// ChargePeriodStart/End are the day or hour of the usage.
	ChargePeriodStart, ChargePeriodEnd time.Time
	// Kind is the rating line kind: "Usage", "Recurring Charge",
	// "Monetary Commitment", "Monetary Credit" (or invoicing's "Late usage").
	Kind string
	// Meter (empty for offer terms).
	MeterID, MeterName, MeterCategory, MeterSubCategory, MeterRegion, Unit string
	// Resource (empty when the usage named none): from instanceData.
	ResourceURI, ResourceGroup, Location string
	Tags                                 map[string]string
	// Quantity is the usage; BillableQuantity the part beyond the included
	// quantity.
	Quantity, BillableQuantity money.Decimal
	// ListUnitPrice is the price of the rate version's first tier;
	// UnitPrice is Cost / BillableQuantity when that is not zero (the
	// effective price after tiers), else zero; Priced is false when the
	// meter has no rate (then the costs are zero and exports show null).
	ListUnitPrice, UnitPrice money.Decimal
	Priced                   bool
	// ListCost is BillableQuantity × ListUnitPrice; Cost the allocated
	// cost (exact, except that a line's last row absorbs the line's
	// rounding so that rows add up to the invoice).
	ListCost, Cost money.Decimal
	// InvoiceName is the invoice that billed the row ("" when its period
	// is open; filled by invoicing.Service.CostRows, charges does not know
	// invoices); OriginalPeriod names the period of carried late usage.
	InvoiceName    string
	OriginalPeriod string
}

// Granularities of cost rows.
const (
	Daily  = "Daily"
	Hourly = "Hourly"
)

// CostRows returns the cost rows of a subscription's usage in [start, end)
// (whole days for Daily, hours for Hourly), reported before reportedBefore,
// rated over that range as one period (tiers and included quantities
// accumulate over it, as on an estimate), ordered by charge period, meter,
// resource, with the offer-term rows last. Usage of a meter without a rate
// in force at its time is returned unpriced (Priced false, costs zero).
// InvoiceName is left empty: the caller knows the invoices.
func (s *Service) CostRows(ctx context.Context, subscriptionID string, start, end time.Time, granularity string, reportedBefore time.Time) ([]CostRow, error) {
	start, end = start.UTC(), end.UTC()
	bucket := time.Hour
	switch granularity {
	case Hourly:
	case Daily:
		bucket = 24 * time.Hour
	default:
		return nil, billing.Invalid("InvalidGranularity", "granularity", "The granularity must be Daily or Hourly.")
	}
	if start.Truncate(bucket) != start || end.Truncate(bucket) != end || !start.Before(end) {
		return nil, billing.Invalid("InvalidPeriod", "period", "The range must start before it ends, on whole %s.", map[bool]string{true: "days", false: "hours"}[bucket > time.Hour])
	}
	sub, err := s.accounts.Get(ctx, subscriptionID)
	if err != nil {
		return nil, err
	}
	hours, err := s.usage.UsageDetailByHour(ctx, sub.SubscriptionID, start, end, reportedBefore)
	if err != nil {
		return nil, err
	}
	cur, err := money.ParseCurrency(sub.Currency)
	if err != nil {
		return nil, billing.Conflict("InvalidCurrency", "currency", "The subscription's currency '%s' is not an ISO 4217 currency.", sub.Currency)
	}
	var meterIDs []string
	seen := map[string]bool{}
	for _, h := range hours {
		if !seen[h.MeterID] {
			seen[h.MeterID] = true
			meterIDs = append(meterIDs, h.MeterID)
		}
	}
	prices, err := s.catalog.RatesFor(ctx, sub.OfferDurableID, sub.Currency, meterIDs, start, end)
	if err != nil {
		return nil, err
	}
	meters, terms := ratingPrices(prices)
	versions := map[string][]rating.RateVersion{}
	for _, m := range meters {
		versions[m.ID] = m.Rates
	}
	// versionAt returns the version in force at t, or nil.
	versionAt := func(meter string, t time.Time) *rating.RateVersion {
		var v *rating.RateVersion
		for i := range versions[meter] {
			if r := &versions[meter][i]; !r.Effective.After(t) && (v == nil || r.Effective.After(v.Effective)) {
				v = r
			}
		}
		return v
	}
	if granularity == Daily {
		hours = byDayWhereOnePrice(hours, versions, start)
	}
	in := rating.Input{Start: start, End: end, Currency: cur, Meters: meters, Terms: terms, Usage: make([]rating.Usage, 0, len(hours))}
	for _, h := range hours {
		if versionAt(h.MeterID, h.Hour) != nil {
			in.Usage = append(in.Usage, rating.Usage{MeterID: h.MeterID, Time: h.Hour, Quantity: h.Quantity})
		}
	}
	ch, err := rating.Rate(in)
	if err != nil {
		return nil, err
	}
	type lineKey struct {
		meter     string
		effective time.Time
	}
	lineAmount := map[lineKey]money.Decimal{}
	for _, l := range ch.Lines {
		if l.MeterID != "" {
			lineAmount[lineKey{l.MeterID, l.Effective.UTC()}] = l.Amount
		}
	}

	// Allocate: each hour row takes the exact cost of its positions; the
	// last row of a line takes the line's rounding.
	type hourCost struct {
		cost, billable, list money.Decimal
		listPrice            money.Decimal
		version              *rating.RateVersion // nil when unpriced
	}
	costs := make([]hourCost, len(hours))
	pos := map[string]money.Decimal{}
	lineSum := map[lineKey]money.Decimal{}
	lastRow := map[lineKey]int{}
	order := make([]int, len(hours))
	for i := range order {
		order[i] = i
	}
	// Positions accumulate in usage-time order; rows of one hour in a fixed order.
	slices.SortStableFunc(order, func(a, b int) int { return hours[a].Hour.Compare(hours[b].Hour) })
	for _, i := range order {
		h := hours[i]
		v := versionAt(h.MeterID, h.Hour)
		if v == nil {
			continue
		}
		a := pos[h.MeterID]
		b := a.Add(h.Quantity.Decimal())
		exact, billable, err := rating.PositionCost(v, a, b, cur)
		if err != nil {
			return nil, err
		}
		pos[h.MeterID] = b
		k := lineKey{h.MeterID, v.Effective.UTC()}
		lineSum[k] = lineSum[k].Add(exact)
		lastRow[k] = i
		c := hourCost{cost: exact, billable: billable, version: v}
		if len(v.Tiers) > 0 {
			c.listPrice = v.Tiers[0].Price
			c.list = billable.Mul(c.listPrice)
		}
		costs[i] = c
	}
	for k, i := range lastRow {
		costs[i].cost = costs[i].cost.Add(lineAmount[k].Sub(lineSum[k]))
	}

	names := map[string]catalog.Meter{}
	period := func(t time.Time) billing.Period { return billing.PeriodContaining(t, sub.BillingDay) }
	type rowKey struct {
		bucket  int64 // unix seconds
		meter   string
		inst    int                 // usage.MeterHour.Instance
		version *rating.RateVersion // rows of one rate version: one list price
	}
	byKey := make(map[rowKey]int, len(hours))
	type instance struct {
		uri, group, location string
		tags                 map[string]string
	}
	parsed := map[int]instance{} // a resource's rows share one parse (and one tags map)
	out := make([]CostRow, 0, len(hours)+len(ch.Lines))
	for i, h := range hours {
		m, ok := names[h.MeterID]
		if !ok {
			if m, err = s.catalog.Meter(ctx, h.MeterID); err != nil {
				return nil, err
			}
			names[h.MeterID] = m
		}
		b := h.Hour.Truncate(bucket)
		c := costs[i]
		k := rowKey{b.Unix(), h.MeterID, h.Instance, c.version}
		j, ok := byKey[k]
		if !ok {
			p := period(b)
			r := CostRow{SubscriptionID: sub.SubscriptionID, BillingAccount: sub.BillingAccount, Currency: cur.String(),
				BillingPeriodStart: p.Start, BillingPeriodEnd: p.End, ChargePeriodStart: b, ChargePeriodEnd: b.Add(bucket),
				Kind: string(rating.LineUsage), MeterID: h.MeterID, MeterName: m.MeterName, MeterCategory: m.MeterCategory,
				MeterSubCategory: m.MeterSubCategory, MeterRegion: m.MeterRegion, Unit: m.Unit,
				ListUnitPrice: c.listPrice, Priced: c.version != nil}
			pi, ok := parsed[h.Instance]
			if !ok {
				pi.uri, pi.group, pi.location, pi.tags = parseInstance(h.InstanceData)
				parsed[h.Instance] = pi
			}
			r.ResourceURI, r.ResourceGroup, r.Location, r.Tags = pi.uri, pi.group, pi.location, pi.tags
			out = append(out, r)
			j = len(out) - 1
			byKey[k] = j
		}
		r := &out[j]
		r.Quantity = r.Quantity.Add(h.Quantity.Decimal())
		r.BillableQuantity = r.BillableQuantity.Add(c.billable)
		r.Cost = r.Cost.Add(c.cost)
		r.ListCost = r.ListCost.Add(c.list)
	}
	for i := range out {
		if r := &out[i]; r.BillableQuantity.Sign() > 0 {
			r.UnitPrice = r.Cost.QuoRound(r.BillableQuantity, unitPriceDecimals)
		}
	}
	sortRows(out)
	p := period(start)
	for _, l := range ch.Lines {
		if l.MeterID != "" {
			continue
		}
		out = append(out, CostRow{SubscriptionID: sub.SubscriptionID, BillingAccount: sub.BillingAccount, Currency: cur.String(),
			BillingPeriodStart: p.Start, BillingPeriodEnd: p.End, ChargePeriodStart: start, ChargePeriodEnd: end,
			Kind: string(l.Kind), Cost: l.Amount, ListCost: l.Amount, Priced: true})
	}
	return out, nil
}

// sortRows orders rows by charge period, meter and resource, stably. Rows
// are large: it sorts their indexes, then moves each row once.
func sortRows(rows []CostRow) {
	compare := func(a, b *CostRow) int {
		if c := a.ChargePeriodStart.Compare(b.ChargePeriodStart); c != 0 {
			return c
		}
		if c := strings.Compare(a.MeterID, b.MeterID); c != 0 {
			return c
		}
		return strings.Compare(a.ResourceURI, b.ResourceURI)
	}
	sorted := true // rows come in usage order, which is mostly this one
	for i := 1; i < len(rows) && sorted; i++ {
		sorted = compare(&rows[i-1], &rows[i]) <= 0
	}
	if sorted {
		return
	}
	idx := make([]int32, len(rows))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortStableFunc(idx, func(x, y int32) int { return compare(&rows[x], &rows[y]) })
	moved := make([]CostRow, len(rows))
	for i, j := range idx {
		moved[i] = rows[j]
	}
	copy(rows, moved)
}

// byDayWhereOnePrice merges the hours of one day, meter and resource into
// one row for the meters with a single rate version in force over the
// whole range: their allocation then follows the days, not the hours
// (positions still accumulate in time order, and a line's rows still add
// up to it), at a 24th of the cost. Meters whose price changes keep their
// hours, so that each hour is priced at the version in force.
func byDayWhereOnePrice(hours []usage.MeterHour, versions map[string][]rating.RateVersion, start time.Time) []usage.MeterHour {
	type key struct {
		day   int64 // unix seconds
		meter string
		inst  int // usage.MeterHour.Instance
	}
	at := make(map[key]int, len(hours))
	out := make([]usage.MeterHour, 0, len(hours))
	for _, h := range hours {
		v := versions[h.MeterID]
		if len(v) != 1 || v[0].Effective.After(start) {
			out = append(out, h)
			continue
		}
		day := h.Hour.Truncate(24 * time.Hour)
		k := key{day.Unix(), h.MeterID, h.Instance}
		if i, ok := at[k]; ok && out[i].Quantity <= math.MaxInt64-h.Quantity {
			out[i].Quantity += h.Quantity
			continue
		}
		at[k] = len(out)
		h.Hour = day
		out = append(out, h)
	}
	return out
}

// unitPriceDecimals is how many fractional digits an effective unit price
// (cost ÷ quantity, which need not be a finite decimal) keeps.
const unitPriceDecimals = 10

// parseInstance reads a record's instanceData: its resource, resource
// group (from the ARM resource id), location and tags.
func parseInstance(data string) (uri, group, location string, tags map[string]string) {
	if data == "" {
		return
	}
	var v struct {
		R struct {
			ResourceURI string            `json:"resourceUri"`
			Location    string            `json:"location"`
			Tags        map[string]string `json:"tags"`
		} `json:"Microsoft.Resources"`
	}
	if json.Unmarshal([]byte(data), &v) != nil {
		return
	}
	uri, location, tags = v.R.ResourceURI, v.R.Location, v.R.Tags
	parts := strings.Split(uri, "/")
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "resourceGroups") {
			group = parts[i+1]
			break
		}
	}
	return
}
