package portal

import (
	"encoding/csv"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxUsageDays bounds the explorer's range, as the cost report's.
const maxUsageDays = 366

var groupByOptions = []struct{ Value, Label string }{
	{groupMeterCategory, "Meter category"},
	{groupMeter, "Meter"},
	{groupResourceGroup, "Resource group"},
	{groupResource, "Resource"},
	{groupTag, "Tag"},
}

// usageQuery is the explorer's query.
type usageQuery struct {
	From, To time.Time // [From, To), whole UTC days
	GroupBy  string
	TagKey   string
}

// ToInclusive is the last day of the range, as the form shows it.
func (q usageQuery) values() url.Values {
	v := url.Values{}
	v.Set("from", q.From.Format(time.DateOnly))
	v.Set("to", q.To.Add(-day).Format(time.DateOnly))
	v.Set("groupBy", q.GroupBy)
	if q.GroupBy == groupTag {
		v.Set("tagKey", q.TagKey)
	}
	return v
}

// parseUsageQuery reads from/to (inclusive days, YYYY-MM-DD), groupBy and
// tagKey; the default range is the current billing period so far.
func (p *Portal) parseUsageQuery(r *http.Request, rc *reqCtx) (usageQuery, error) {
	q := r.URL.Query()
	today := p.today()
	uq := usageQuery{GroupBy: groupMeterCategory}
	from, to := today.AddDate(0, 0, -29), today
	if periods, err := p.deps.Invoicing.Periods(r.Context(), rc.sub.SubscriptionID); err == nil {
		now := p.now()
		for _, pd := range periods {
			if !now.Before(pd.Start) && now.Before(pd.End) {
				from = pd.Start
			}
		}
	}
	var err error
	if v := q.Get("from"); v != "" {
		if from, err = time.Parse(time.DateOnly, v); err != nil {
			return uq, errBadRequest("The 'from' date must be YYYY-MM-DD.")
		}
	}
	if v := q.Get("to"); v != "" {
		if to, err = time.Parse(time.DateOnly, v); err != nil {
			return uq, errBadRequest("The 'to' date must be YYYY-MM-DD.")
		}
	}
	if to.Before(from) {
		return uq, errBadRequest("The 'to' date must not be before the 'from' date.")
	}
	uq.From, uq.To = from.UTC(), to.UTC().Add(day)
	if uq.To.Sub(uq.From) > maxUsageDays*day {
		return uq, errBadRequest("A range covers at most 366 days.")
	}
	if g := q.Get("groupBy"); g != "" {
		ok := false
		for _, o := range groupByOptions {
			if strings.EqualFold(o.Value, g) {
				uq.GroupBy, ok = o.Value, true
			}
		}
		if !ok {
			return uq, errBadRequest("Group by meterCategory, meter, resourceGroup, resource or tag.")
		}
	}
	uq.TagKey = strings.TrimSpace(q.Get("tagKey"))
	if len(uq.TagKey) > 512 {
		return uq, errBadRequest("The tag key is longer than 512 characters.")
	}
	if uq.GroupBy == groupTag && uq.TagKey == "" {
		return uq, errBadRequest("Grouping by tag needs a tag key.")
	}
	return uq, nil
}

type usageRow struct {
	Key, Label string
	Quantity   string
	Amount     string
	Cost       string
	Rows       int
	Share      int
}

type usageData struct {
	Sub               *subInfo
	From, To          string
	GroupBy, TagKey   string
	Options           []struct{ Value, Label string }
	Rows              []usageRow
	Total, TotalExact string
	Chart             template.HTML
	Legend            []legendItem
	CSV               string
	RangeText         string
	GroupLabel        string
	GroupLower        string
	TagKeys           []string
}

// usagePage is the usage explorer.
func (p *Portal) usagePage(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	uq, err := p.parseUsageQuery(r, rc)
	if err != nil {
		return err
	}
	rows, _, err := p.costRows(r.Context(), rc.sub.SubscriptionID, uq.From, uq.To)
	if err != nil {
		return err
	}
	loc, cc := rc.loc, rc.sub.Currency
	key := groupKey(uq.GroupBy, uq.TagKey)
	groups, total := breakdown(rows, key)
	d := usageData{Sub: rc.sub, From: uq.From.Format(time.DateOnly), To: uq.To.Add(-day).Format(time.DateOnly), GroupBy: uq.GroupBy,
		TagKey: uq.TagKey, Options: groupByOptions, Total: loc.amount(cc, total), TotalExact: total.String(),
		RangeText: loc.date(uq.From) + " – " + loc.date(uq.To.Add(-day))}
	for _, o := range groupByOptions {
		if o.Value == uq.GroupBy {
			d.GroupLabel = o.Label
		}
	}
	if uq.GroupBy == groupTag {
		d.GroupLabel = "Tag " + uq.TagKey
	}
	d.GroupLower = strings.ToLower(d.GroupLabel[:1]) + d.GroupLabel[1:]
	for _, g := range groups {
		label := g.Key
		if g.Name != "" {
			label = g.Name
		}
		d.Rows = append(d.Rows, usageRow{Key: g.Key, Label: label, Quantity: quantityText(loc, g), Amount: loc.amount(cc, g.Cost),
			Cost: g.Cost.String(), Rows: g.Rows, Share: share(g.Cost, total)})
	}
	days := int(uq.To.Sub(uq.From) / day)
	chart := newStackedBars("usage-chart", "Daily cost by "+d.GroupLower+", "+d.RangeText+", in "+cc, cc, loc, uq.From, days)
	names := map[string]string{}
	for _, g := range groups {
		if g.Name != "" {
			names[g.Key] = g.Name
		}
	}
	tagKeys := map[string]bool{}
	for i := range rows {
		k, _ := key(&rows[i])
		if n, ok := names[k]; ok {
			k = n
		}
		chart.add(rows[i].ChargePeriodStart.Truncate(day), k, rows[i].Cost)
		for t := range rows[i].Tags {
			if len(tagKeys) < 50 {
				tagKeys[t] = true
			}
		}
	}
	for t := range tagKeys {
		d.TagKeys = append(d.TagKeys, t)
	}
	sortStrings(d.TagKeys)
	d.Chart = chart.SVG()
	d.Legend = chart.Legend()
	d.CSV = "/portal/subscriptions/" + rc.sub.SubscriptionID + "/usage.csv?" + uq.values().Encode()
	p.render(w, r, rc, http.StatusOK, "usage", "Usage and cost", d)
	return nil
}

// quantityText is a group's usage per unit.
func quantityText(loc locale, g *group) string {
	parts := make([]string, 0, len(g.Units))
	for _, u := range g.Units {
		parts = append(parts, loc.number(g.Quantity[u])+" "+u)
	}
	return strings.Join(parts, "; ")
}

// usageCSV is the explorer's table as CSV: a header row, one row per group
// with exact decimals (the same groups and costs as the page).
func (p *Portal) usageCSV(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	uq, err := p.parseUsageQuery(r, rc)
	if err != nil {
		return err
	}
	rows, _, err := p.costRows(r.Context(), rc.sub.SubscriptionID, uq.From, uq.To)
	if err != nil {
		return err
	}
	groups, _ := breakdown(rows, groupKey(uq.GroupBy, uq.TagKey))
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="usage-`+uq.From.Format("20060102")+"-"+uq.To.Add(-day).Format("20060102")+`.csv"`)
	cw := csv.NewWriter(w)
	cw.Write([]string{"group", "name", "currency", "cost", "quantity", "unit", "rows"})
	for _, g := range groups {
		qty, unit := "", ""
		if len(g.Units) == 1 {
			qty, unit = g.Quantity[g.Units[0]].String(), g.Units[0]
		} else if len(g.Units) > 1 {
			var parts []string
			for _, u := range g.Units {
				parts = append(parts, g.Quantity[u].String()+" "+u)
			}
			qty = strings.Join(parts, "; ")
		}
		cw.Write([]string{csvSafe(g.Key), csvSafe(g.Name), rc.sub.Currency, g.Cost.String(), qty, unit, itoa(g.Rows)})
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && strings.ToLower(s[j]) < strings.ToLower(s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
