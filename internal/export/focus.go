package export

import (
	"errors"
	"sort"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/money"
)

// FOCUSVersion is the FOCUS specification version the FOCUS export follows.
const FOCUSVersion = "1.2"

// FOCUS 1.2 allowed values used by the export (FOCUS 1.2, columns
// ChargeCategory, ChargeClass, ChargeFrequency, PricingCategory; see
// testdata/focus-1.2-excerpt.md).
const (
	ChargeCategoryUsage      = "Usage"
	ChargeCategoryPurchase   = "Purchase"
	ChargeCategoryTax        = "Tax"
	ChargeCategoryCredit     = "Credit"
	ChargeCategoryAdjustment = "Adjustment"

	ChargeClassCorrection = "Correction"

	ChargeFrequencyOneTime    = "One-Time"
	ChargeFrequencyRecurring  = "Recurring"
	ChargeFrequencyUsageBased = "Usage-Based"

	PricingCategoryStandard = "Standard"
)

// Reckon's rating line kinds (charges.CostRow.Kind).
const (
	kindUsage              = "Usage"
	kindLateUsage          = "Late usage"
	kindRecurringCharge    = "Recurring Charge"
	kindMonetaryCommitment = "Monetary Commitment"
	kindMonetaryCredit     = "Monetary Credit"
)

// FOCUSColumns are the columns of the FOCUS export, in file order: the
// FOCUS 1.2 columns that apply to Reckon sorted by name (as Azure's FOCUS
// exports are), then Reckon's x_ columns. Left out because they do not
// apply (all Conditional in FOCUS 1.2): AvailabilityZone (no zones),
// CapacityReservation*, CommitmentDiscount* (Reckon has no commitment
// discounts in FOCUS's sense; a monetary commitment is a prepayment),
// PricingCurrency* (prices and bills are in one currency), SkuPriceId and
// SkuPriceDetails (no price-list ids), ServiceSubcategory (Recommended;
// x_MeterSubCategory carries the meter's subcategory instead).
var FOCUSColumns = []Column{
	{"BilledCost", TypeDecimal, false},
	{"BillingAccountId", TypeString, false},
	{"BillingAccountName", TypeString, false},
	{"BillingAccountType", TypeString, false},
	{"BillingCurrency", TypeString, false},
	{"BillingPeriodEnd", TypeDateTime, false},
	{"BillingPeriodStart", TypeDateTime, false},
	{"ChargeCategory", TypeString, false},
	{"ChargeClass", TypeString, true},
	{"ChargeDescription", TypeString, true},
	{"ChargeFrequency", TypeString, false},
	{"ChargePeriodEnd", TypeDateTime, false},
	{"ChargePeriodStart", TypeDateTime, false},
	{"ConsumedQuantity", TypeDecimal, true},
	{"ConsumedUnit", TypeString, true},
	{"ContractedCost", TypeDecimal, false},
	{"ContractedUnitPrice", TypeDecimal, true},
	{"EffectiveCost", TypeDecimal, false},
	{"InvoiceId", TypeString, true},
	{"InvoiceIssuerName", TypeString, false},
	{"ListCost", TypeDecimal, false},
	{"ListUnitPrice", TypeDecimal, true},
	{"PricingCategory", TypeString, true},
	{"PricingQuantity", TypeDecimal, true},
	{"PricingUnit", TypeString, true},
	{"ProviderName", TypeString, false},
	{"PublisherName", TypeString, false},
	{"RegionId", TypeString, true},
	{"RegionName", TypeString, true},
	{"ResourceId", TypeString, true},
	{"ResourceName", TypeString, true},
	{"ResourceType", TypeString, true},
	{"ServiceCategory", TypeString, false},
	{"ServiceName", TypeString, false},
	{"SkuId", TypeString, true},
	{"SkuMeter", TypeString, true},
	{"SubAccountId", TypeString, false},
	{"SubAccountName", TypeString, false},
	{"SubAccountType", TypeString, false},
	{"Tags", TypeJSON, true},
	{"x_MeterId", TypeString, true},
	{"x_MeterSubCategory", TypeString, true},
	{"x_OriginalBillingPeriod", TypeString, true},
	{"x_ResourceGroupName", TypeString, true},
}

