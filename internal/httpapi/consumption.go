package httpapi

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Microsoft.Consumption usageDetails (UsageDetails_List) at subscription
// scope and at billing-period scope:
//
//	GET /subscriptions/{id}/providers/Microsoft.Consumption/usageDetails
//	GET /subscriptions/{id}/providers/Microsoft.Billing/billingPeriods/{name}/providers/Microsoft.Consumption/usageDetails
//
// One item per daily cost row (meter × resource × day, and the offer-term
// rows), rated per billing period as the invoices are (periodCostRows).
//
// Shapes, after the Azure REST specs (Microsoft.Consumption):
//   - api-version 2019-10-01 and later (2021-10-01 is what the Go
//     armconsumption v1.1.0 client sends): a LegacyUsageDetail, "kind":
//     "legacy", properties billingAccountId … date, meterId, quantity,
//     effectivePrice, cost, unitPrice, billingCurrency, resourceId,
//     resourceName, resourceGroup, chargeType, frequency, payGPrice,
//     pricingModel, meterDetails (with $expand=properties/meterDetails).
//   - api-versions 2018-01-31 to 2019-01-01: the older UsageDetail:
//     billingPeriodId, invoiceId, usageStart, usageEnd, instanceName,
//     instanceId, instanceLocation, currency, usageQuantity,
//     billableQuantity, pretaxCost, isEstimated, meterId, meterDetails
//     (with $expand=properties/meterDetails), subscriptionGuid, …
//
// Decisions where Azure is silent or where we differ:
//   - Without a date filter, the subscription scope answers the current
//     (open) billing period, as Azure does; the billing-period scope answers
//     that period (a date filter then narrows it).
//   - $filter: conditions joined by 'and': properties/usageStart,
//     properties/usageEnd and properties/date with eq, ge, gt, le, lt and a
//     date (quoted or bare, YYYY-MM-DD or a date-time at midnight UTC);
//     tags eq 'name:value'; properties/resourceGroup, properties/
//     resourceName (instanceName), properties/resourceId (instanceId),
//     properties/meterId and properties/chargeType with eq (case-insensitive).
//     A range needs its start and its end; it covers at most 366 days.
//   - billingPeriodEndDate is the period's exclusive end, as in the
//     Billing API (invoices.go).
//   - Amounts and quantities are exact decimals written as JSON numbers;
//     unitPrice, effectivePrice and payGPrice are left out when the meter
//     has no price.
//   - $top (1 to 1000) limits the rows served in all; pages hold at most
//     usageDetailsPageSize rows; $skiptoken is tamper-evident and bound to
//     the query. It carries the position: rows of an open period that
//     change between two pages may shift it (a closed period never changes).

var (
	usageDetailsVersions = []string{
		"2018-01-31", "2018-03-31", "2018-05-31", "2018-06-30", "2018-08-31", "2018-10-01", "2019-01-01",
		"2019-10-01", "2019-11-01", "2021-05-01", "2021-10-01", "2022-06-01", "2023-03-01", "2023-05-01", "2023-11-01",
	}
	// usageDetailsPageSize is the most rows a page holds (Azure: 1000).
	usageDetailsPageSize = 1000
)

const (
	maxUsageDetailsTop = 1000
	// firstLegacyKindVersion is the first api-version answering "kind".
	firstLegacyKindVersion = "2019-10-01"
)

