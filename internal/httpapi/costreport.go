package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
)

// The chargeback / showback report (an addition to Microsoft.Commerce):
//
//	GET /subscriptions/{id}/providers/Microsoft.Commerce/costReport
//	GET /providers/Microsoft.Billing/billingAccounts/{name}/providers/Microsoft.Commerce/costReport
//	    ?api-version=2015-06-01-preview&from=YYYY-MM-DD&to=YYYY-MM-DD&groupBy=…
//
// It answers the cost and usage of the daily cost rows of [from, to) per
// group. Every row falls in exactly one group (rows without the grouping
// value fall in "untagged" for a tag, "(none)" otherwise), so the groups of
// a currency add up to its total, and the total of a closed billing period
// is its invoice's subtotal.
//
// Decisions:
//   - Rows are rated per billing period, as invoices are: a closed period
//     with the usage reported before its close, an open one with the usage
//     reported until now. A range cutting a period keeps that period's rows
//     whose day is in the range (tiers still accumulate over the period).
//   - The subscription scope needs a role that reads the subscription (or
//     its billing account's Account Admin); the billing-account scope needs
//     the account's Account Admin (or an operator).
//   - Groups are per currency (a billing account's subscriptions may bill
//     in several); "currency" and "total" are given when there is one.
//   - Amounts and quantities are exact decimals written as strings.

var costReportAPIVersions = []string{"2015-06-01-preview"}

// maxReportDays bounds a report's range.
const maxReportDays = 366

// Group-by dimensions of the cost report.
const (
	groupTagPrefix     = "tag:"
	groupResourceGroup = "resourceGroup"
	groupMeterCategory = "meterCategory"
	groupMeter         = "meter"
	groupResource      = "resource"
	groupSubscription  = "subscription"
	// untaggedGroup is the group of rows without the tag grouped by;
	// noneGroup that of rows without another grouping value.
	untaggedGroup = "untagged"
	noneGroup     = "(none)"
)

// costReportJSON is the report.
type costReportJSON struct {
	ID       string             `json:"id"`
	Type     string             `json:"type"`
	Currency string             `json:"currency,omitempty"`
	From     string             `json:"from"`
	To       string             `json:"to"`
	GroupBy  string             `json:"groupBy"`
	Groups   []costGroupJSON    `json:"groups"`
	Total    string             `json:"total,omitempty"`
	Totals   []currencyTotal    `json:"totals"`
	Quantity []unitQuantityJSON `json:"quantity,omitempty"`
	Rows     int                `json:"rows"`
}

type currencyTotal struct {
	Currency string `json:"currency"`
	Cost     string `json:"cost"`
	ListCost string `json:"listCost"`
	Rows     int    `json:"rows"`
}

type costGroupJSON struct {
	Key string `json:"key"`
	// Name is a display name (the meter's name when grouping by meter).
	Name     string             `json:"name,omitempty"`
	Currency string             `json:"currency"`
	Cost     string             `json:"cost"`
	ListCost string             `json:"listCost"`
	Quantity []unitQuantityJSON `json:"quantity"`
	Rows     int                `json:"rows"`
}

type unitQuantityJSON struct {
	Unit     string `json:"unit"`
	Quantity string `json:"quantity"`
}