// Column indexes into FOCUSColumns (kept in step by TestFOCUSColumnIndexes).
const (
	fBilledCost = iota
	fBillingAccountId
	fBillingAccountName
	fBillingAccountType
	fBillingCurrency
	fBillingPeriodEnd
	fBillingPeriodStart
	fChargeCategory
	fChargeClass
	fChargeDescription
	fChargeFrequency
	fChargePeriodEnd
	fChargePeriodStart
	fConsumedQuantity
	fConsumedUnit
	fContractedCost
	fContractedUnitPrice
	fEffectiveCost
	fInvoiceId
	fInvoiceIssuerName
	fListCost
	fListUnitPrice
	fPricingCategory
	fPricingQuantity
	fPricingUnit
	fProviderName
	fPublisherName
	fRegionId
	fRegionName
	fResourceId
	fResourceName
	fResourceType
	fServiceCategory
	fServiceName
	fSkuId
	fSkuMeter
	fSubAccountId
	fSubAccountName
	fSubAccountType
	fTags
	fxMeterId
	fxMeterSubCategory
	fxOriginalBillingPeriod
	fxResourceGroupName
	fColumnCount
)

// FOCUSOptions are the operator's values for the FOCUS columns that
// CostRows do not carry.
type FOCUSOptions struct {
	// ProviderName is the operator's name: ProviderName, PublisherName and
	// InvoiceIssuerName (required).
	ProviderName string
	// BillingAccountName returns the display name of a billing account; nil
	// or "" uses the account id.
	BillingAccountName func(id string) string
	// SubAccountName returns a subscription's display name; nil or "" uses
	// the subscription id (FOCUS requires a name when there is an id).
	SubAccountName func(id string) string
}

func (o FOCUSOptions) validate() error {
	if strings.TrimSpace(o.ProviderName) == "" {
		return errors.New("export: FOCUS ProviderName is required")
	}
	return nil
}

// focusMapper turns CostRows into FOCUS records.
type focusMapper struct {
	opts    FOCUSOptions
	tagMemo tagMemo
	// Bounded memos of derived strings (rows repeat resources and meters).
	resources    map[string]resourceNames
	services     map[string]string
	descriptions map[descriptionKey]string
}

type resourceNames struct {
	name, typ string
	// plain: none of uri, name, typ needs CSV quoting
	plain bool
}

type descriptionKey struct{ kind, category, meter, original string }

// memoLimit bounds each memo; a full memo is cleared.
const memoLimit = 1 << 14

func (m *focusMapper) resource(uri string) resourceNames {
	if n, ok := m.resources[uri]; ok {
		return n
	}
	if m.resources == nil || len(m.resources) >= memoLimit {
		m.resources = make(map[string]resourceNames)
	}
	n := resourceNames{name: ResourceName(uri), typ: ResourceType(uri)}
	n.plain = !needsQuotes(uri) && !needsQuotes(n.name) && !needsQuotes(n.typ)
	m.resources[uri] = n
	return n
}

func (m *focusMapper) serviceCategory(meterCategory string) string {
	if c, ok := m.services[meterCategory]; ok {
		return c
	}
	if m.services == nil || len(m.services) >= memoLimit {
		m.services = make(map[string]string)
	}
	c := ServiceCategoryOf(meterCategory)
	m.services[meterCategory] = c
	return c
}

func (m *focusMapper) description(r *charges.CostRow) string {
	k := descriptionKey{r.Kind, r.MeterCategory, r.MeterName, r.OriginalPeriod}
	if d, ok := m.descriptions[k]; ok {
		return d
	}
	if m.descriptions == nil || len(m.descriptions) >= memoLimit {
		m.descriptions = make(map[descriptionKey]string)
	}
	d := chargeDescription(r)
	m.descriptions[k] = d
	return d
}

