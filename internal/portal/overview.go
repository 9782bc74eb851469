package portal

import (
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// forecastDays is how many complete days the forecast's run rate covers.
const forecastDays = 7

// topN is how many rows the overview's top tables show.
const topN = 5

type topRow struct {
	Key, Name string
	Amount    string
	Cost      string
	Share     int // percent of the range's total, for the bar
}

type overviewData struct {
	Sub                *subInfo
	Currency           string
	PeriodName         string
	PeriodStart        string
	PeriodEnd          string
	CostToDate         string
	CostToDateExact    string
	Forecast           string
	ForecastExact      string
	ForecastNote       string
	LastInvoice        *invoiceRow
	InvoicesHidden     bool
	Days               int
	RangeTotal         string
	RangeFrom, RangeTo string
	Chart              template.HTML
	Legend             []legendItem
	TopResourceGroups  []topRow
	TopTags            []topRow
	TopMeters          []topRow
	Base               string
}

// overview is the subscription's overview: cost so far this billing
// period, a forecast to its end, the last invoice, the daily cost chart and
// the top resource groups, tags and meters of the chart's range.
func (p *Portal) overview(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	s := rc.sub
	days := 30
	if r.URL.Query().Get("days") == "90" {
		days = 90
	}
	now := p.now()
	today := p.today()
	from := today.AddDate(0, 0, -(days - 1))
	to := today.AddDate(0, 0, 1)
	periods, err := p.deps.Invoicing.Periods(ctx, s.SubscriptionID)
	if err != nil {
		return err
	}
	var cur invoicing.Period
	for _, pd := range periods {
		if !now.Before(pd.Start) && now.Before(pd.End) {
			cur = pd
			break
		}
	}
	if cur.Name == "" && len(periods) > 0 {
		cur = periods[0]
	}
	// One read covers the chart's range and the current period.
	rowsFrom := from
	if !cur.Start.IsZero() && cur.Start.Before(rowsFrom) {
		rowsFrom = cur.Start
	}
	if rf := today.AddDate(0, 0, -forecastDays); rf.Before(rowsFrom) {
		rowsFrom = rf
	}
	rows, _, err := p.costRows(ctx, s.SubscriptionID, rowsFrom, to)
	if err != nil {
		return err
	}
	loc := rc.loc
	cc := s.Currency
	d := overviewData{Sub: s, Currency: cc, Days: days, Base: "/portal/subscriptions/" + s.SubscriptionID,
		RangeFrom: loc.date(from), RangeTo: loc.date(today)}

	// Cost to date and forecast.
	var toDate, recent money.Decimal
	recentFrom := today.AddDate(0, 0, -forecastDays)
	for i := range rows {
		row := &rows[i]
		st := row.ChargePeriodStart
		if !cur.Start.IsZero() && !st.Before(cur.Start) && st.Before(cur.End) {
			toDate = toDate.Add(row.Cost)
		}
		if row.Kind == "Usage" && !st.Before(recentFrom) && st.Before(today) {
			recent = recent.Add(row.Cost)
		}
	}
	forecast := toDate
	if !cur.End.IsZero() && now.Before(cur.End) {
		// Run rate: the usage cost of the last seven complete days, per
		// hour, times the hours left in the period (exact decimals,
		// rounded only for display).
		hoursLeft := int64(cur.End.Sub(now.Truncate(time.Hour)) / time.Hour)
		perHour := recent.QuoRound(money.DecimalFromInt(forecastDays*24), 12)
		forecast = toDate.Add(perHour.Mul(money.DecimalFromInt(hoursLeft)))
	}
	d.PeriodName = cur.Name
	if !cur.Start.IsZero() {
		d.PeriodStart, d.PeriodEnd = loc.date(cur.Start), loc.date(cur.End.Add(-day))
	}
	d.CostToDate, d.CostToDateExact = loc.amount(cc, toDate), toDate.String()
	d.Forecast, d.ForecastExact = loc.amount(cc, forecast), forecast.String()
	d.ForecastNote = "Cost so far plus the average hourly usage cost of the last " + strconv.Itoa(forecastDays) + " complete days times the hours left in the period."

	// Last invoice.
	if ok, err := p.canSeeInvoices(ctx, rc); err != nil {
		return err
	} else if ok {
		invs, err := p.deps.Invoicing.Invoices(ctx, s.SubscriptionID)
		if err != nil {
			return err
		}
		sortInvoices(invs)
		for i := range invs {
			if invs[i].Kind == invoicing.KindInvoice {
				row := p.invoiceRow(rc, &invs[i])
				d.LastInvoice = &row
				break
			}
		}
	} else {
		d.InvoicesHidden = true
	}

	// The chart and the top tables over [from, to).
	chart := newStackedBars("daily-cost-chart", "Daily cost by meter category, last "+strconv.Itoa(days)+" days, in "+cc, cc, loc, from, days)
	var inRange []charges.CostRow
	var rangeTotal money.Decimal
	for i := range rows {
		row := &rows[i]
		if row.ChargePeriodStart.Before(from) {
			continue
		}
		inRange = append(inRange, *row)
		rangeTotal = rangeTotal.Add(row.Cost)
		chart.add(row.ChargePeriodStart.Truncate(day), categoryOf(row), row.Cost)
	}
	d.Chart = chart.SVG()
	d.Legend = chart.Legend()
	d.RangeTotal = loc.amount(cc, rangeTotal)
	d.TopResourceGroups = top(inRange, groupKey(groupResourceGroup, ""), rangeTotal, loc, cc, false)
	d.TopMeters = top(inRange, groupKey(groupMeter, ""), rangeTotal, loc, cc, false)
	d.TopTags = topTags(inRange, rangeTotal, loc, cc)
	p.render(w, r, rc, http.StatusOK, "overview", "Overview", d)
	return nil
}

// top returns the largest groups.
func top(rows []charges.CostRow, key func(*charges.CostRow) (string, string), total money.Decimal, loc locale, cc string, keepNone bool) []topRow {
	gs, _ := breakdown(rows, key)
	var out []topRow
	for _, g := range gs {
		if len(out) == topN {
			break
		}
		if !keepNone && g.Key == noneGroup {
			continue
		}
		out = append(out, topRow{Key: g.Key, Name: g.Name, Amount: loc.amount(cc, g.Cost), Cost: g.Cost.String(), Share: share(g.Cost, total)})
	}
	return out
}

// topTags returns the tag pairs ("key: value") with the largest cost; a
// row counts for each of its tags.
func topTags(rows []charges.CostRow, total money.Decimal, loc locale, cc string) []topRow {
	var tagged []charges.CostRow
	for i := range rows {
		for k, v := range rows[i].Tags {
			row := rows[i]
			row.ResourceURI = k + ": " + v
			tagged = append(tagged, row)
		}
	}
	return top(tagged, groupKey(groupResource, ""), total, loc, cc, false)
}

// share is part's percentage of whole (0-100), for bar widths only.
func share(part, whole money.Decimal) int {
	if whole.Sign() <= 0 || part.Sign() <= 0 {
		return 0
	}
	pc := part.Mul(money.DecimalFromInt(100)).QuoRound(whole, 0)
	v, _ := strconv.Atoi(pc.String())
	return min(max(v, 0), 100)
}