// groupByOf returns the function that gives a row's group (key and display
// name) for a groupBy value.
func groupByOf(v string) (canonical string, key func(*charges.CostRow) (string, string), err error) {
	v = strings.TrimSpace(v)
	orNone := func(s string) string {
		if s == "" {
			return noneGroup
		}
		return s
	}
	if len(v) > len(groupTagPrefix) && strings.EqualFold(v[:len(groupTagPrefix)], groupTagPrefix) {
		tag := v[len(groupTagPrefix):]
		if len(tag) > 512 {
			return "", nil, invalid("InvalidGroupBy", "groupBy", "The tag name is longer than 512 characters.")
		}
		return groupTagPrefix + tag, func(r *charges.CostRow) (string, string) {
			if val, ok := r.Tags[tag]; ok {
				return val, ""
			}
			for k, val := range r.Tags { // tag names are case-insensitive in Azure
				if strings.EqualFold(k, tag) {
					return val, ""
				}
			}
			return untaggedGroup, ""
		}, nil
	}
	switch {
	case strings.EqualFold(v, groupResourceGroup):
		return groupResourceGroup, func(r *charges.CostRow) (string, string) { return orNone(strings.ToLower(r.ResourceGroup)), "" }, nil
	case strings.EqualFold(v, groupMeterCategory):
		return groupMeterCategory, func(r *charges.CostRow) (string, string) { return orNone(r.MeterCategory), "" }, nil
	case strings.EqualFold(v, groupMeter):
		return groupMeter, func(r *charges.CostRow) (string, string) {
			if r.MeterID == "" {
				return noneGroup, r.Kind
			}
			return r.MeterID, r.MeterName
		}, nil
	case strings.EqualFold(v, groupResource):
		return groupResource, func(r *charges.CostRow) (string, string) { return orNone(r.ResourceURI), "" }, nil
	case strings.EqualFold(v, groupSubscription):
		return groupSubscription, func(r *charges.CostRow) (string, string) { return r.SubscriptionID, "" }, nil
	}
	return "", nil, invalid("InvalidGroupBy", "groupBy", "The groupBy '%s' is not valid; use tag:<name>, resourceGroup, meterCategory, meter, resource or subscription.", clip(v))
}

type groupAcc struct {
	key, name, currency string
	cost, listCost      money.Decimal
	qty                 map[string]money.Decimal
	units               []string
	rows                int
}

// buildCostReport groups rows; groups are ordered by currency, then cost
// (largest first), then key.
func buildCostReport(rows []charges.CostRow, key func(*charges.CostRow) (string, string)) (groups []costGroupJSON, totals []currencyTotal, total []unitQuantityJSON) {
	type gk struct{ currency, key string }
	accs := map[gk]*groupAcc{}
	type tot struct {
		cost, list money.Decimal
		rows       int
	}
	tots := map[string]*tot{}
	allQty := map[string]money.Decimal{}
	var allUnits []string
	var order []*groupAcc
	for i := range rows {
		r := &rows[i]
		k, name := key(r)
		g := accs[gk{r.Currency, k}]
		if g == nil {
			g = &groupAcc{key: k, name: name, currency: r.Currency, qty: map[string]money.Decimal{}}
			accs[gk{r.Currency, k}] = g
			order = append(order, g)
		}
		g.cost = g.cost.Add(r.Cost)
		g.listCost = g.listCost.Add(r.ListCost)
		g.rows++
		if r.Unit != "" {
			if _, ok := g.qty[r.Unit]; !ok {
				g.units = append(g.units, r.Unit)
			}
			g.qty[r.Unit] = g.qty[r.Unit].Add(r.Quantity)
			if _, ok := allQty[r.Unit]; !ok {
				allUnits = append(allUnits, r.Unit)
			}
			allQty[r.Unit] = allQty[r.Unit].Add(r.Quantity)
		}
		t := tots[r.Currency]
		if t == nil {
			t = &tot{}
			tots[r.Currency] = t
		}
		t.cost, t.list, t.rows = t.cost.Add(r.Cost), t.list.Add(r.ListCost), t.rows+1
	}
	slices.SortFunc(order, func(x, y *groupAcc) int {
		if c := strings.Compare(x.currency, y.currency); c != 0 {
			return c
		}
		if c := y.cost.Cmp(x.cost); c != 0 {
			return c
		}
		return strings.Compare(x.key, y.key)
	})
	groups = make([]costGroupJSON, 0, len(order))
	for _, g := range order {
		slices.Sort(g.units)
		q := make([]unitQuantityJSON, 0, len(g.units))
		for _, u := range g.units {
			q = append(q, unitQuantityJSON{Unit: u, Quantity: g.qty[u].String()})
		}
		groups = append(groups, costGroupJSON{Key: g.key, Name: g.name, Currency: g.currency, Cost: g.cost.String(),
			ListCost: g.listCost.String(), Quantity: q, Rows: g.rows})
	}
	totals = []currencyTotal{}
	for c, t := range tots {
		totals = append(totals, currencyTotal{Currency: c, Cost: t.cost.String(), ListCost: t.list.String(), Rows: t.rows})
	}
	slices.SortFunc(totals, func(x, y currencyTotal) int { return strings.Compare(x.Currency, y.Currency) })
	slices.Sort(allUnits)
	for _, u := range allUnits {
		total = append(total, unitQuantityJSON{Unit: u, Quantity: allQty[u].String()})
	}
	return groups, totals, total
}