// ChargeCategoryOf maps a CostRow kind to its FOCUS ChargeCategory and
// ChargeFrequency:
//
//   - Usage and Late usage → Usage, Usage-Based.
//   - Recurring Charge → Purchase, Recurring: "charges for the acquisition
//     of a service … bought upfront or on a recurring basis".
//   - Monetary Credit → Credit: "charges granted by the service provider
//     for various scenarios e.g. promotional credits".
//   - Monetary Commitment → Adjustment, One-Time. The commitment line draws
//     usage down against money the customer committed (a prepayment); it
//     is not granted by the provider (so not Credit), not a purchase of a
//     service (the purchase is the commitment itself, billed elsewhere),
//     and not a FOCUS commitment discount (those lower unit prices, with
//     CommitmentDiscount* columns). Adjustment is FOCUS's category for
//     "charges the service provider applies that do not fall into other
//     category values".
//
// Unknown kinds map to Adjustment, One-Time.
func ChargeCategoryOf(kind string) (category, frequency string) {
	switch kind {
	case kindUsage, kindLateUsage:
		return ChargeCategoryUsage, ChargeFrequencyUsageBased
	case kindRecurringCharge:
		return ChargeCategoryPurchase, ChargeFrequencyRecurring
	case kindMonetaryCredit:
		return ChargeCategoryCredit, ChargeFrequencyOneTime
	default:
		return ChargeCategoryAdjustment, ChargeFrequencyOneTime
	}
}

// isCorrection reports whether r corrects a previously invoiced period:
// late usage carried into a later period.
func isCorrection(r *charges.CostRow) bool {
	return r.OriginalPeriod != "" || r.Kind == kindLateUsage
}

// fill writes r's FOCUS values into rec (len fColumnCount).
func (m *focusMapper) fill(rec record, r *charges.CostRow) {
	category, frequency := ChargeCategoryOf(r.Kind)
	correction := isCorrection(r)
	usage := category == ChargeCategoryUsage
	priced := category == ChargeCategoryUsage || category == ChargeCategoryPurchase

	rec[fBilledCost].setDecimal(r.Cost)
	rec[fEffectiveCost].setDecimal(r.Cost)
	rec[fContractedCost].setDecimal(r.Cost)
	rec[fListCost].setDecimal(r.ListCost)
	if r.Priced && priced {
		rec[fListUnitPrice].setDecimal(r.ListUnitPrice)
		rec[fContractedUnitPrice].setDecimal(r.UnitPrice)
	} else {
		rec[fListUnitPrice].setNull()
		rec[fContractedUnitPrice].setNull()
	}

	rec[fBillingAccountId].setString(r.BillingAccount)
	rec[fBillingAccountName].setString(nameOr(m.opts.BillingAccountName, r.BillingAccount))
	rec[fBillingAccountType].setString("Billing Account")
	rec[fBillingCurrency].setString(r.Currency)
	rec[fBillingPeriodStart].setTime(r.BillingPeriodStart)
	rec[fBillingPeriodEnd].setTime(r.BillingPeriodEnd)
	rec[fChargePeriodStart].setTime(r.ChargePeriodStart)
	rec[fChargePeriodEnd].setTime(r.ChargePeriodEnd)

	rec[fChargeCategory].setString(category)
	rec[fChargeFrequency].setString(frequency)
	if correction {
		rec[fChargeClass].setString(ChargeClassCorrection)
	} else {
		rec[fChargeClass].setNull()
	}
	rec[fChargeDescription].setStringOrNull(m.description(r))

	if usage {
		rec[fConsumedQuantity].setDecimal(r.Quantity)
		rec[fConsumedUnit].setStringOrNull(r.Unit)
	} else {
		rec[fConsumedQuantity].setNull()
		rec[fConsumedUnit].setNull()
	}
	if priced {
		rec[fPricingCategory].setString(PricingCategoryStandard)
		q, unit := r.BillableQuantity, r.Unit
		if r.MeterID == "" && q.IsZero() && r.Quantity.IsZero() {
			q = money.DecimalFromInt(1) // an offer term is bought once per period
		}
		if unit == "" {
			unit = "Units"
		}
		rec[fPricingQuantity].setDecimal(q)
		rec[fPricingUnit].setString(unit)
	} else {
		rec[fPricingCategory].setNull()
		rec[fPricingQuantity].setNull()
		rec[fPricingUnit].setNull()
	}

	rec[fInvoiceId].setStringOrNull(r.InvoiceName)
	rec[fInvoiceIssuerName].setString(m.opts.ProviderName)
	rec[fProviderName].setString(m.opts.ProviderName)
	rec[fPublisherName].setString(m.opts.ProviderName)

	region := r.Location
	if region == "" {
		region = r.MeterRegion
	}
	regionName := r.MeterRegion
	if regionName == "" {
		regionName = region
	}
	rec[fRegionId].setStringOrNull(region)
	rec[fRegionName].setStringOrNull(regionName)

	res := m.resource(r.ResourceURI)
	rec[fResourceId].setStringOrNull(r.ResourceURI)
	rec[fResourceName].setStringOrNull(res.name)
	rec[fResourceType].setStringOrNull(res.typ)
	if res.plain {
		rec[fResourceId].plain = true
		rec[fResourceName].plain = true
		rec[fResourceType].plain = true
	}

	if r.MeterID != "" || r.MeterCategory != "" {
		rec[fServiceCategory].setString(m.serviceCategory(r.MeterCategory))
		rec[fServiceName].setString(orDefault(r.MeterCategory, "Other"))
	} else {
		rec[fServiceCategory].setString("Other")
		rec[fServiceName].setString(orDefault(r.Kind, "Other"))
	}
	rec[fSkuId].setStringOrNull(r.MeterID)
	rec[fSkuMeter].setStringOrNull(r.MeterName)

	rec[fSubAccountId].setString(r.SubscriptionID)
	rec[fSubAccountName].setString(nameOr(m.opts.SubAccountName, r.SubscriptionID))
	rec[fSubAccountType].setString("Subscription")

	if len(r.Tags) == 0 {
		rec[fTags].setNull()
	} else {
		e := m.tagMemo.entry(r.Tags)
		rec[fTags].setBytes(e.json)
		rec[fTags].pre = e.csv
	}
	rec[fxMeterId].setStringOrNull(r.MeterID)
	rec[fxMeterSubCategory].setStringOrNull(r.MeterSubCategory)
	rec[fxOriginalBillingPeriod].setStringOrNull(r.OriginalPeriod)
	rec[fxResourceGroupName].setStringOrNull(r.ResourceGroup)
}