// usageDetailJSON is one usage detail, in either shape.
type usageDetailJSON struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Kind       string            `json:"kind,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties any               `json:"properties"`
}

// legacyDetailProperties are the properties of kind "legacy" (2019-10-01+).
type legacyDetailProperties struct {
	BillingAccountID       string            `json:"billingAccountId"`
	BillingAccountName     string            `json:"billingAccountName"`
	BillingPeriodStartDate string            `json:"billingPeriodStartDate"`
	BillingPeriodEndDate   string            `json:"billingPeriodEndDate"`
	BillingProfileID       string            `json:"billingProfileId"`
	BillingProfileName     string            `json:"billingProfileName"`
	SubscriptionID         string            `json:"subscriptionId"`
	SubscriptionName       string            `json:"subscriptionName"`
	Date                   string            `json:"date"`
	Product                string            `json:"product"`
	MeterID                string            `json:"meterId,omitempty"`
	MeterDetails           *meterDetailsJSON `json:"meterDetails,omitempty"`
	Quantity               json.Number       `json:"quantity"`
	EffectivePrice         *json.Number      `json:"effectivePrice,omitempty"`
	Cost                   json.Number       `json:"cost"`
	UnitPrice              *json.Number      `json:"unitPrice,omitempty"`
	BillingCurrency        string            `json:"billingCurrency"`
	ResourceLocation       string            `json:"resourceLocation,omitempty"`
	ConsumedService        string            `json:"consumedService,omitempty"`
	ResourceID             string            `json:"resourceId,omitempty"`
	ResourceName           string            `json:"resourceName,omitempty"`
	ResourceGroup          string            `json:"resourceGroup,omitempty"`
	OfferID                string            `json:"offerId,omitempty"`
	IsAzureCreditEligible  bool              `json:"isAzureCreditEligible"`
	ChargeType             string            `json:"chargeType"`
	Frequency              string            `json:"frequency"`
	PayGPrice              *json.Number      `json:"payGPrice,omitempty"`
	PricingModel           string            `json:"pricingModel"`
	InvoiceID              string            `json:"invoiceId,omitempty"` // Reckon: the invoice that billed the row
}

// meterDetailsJSON is meterDetails: MeterDetailsResponse (2019-10-01+) or
// MeterDetails (older).
type meterDetailsJSON struct {
	MeterName             string       `json:"meterName"`
	MeterCategory         string       `json:"meterCategory"`
	MeterSubCategory      string       `json:"meterSubCategory"`
	UnitOfMeasure         string       `json:"unitOfMeasure,omitempty"`
	ServiceFamily         string       `json:"serviceFamily,omitempty"`
	Unit                  string       `json:"unit,omitempty"`
	MeterLocation         string       `json:"meterLocation,omitempty"`
	PretaxStandardRate    *json.Number `json:"pretaxStandardRate,omitempty"`
	TotalIncludedQuantity *json.Number `json:"totalIncludedQuantity,omitempty"`
}

// oldDetailProperties are the UsageDetail properties before 2019-10-01.
type oldDetailProperties struct {
	BillingPeriodID         string            `json:"billingPeriodId"`
	InvoiceID               string            `json:"invoiceId,omitempty"`
	UsageStart              string            `json:"usageStart"`
	UsageEnd                string            `json:"usageEnd"`
	InstanceName            string            `json:"instanceName,omitempty"`
	InstanceID              string            `json:"instanceId,omitempty"`
	InstanceLocation        string            `json:"instanceLocation,omitempty"`
	Currency                string            `json:"currency"`
	UsageQuantity           json.Number       `json:"usageQuantity"`
	BillableQuantity        json.Number       `json:"billableQuantity"`
	PretaxCost              json.Number       `json:"pretaxCost"`
	IsEstimated             bool              `json:"isEstimated"`
	MeterID                 string            `json:"meterId,omitempty"`
	MeterDetails            *meterDetailsJSON `json:"meterDetails,omitempty"`
	SubscriptionGUID        string            `json:"subscriptionGuid"`
	SubscriptionName        string            `json:"subscriptionName"`
	AccountName             string            `json:"accountName"`
	Product                 string            `json:"product"`
	ConsumedService         string            `json:"consumedService,omitempty"`
	OfferID                 string            `json:"offerId,omitempty"`
	ChargesBilledSeparately bool              `json:"chargesBilledSeparately"`
	Location                string            `json:"location,omitempty"`
}

// usageDetailsFilter is a parsed $filter.
type usageDetailsFilter struct {
	from, to time.Time // [from, to) days; zero: not given
	hasFrom  bool
	hasTo    bool
	tags     [][2]string       // name, value
	eq       map[string]string // property (lower case) → value
}

var usageDetailsEqFields = map[string]string{
	"properties/resourcegroup": "resourceGroup",
	"properties/resourcename":  "resourceName",
	"properties/instancename":  "resourceName",
	"properties/resourceid":    "resourceId",
	"properties/instanceid":    "resourceId",
	"properties/meterid":       "meterId",
	"properties/chargetype":    "chargeType",
}

const usageDetailsFilterHelp = "It supports 'and' of: properties/usageStart, properties/usageEnd or properties/date with eq, ge, gt, le or lt and a date " +
	"(e.g. properties/usageStart ge '2024-01-01' and properties/usageEnd le '2024-01-31'); tags eq 'name:value'; " +
	"properties/resourceGroup, properties/resourceName, properties/resourceId, properties/meterId or properties/chargeType eq '…'."

func parseUsageDetailsFilter(s string) (usageDetailsFilter, error) {
	f := usageDetailsFilter{eq: map[string]string{}}
	bad := func(format string, args ...any) (usageDetailsFilter, error) {
		return f, invalid("InvalidFilter", "$filter", "The $filter is not valid: %s. %s", fmt.Sprintf(format, args...), usageDetailsFilterHelp)
	}
	if len(s) > maxDateFilter {
		return bad("it is longer than %d characters", maxDateFilter)
	}
	p := filterLexer{s: s}
	p.space()
	if p.done() {
		return f, nil
	}
	for cond := 0; ; cond++ {
		if cond > 0 {
			spaced := p.space()
			if p.done() {
				break
			}
			if w := p.word(); !spaced || !strings.EqualFold(w, "and") {
				if w == "" {
					return bad("unexpected %s at position %d where 'and' was expected", p.describe(), p.i+1)
				}
				return bad("'%s' is not supported (only 'and' joins conditions)", clip(w))
			}
			if !p.space() {
				return bad("a condition is missing after 'and'")
			}
		}
		start := p.i
		for p.i < len(p.s) && (p.s[p.i]|0x20 >= 'a' && p.s[p.i]|0x20 <= 'z' || p.s[p.i] == '/') {
			p.i++
		}
		name := strings.ToLower(p.s[start:p.i])
		if name == "" {
			return bad("unexpected %s at position %d where a property name was expected", p.describe(), p.i+1)
		}
		if !p.space() {
			return bad("the operator of %s is missing", clip(name))
		}
		op := strings.ToLower(p.word())
		switch op {
		case "eq", "lt", "gt", "le", "ge":
		case "":
			return bad("unexpected %s after %s where an operator was expected", p.describe(), clip(name))
		default:
			return bad("operator '%s' is not supported", clip(op))
		}
		if !p.space() {
			return bad("the value of %s is missing", clip(name))
		}
		val, quoted := p.quoted()
		if !quoted {
			start := p.i
			for p.i < len(p.s) && p.s[p.i] != ' ' && p.s[p.i] != '\t' {
				p.i++
			}
			val = p.s[start:p.i]
			if val == "" || strings.HasPrefix(val, "'") {
				return bad("the value of %s is not a quoted string", clip(name))
			}
		}
		switch name {
		case "properties/usagestart", "properties/usageend", "properties/date":
			d, err := parseFilterDay(val)
			if err != nil {
				return bad("'%s' is not a date YYYY-MM-DD", clip(val))
			}
			day := 24 * time.Hour
			setFrom := func(t time.Time) {
				if !f.hasFrom || t.After(f.from) {
					f.from, f.hasFrom = t, true
				}
			}
			setTo := func(t time.Time) {
				if !f.hasTo || t.Before(f.to) {
					f.to, f.hasTo = t, true
				}
			}
			switch op {
			case "eq":
				setFrom(d)
				setTo(d.Add(day))
			case "ge":
				setFrom(d)
			case "gt":
				setFrom(d.Add(day))
			case "le":
				setTo(d.Add(day))
			case "lt":
				setTo(d)
			}
		case "tags":
			if op != "eq" {
				return bad("tags support only eq")
			}
			k, v, ok := strings.Cut(val, ":")
			if !ok || k == "" {
				return bad("the tag filter '%s' is not 'name:value'", clip(val))
			}
			f.tags = append(f.tags, [2]string{k, v})
		default:
			field, ok := usageDetailsEqFields[name]
			if !ok {
				return bad("unknown property '%s'", clip(name))
			}
			if op != "eq" {
				return bad("%s supports only eq", clip(name))
			}
			if prev, dup := f.eq[field]; dup && !strings.EqualFold(prev, val) {
				f.eq[field] = "\x00" // two different values: nothing matches
				continue
			}
			f.eq[field] = val
		}
	}
	return f, nil
}

// parseFilterDay reads a date, or a date-time at midnight UTC.
func parseFilterDay(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, err
	}
	t = t.UTC()
	if !t.Equal(t.Truncate(24 * time.Hour)) {
		return t, fmt.Errorf("not midnight")
	}
	return t, nil
}

// resourceName is the last segment of a resource id.
func resourceName(id string) string {
	if i := strings.LastIndexByte(strings.TrimRight(id, "/"), '/'); i >= 0 {
		return strings.TrimRight(id, "/")[i+1:]
	}
	return id
}

// consumedService is the resource provider namespace of a resource id
// ("Microsoft.Compute").
func consumedService(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if strings.EqualFold(segs[i], "providers") {
			return segs[i+1]
		}
	}
	return ""
}

func (f *usageDetailsFilter) match(r *charges.CostRow) bool {
	for _, t := range f.tags {
		v, ok := r.Tags[t[0]]
		if !ok {
			for k, val := range r.Tags {
				if strings.EqualFold(k, t[0]) {
					v, ok = val, true
					break
				}
			}
		}
		if !ok || v != t[1] {
			return false
		}
	}
	for field, want := range f.eq {
		var got string
		switch field {
		case "resourceGroup":
			got = r.ResourceGroup
		case "resourceName":
			got = resourceName(r.ResourceURI)
			if r.ResourceURI == "" {
				got = ""
			}
		case "resourceId":
			got = r.ResourceURI
		case "meterId":
			got = r.MeterID
		case "chargeType":
			got = chargeTypeOf(r)
		}
		if !strings.EqualFold(got, want) {
			return false
		}
	}
	return true
}

func chargeTypeOf(r *charges.CostRow) string {
	if r.Kind == "" || r.Kind == "Usage" || r.Kind == invoicing.LineLateUsage {
		return "Usage"
	}
	return r.Kind
}

func frequencyOf(r *charges.CostRow) string {
	switch chargeTypeOf(r) {
	case "Usage":
		return "UsageBased"
	case "Recurring Charge":
		return "Recurring"
	}
	return "OneTime"
}

func number(d money.Decimal) json.Number { return json.Number(d.String()) }

func numberPtr(d money.Decimal) *json.Number {
	n := number(d)
	return &n
}

// usageDetailName is a row's stable name: a GUID derived from what
// identifies it.
func usageDetailName(period string, r *charges.CostRow) string {
	h := sha256.New()
	for _, s := range []string{r.SubscriptionID, period, r.ChargePeriodStart.UTC().Format(time.RFC3339), r.Kind, r.MeterID, r.ResourceURI, r.OriginalPeriod} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return uuid.NewSHA1(uuid.Nil, h.Sum(nil)).String()
}

func usageDetailOf(version string, s *account.Subscription, period string, r *charges.CostRow, expand bool) usageDetailJSON {
	name := usageDetailName(period, r)
	j := usageDetailJSON{
		ID:   legacyPeriodID(s.SubscriptionID, period) + "/providers/Microsoft.Consumption/usageDetails/" + name,
		Name: name, Type: "Microsoft.Consumption/usageDetails", Tags: r.Tags,
	}
	if len(j.Tags) == 0 {
		j.Tags = nil
	}
	location := r.Location
	if location == "" {
		location = r.MeterRegion
	}
	product := r.MeterName
	if product == "" {
		product = r.Kind
	}
	var md *meterDetailsJSON
	if version < firstLegacyKindVersion {
		if expand && r.MeterID != "" {
			md = &meterDetailsJSON{MeterName: r.MeterName, MeterCategory: r.MeterCategory, MeterSubCategory: r.MeterSubCategory,
				Unit: r.Unit, MeterLocation: r.MeterRegion}
			if r.Priced {
				md.PretaxStandardRate = numberPtr(r.ListUnitPrice)
			}
		}
		p := oldDetailProperties{BillingPeriodID: legacyPeriodID(s.SubscriptionID, period),
			UsageStart: formatTime(r.ChargePeriodStart), UsageEnd: formatTime(r.ChargePeriodEnd),
			InstanceID: r.ResourceURI, InstanceLocation: r.Location, Currency: r.Currency,
			UsageQuantity: number(r.Quantity), BillableQuantity: number(r.BillableQuantity), PretaxCost: number(r.Cost),
			IsEstimated: r.InvoiceName == "", MeterID: r.MeterID, MeterDetails: md,
			SubscriptionGUID: s.SubscriptionID, SubscriptionName: s.DisplayName, AccountName: s.BillingAccount,
			Product: product, ConsumedService: consumedService(r.ResourceURI), OfferID: s.OfferDurableID, Location: location}
		if r.ResourceURI != "" {
			p.InstanceName = resourceName(r.ResourceURI)
		}
		if r.InvoiceName != "" {
			p.InvoiceID = legacyInvoiceID(s.SubscriptionID, r.InvoiceName)
		}
		j.Properties = p
		return j
	}
	j.Kind = "legacy"
	if expand && r.MeterID != "" {
		md = &meterDetailsJSON{MeterName: r.MeterName, MeterCategory: r.MeterCategory, MeterSubCategory: r.MeterSubCategory,
			UnitOfMeasure: r.Unit, ServiceFamily: r.MeterCategory}
	}
	p := legacyDetailProperties{
		BillingAccountID: accountPath(s.BillingAccount), BillingAccountName: s.BillingAccount,
		BillingPeriodStartDate: formatTime(r.BillingPeriodStart), BillingPeriodEndDate: formatTime(r.BillingPeriodEnd),
		BillingProfileID: accountPath(s.BillingAccount) + "/billingProfiles/" + defaultName, BillingProfileName: defaultName,
		SubscriptionID: s.SubscriptionID, SubscriptionName: s.DisplayName, Date: formatTime(r.ChargePeriodStart),
		Product: product, MeterID: r.MeterID, MeterDetails: md, Quantity: number(r.Quantity), Cost: number(r.Cost),
		BillingCurrency: r.Currency, ResourceLocation: location, ConsumedService: consumedService(r.ResourceURI),
		ResourceID: r.ResourceURI, ResourceGroup: r.ResourceGroup, OfferID: s.OfferDurableID, IsAzureCreditEligible: true,
		ChargeType: chargeTypeOf(r), Frequency: frequencyOf(r), PricingModel: "OnDemand",
	}
	if r.ResourceURI != "" {
		p.ResourceName = resourceName(r.ResourceURI)
	}
	if r.Priced {
		p.UnitPrice, p.PayGPrice, p.EffectivePrice = numberPtr(r.ListUnitPrice), numberPtr(r.ListUnitPrice), numberPtr(r.UnitPrice)
	}
	if r.InvoiceName != "" {
		p.InvoiceID = legacyInvoiceID(s.SubscriptionID, r.InvoiceName)
	}
	j.Properties = p
	return j
}

// usageDetails is UsageDetails_List.
func (a *API) usageDetails(w http.ResponseWriter, r *http.Request) error {
	if a.deps.Invoicing == nil {
		return invalid("NotSupported", "", "Usage details need the invoicing service.")
	}
	q, version, s, err := a.legacySubscription(r, usageDetailsVersions)
	if err != nil {
		return err
	}
	expand := false
	if e, ok := q.get("$expand"); ok && e != "" {
		for _, part := range strings.Split(e, ",") {
			switch strings.ToLower(strings.TrimSpace(part)) {
			case "properties/meterdetails", "meterdetails":
				expand = true
			case "properties/additionalinfo", "additionalinfo", "properties/additionalproperties", "additionalproperties":
			default:
				return invalid("InvalidProperty", "$expand", "The $expand value '%s' is not supported; use properties/meterDetails or properties/additionalInfo.", clip(part))
			}
		}
	}
	if m, ok := q.get("metric"); ok && m != "" && !strings.EqualFold(m, "actualcost") && !strings.EqualFold(m, "usage") {
		return invalid("InvalidProperty", "metric", "The metric '%s' is not supported; use actualcost or usage (they are the same here).", clip(m))
	}
	filterText, _ := q.get("$filter")
	f, err := parseUsageDetailsFilter(filterText)
	if err != nil {
		return err
	}
	top, err := parseTop(q, "$top", maxUsageDetailsTop)
	if err != nil {
		return err
	}
	periodName := r.PathValue("billingPeriodName")
	var from, to time.Time
	switch {
	case periodName != "":
		p, err := a.deps.Invoicing.Period(r.Context(), s.SubscriptionID, periodName)
		if err != nil {
			return err
		}
		periodName = p.Name
		from, to = p.Start, p.End
		if f.hasFrom && f.from.After(from) {
			from = f.from
		}
		if f.hasTo && f.to.Before(to) {
			to = f.to
		}
	case f.hasFrom != f.hasTo:
		return invalid("InvalidFilter", "$filter", "The $filter gives only one end of the date range; give both (e.g. properties/usageStart ge '2024-01-01' and properties/usageEnd le '2024-01-31').")
	case f.hasFrom:
		from, to = f.from, f.to
		if to.Sub(from) > maxReportDays*24*time.Hour {
			return invalid("InvalidFilter", "$filter", "The date range covers at most %d days.", maxReportDays)
		}
	default:
		ps, err := a.deps.Invoicing.Periods(r.Context(), s.SubscriptionID)
		if err != nil {
			return err
		}
		if len(ps) > 0 {
			from, to = ps[0].Start, ps[0].End // newest first: the open one
		}
	}
	digest := listDigest("usageDetails", s.SubscriptionID, periodName, version, filterText, strconv.Itoa(top), strconv.FormatBool(expand))
	cur, err := a.skipToken(q, digest)
	if err != nil {
		return err
	}
	out := listJSON[usageDetailJSON]{Value: []usageDetailJSON{}}
	if from.Before(to) {
		rows, names, err := a.periodCostRows(r.Context(), s.SubscriptionID, from, to)
		if err != nil {
			return err
		}
		sel := make([]int, 0, len(rows))
		for i := range rows {
			if f.match(&rows[i]) {
				sel = append(sel, i)
			}
		}
		served := 0
		if cur != nil {
			served = cur.Served
		}
		n := min(usageDetailsPageSize, top-served, len(sel)-served)
		for _, i := range sel[min(served, len(sel)) : min(served, len(sel))+max(n, 0)] {
			out.Value = append(out.Value, usageDetailOf(version, &s, names[i], &rows[i], expand))
		}
		if n > 0 && served+n < top && served+n < len(sel) {
			out.NextLink = a.nextLink(r, q, digest, listCursor{Served: served + n})
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