// parseReportDate reads a from/to bound: a date, or a date-time at
// midnight UTC.
func parseReportDate(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, invalid("InvalidProperty", name, "The query parameter '%s' (a date YYYY-MM-DD) is required.", name)
	}
	t, err := parsePeriodBound(name, v)
	if err != nil {
		return t, err
	}
	if !t.Equal(t.Truncate(24 * time.Hour)) {
		return t, invalid("InvalidProperty", name, "The %s must be a whole UTC day.", name)
	}
	return t, nil
}

// periodCostRows returns the daily cost rows of a subscription whose day
// is in [from, to), rated per billing period as its invoices are (see the
// comment at the top of this file), and the name of each row's billing
// period.
func (a *API) periodCostRows(ctx context.Context, sub string, from, to time.Time) ([]charges.CostRow, []string, error) {
	if a.deps.Invoicing == nil {
		rows, err := a.deps.Charges.CostRows(ctx, sub, from, to, charges.Daily, a.now())
		return rows, make([]string, len(rows)), err
	}
	rows, err := a.deps.Invoicing.CostRows(ctx, sub, from, to, charges.Daily)
	if err != nil {
		return nil, nil, err
	}
	names := make([]string, len(rows))
	for i := range rows {
		names[i] = rows[i].BillingPeriodName
	}
	return rows, names, nil
}

// costReport serves both scopes.
func (a *API) costReport(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if _, err := checkAPIVersion(q, costReportAPIVersions); err != nil {
		return err
	}
	var subs []account.Subscription
	var id string
	if acct := r.PathValue("billingAccountName"); acct != "" {
		if acct, err = a.resolveAccount(r, a.viewer(r), acct); err != nil {
			return err
		}
		if !identityOf(r).Grants.IsAccountAdmin(acct) {
			return forbidden(r, identityOf(r), accountPath(acct))
		}
		if subs, err = a.accountSubscriptions(r.Context(), acct); err != nil {
			return err
		}
		id = accountPath(acct) + "/providers/Microsoft.Commerce/costReport"
	} else {
		sub, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
		if !ok {
			return badSubscriptionID(r)
		}
		s, err := a.deps.Accounts.Get(r.Context(), sub)
		if err != nil {
			return err
		}
		subs = []account.Subscription{s}
		id = "/subscriptions/" + sub + "/providers/Microsoft.Commerce/costReport"
	}
	fromRaw, _ := q.get("from")
	toRaw, _ := q.get("to")
	from, err := parseReportDate("from", fromRaw)
	if err != nil {
		return err
	}
	to, err := parseReportDate("to", toRaw)
	if err != nil {
		return err
	}
	if !from.Before(to) {
		return invalid("InvalidProperty", "to", "The 'to' date must be after the 'from' date (the range is [from, to)).")
	}
	if to.Sub(from) > maxReportDays*24*time.Hour {
		return invalid("InvalidProperty", "to", "A report covers at most %d days.", maxReportDays)
	}
	gb, _ := q.get("groupBy")
	if gb == "" {
		gb = groupSubscription
	}
	canonical, key, err := groupByOf(gb)
	if err != nil {
		return err
	}
	var rows []charges.CostRow
	for _, s := range subs {
		rs, _, err := a.periodCostRows(r.Context(), s.SubscriptionID, from, to)
		if err != nil {
			return err
		}
		if rows == nil {
			rows = rs // one subscription: no copy
		} else {
			rows = append(rows, rs...)
		}
	}
	out := costReportJSON{ID: id, Type: "Microsoft.Commerce/costReport", From: dateOf(from), To: dateOf(to), GroupBy: canonical, Rows: len(rows)}
	out.Groups, out.Totals, out.Quantity = buildCostReport(rows, key)
	if len(out.Totals) == 1 {
		out.Currency, out.Total = out.Totals[0].Currency, out.Totals[0].Cost
	} else if len(out.Totals) == 0 && len(subs) > 0 {
		out.Currency, out.Total = subs[0].Currency, "0"
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