func nameOr(f func(string) string, id string) string {
	if f != nil {
		if n := f(id); n != "" {
			return n
		}
	}
	return id
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// chargeDescription is a self-contained summary of the charge: the meter
// and its category for usage, the kind for offer terms, and the original
// period for late usage.
func chargeDescription(r *charges.CostRow) string {
	var s string
	switch {
	case r.MeterName != "" && r.MeterCategory != "":
		s = r.MeterCategory + " - " + r.MeterName
	case r.MeterName != "":
		s = r.MeterName
	default:
		s = r.Kind
	}
	if r.OriginalPeriod != "" {
		s += " (late usage of period " + r.OriginalPeriod + ")"
	}
	return s
}

// ResourceName returns the last segment of an ARM resource id ("" for "").
func ResourceName(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

// ResourceType returns the type of an ARM resource id: the provider
// namespace and the type segments after "providers/"
// (".../providers/Microsoft.Compute/virtualMachines/vm1" →
// "Microsoft.Compute/virtualMachines"; a child resource
// ".../providers/Microsoft.Sql/servers/s1/databases/d1" →
// "Microsoft.Sql/servers/databases"). It uses the last "providers"
// segment (extension resources) and returns "" when there is none.
func ResourceType(id string) string {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	p := -1
	for i, s := range segs {
		if strings.EqualFold(s, "providers") && i+1 < len(segs) {
			p = i
		}
	}
	if p < 0 || p+2 >= len(segs) {
		return ""
	}
	parts := []string{segs[p+1]}
	for i := p + 2; i < len(segs); i += 2 {
		parts = append(parts, segs[i])
	}
	return strings.Join(parts, "/")
}

// serviceCategories maps meter categories (Azure and Azure Stack Hub
// names, compared case-insensitively) to FOCUS 1.2 ServiceCategory values.
// Anything else is "Other" (FOCUS: "new or emerging services that do not
// align with an existing category").
var serviceCategories = map[string]string{
	"virtual machines":              "Compute",
	"virtual machine":               "Compute",
	"compute":                       "Compute",
	"azure kubernetes service":      "Compute",
	"container instances":           "Compute",
	"container registry":            "Compute",
	"functions":                     "Compute",
	"storage":                       "Storage",
	"backup":                        "Storage",
	"managed disks":                 "Storage",
	"networking":                    "Networking",
	"network":                       "Networking",
	"virtual network":               "Networking",
	"load balancer":                 "Networking",
	"ip addresses":                  "Networking",
	"vpn gateway":                   "Networking",
	"bandwidth":                     "Networking",
	"dns":                           "Networking",
	"sql database":                  "Databases",
	"sql server":                    "Databases",
	"mysql":                         "Databases",
	"azure database for mysql":      "Databases",
	"azure database for postgresql": "Databases",
	"azure cosmos db":               "Databases",
	"redis cache":                   "Databases",
	"app service":                   "Web",
	"azure app service":             "Web",
	"web apps":                      "Web",
	"key vault":                     "Security",
	"event hubs":                    "Integration",
	"service bus":                   "Integration",
	"logic apps":                    "Integration",
	"iot hub":                       "Internet of Things",
	"log analytics":                 "Management and Governance",
	"azure monitor":                 "Management and Governance",
	"monitor":                       "Management and Governance",
	"cognitive services":            "AI and Machine Learning",
	"machine learning":              "AI and Machine Learning",
	"azure data factory":            "Analytics",
	"hdinsight":                     "Analytics",
	"azure active directory":        "Identity",
	"microsoft entra id":            "Identity",
}

// ServiceCategoryOf returns the FOCUS ServiceCategory of a meter category.
func ServiceCategoryOf(meterCategory string) string {
	if c, ok := serviceCategories[strings.ToLower(strings.TrimSpace(meterCategory))]; ok {
		return c
	}
	return "Other"
}

// appendTagsJSON appends tags as a JSON object with keys sorted (FOCUS
// KeyValueFormat), reusing keys as scratch space.
func appendTagsJSON(b []byte, keys []string, tags map[string]string) ([]byte, []string) {
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, tags[k])
	}
	return append(b, '}'), keys
}

