package portal

import (
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
)

type tierText struct {
	From, Price string
}

type meterRow struct {
	ID, Name, Category, SubCategory, Region, Unit, Status string
	Tiers                                                 []tierText
	Included                                              string
	Price                                                 string // first tier's, exact
	Effective                                             string
}

type sortLink struct {
	Label, Href, Aria string
	Note              string // shown after the label, e.g. the currency
	Active            bool
	Dir               string
}

type rateCardData struct {
	Sub                             *subInfo
	Offer, Currency, Locale, Region string
	Q                               string
	Sort, Dir                       string
	Meters                          []meterRow
	Total                           int
	Headers                         []sortLink
	At                              string
	Unavailable                     string
}

// rateCardPage is the subscription's rate card: its offer, currency,
// locale and region, and the meters with their tiers, searchable and
// sortable.
func (p *Portal) rateCardPage(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	s := rc.sub
	now := p.now()
	view, err := p.deps.Catalog.RateCard(r.Context(), catalog.RateCardQuery{OfferDurableID: s.OfferDurableID, Currency: s.Currency,
		Locale: s.Locale, RegionInfo: s.RegionInfo}, now)
	unavailable := ""
	if err != nil {
		e := billing.AsError(err)
		if e == nil || e.Kind != billing.KindInvalid && e.Kind != billing.KindNotFound {
			return err
		}
		// No price list for the subscription's parameters (yet).
		unavailable = e.Message
		view = catalog.RateCardView{OfferDurableID: s.OfferDurableID, Currency: s.Currency, Locale: s.Locale, RegionInfo: s.RegionInfo, At: now}
	}
	q := r.URL.Query()
	search := strings.TrimSpace(q.Get("q"))
	if len(search) > 200 {
		search = search[:200]
	}
	sortBy := q.Get("sort")
	if sortBy != "category" && sortBy != "price" {
		sortBy = "name"
	}
	dir := q.Get("dir")
	if dir != "desc" {
		dir = "asc"
	}
	loc := rc.loc
	d := rateCardData{Sub: s, Offer: view.OfferDurableID, Currency: view.Currency, Locale: view.Locale, Region: view.RegionInfo,
		Q: search, Sort: sortBy, Dir: dir, Total: len(view.Meters), At: loc.dateTime(view.At), Unavailable: unavailable}
	needle := strings.ToLower(search)
	ms := make([]catalog.RateCardMeter, 0, len(view.Meters))
	for _, m := range view.Meters {
		if needle == "" || strings.Contains(strings.ToLower(m.MeterName), needle) || strings.Contains(strings.ToLower(m.MeterCategory), needle) ||
			strings.Contains(strings.ToLower(m.MeterSubCategory), needle) || strings.Contains(strings.ToLower(m.MeterRegion), needle) ||
			strings.Contains(strings.ToLower(m.MeterID), needle) {
			ms = append(ms, m)
		}
	}
	slices.SortStableFunc(ms, func(a, b catalog.RateCardMeter) int {
		c := 0
		switch sortBy {
		case "category":
			c = strings.Compare(strings.ToLower(a.MeterCategory), strings.ToLower(b.MeterCategory))
			if c == 0 {
				c = strings.Compare(strings.ToLower(a.MeterSubCategory), strings.ToLower(b.MeterSubCategory))
			}
		case "price":
			if len(a.MeterRates) > 0 && len(b.MeterRates) > 0 {
				c = a.MeterRates[0].Price.Cmp(b.MeterRates[0].Price)
			}
		}
		if c == 0 {
			c = strings.Compare(strings.ToLower(a.MeterName), strings.ToLower(b.MeterName))
		}
		if c == 0 {
			c = strings.Compare(a.MeterID, b.MeterID)
		}
		if dir == "desc" {
			c = -c
		}
		return c
	})
	for _, m := range ms {
		row := meterRow{ID: m.MeterID, Name: m.MeterName, Category: m.MeterCategory, SubCategory: m.MeterSubCategory, Region: m.MeterRegion,
			Unit: m.Unit, Status: m.MeterStatus, Included: loc.number(m.IncludedQuantity), Effective: loc.date(m.EffectiveDate)}
		for _, t := range m.MeterRates {
			row.Tiers = append(row.Tiers, tierText{From: loc.number(t.Min), Price: loc.priceSym(view.Currency, t.Price)})
		}
		if len(m.MeterRates) > 0 {
			row.Price = m.MeterRates[0].Price.String()
		}
		d.Meters = append(d.Meters, row)
	}
	for _, h := range []struct{ key, label string }{{"name", "Meter"}, {"category", "Category"}, {"price", "Price"}} {
		nd := "asc"
		if sortBy == h.key && dir == "asc" {
			nd = "desc"
		}
		v := url.Values{}
		if search != "" {
			v.Set("q", search)
		}
		v.Set("sort", h.key)
		v.Set("dir", nd)
		l := sortLink{Label: h.label, Href: "?" + v.Encode(), Active: sortBy == h.key, Aria: "Sort by " + strings.ToLower(h.label) + ", " + nd + "ending"}
		if h.key == "price" && view.Currency != "" {
			l.Note = "(" + view.Currency + ")"
		}
		if l.Active {
			l.Dir = map[string]string{"asc": "ascending", "desc": "descending"}[dir]
		}
		d.Headers = append(d.Headers, l)
	}
	p.render(w, r, rc, http.StatusOK, "ratecard", "Rate card", d)
	return nil
}