// appendJSONString appends s as a JSON string (RFC 8259), replacing
// invalid UTF-8 with U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// tagMemo remembers the JSON of recently seen tag maps, keyed by the map's
// identity. An entry is used only after checking that the map still holds
// exactly the remembered pairs (same length, every key with its value), so
// a map changed in place is re-encoded; the entry holds the map, so its
// address cannot be reused by another map while remembered.
type tagMemo struct {
	entries map[unsafe.Pointer]*tagEntry
	keys    []string
}

type tagEntry struct {
	m          map[string]string
	keys, vals []string
	json       []byte
	csv        []byte // json as a CSV field
}

func (t *tagMemo) json(tags map[string]string) []byte { return t.entry(tags).json }

func (t *tagMemo) entry(tags map[string]string) *tagEntry {
	p := *(*unsafe.Pointer)(unsafe.Pointer(&tags))
	if e := t.entries[p]; e != nil && len(e.keys) == len(tags) {
		same := true
		for i, k := range e.keys {
			if v, ok := tags[k]; !ok || v != e.vals[i] {
				same = false
				break
			}
		}
		if same {
			return e
		}
	}
	if t.entries == nil || len(t.entries) >= memoLimit {
		t.entries = make(map[unsafe.Pointer]*tagEntry)
	}
	var b []byte
	b, t.keys = appendTagsJSON(nil, t.keys[:0], tags)
	e := &tagEntry{m: tags, keys: append([]string(nil), t.keys...), json: b, csv: appendCSVField(nil, string(b))}
	for _, k := range e.keys {
		e.vals = append(e.vals, tags[k])
	}
	t.entries[p] = e
	return e
}
