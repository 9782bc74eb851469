// Package ratecardfixture is the price catalog the RateCard compatibility
// tests import into Reckon, and what every Azure client must read back.
//
// It is an ordinary (non-test) package so that the tests of the main module
// (compat/) and those of the separate track-1 module (compat/track1/, which
// keeps the 69 MB github.com/Azure/azure-sdk-for-go module out of the main
// go.mod) share one fixture. Every expected value is stated once, as the
// exact decimal text that was imported; each test converts it to the type
// its client decodes into (float32, float64, decimal.Decimal, uuid.UUID).
package ratecardfixture

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The RateCard parameters of the fixture, and the subscription whose own
// parameters they are.
const (
	Subscription = "7c1e5a2b-3d4f-4e6a-9b8c-0d1e2f3a4b5c"
	Offer        = "MS-AZR-0003P"
	Currency     = "USD"
	Locale       = "en-US"
	RegionInfo   = "US"
	// Filter is the $filter of the fixture, as Azure's documentation writes it.
	Filter = "OfferDurableId eq '" + Offer + "' and Currency eq '" + Currency +
		"' and Locale eq '" + Locale + "' and RegionInfo eq '" + RegionInfo + "'"
)

// The RateCard api-versions: 2016-08-31-preview adds MeterStatus.
const (
	APIVersion2015 = "2015-06-01-preview"
	APIVersion2016 = "2016-08-31-preview"
)

// Now is the server's clock: every rate and term of the fixture is in force.
var Now = time.Date(2024, 2, 10, 12, 0, 0, 0, time.UTC)

// Tier is one entry of MeterRates (Min is the tier's lower bound, Value its
// unit price) or of TieredDiscount (Min is the amount, Value the discount
// percentage), as exact decimal text.
type Tier struct{ Min, Value string }

// Meter is one element of Meters.
type Meter struct {
	ID, Name, Category, SubCategory, Unit string
	Tags                                  []string
	Region                                string
	Rates                                 []Tier
	EffectiveDate                         time.Time
	IncludedQuantity                      string
	Status                                string // "Active" or "Deprecated"
}

// Rate returns the price of the tier starting at min ("" if none).
func (m Meter) Rate(min string) string {
	for _, t := range m.Rates {
		if t.Min == min {
			return t.Value
		}
	}
	return ""
}

// ExcludedMeter is a meter excluded from the Monetary Credit that is not in
// the RateCard (Azure lists such meters too).
const ExcludedMeter = "5b2a6d4e-1c3f-4e8a-9b7d-2f1e0a9c8b7d"

// Meters are the fixture's meters, in the order the RateCard lists them
// (by MeterId). The third has a name that needs JSON escaping and prices
// with more significant digits than a float32 holds.
var Meters = []Meter{
	{
		ID: "0e59ad56-03e5-4c3d-90d4-6670874d7e29", Name: "Compute Hours", Category: "Virtual Machines",
		SubCategory: "A0 VM (Windows)", Unit: "Hours", Tags: []string{}, Region: "",
		Rates:         []Tier{{"0", "0.029"}},
		EffectiveDate: time.Date(2014, 8, 1, 0, 0, 0, 0, time.UTC), IncludedQuantity: "0", Status: "Deprecated",
	},
	{
		ID: "1d7518e5-bc2f-4a93-9057-1b3047856645", Name: "Test Meter", Category: "Test Category",
		SubCategory: "Test Subcategory", Unit: "Hours", Tags: []string{"Third Party"}, Region: "US West",
		Rates:         []Tier{{"0", "1.99"}, {"100", "0.99"}},
		EffectiveDate: time.Date(2017, 9, 1, 0, 0, 0, 0, time.UTC), IncludedQuantity: "10", Status: "Active",
	},
	{
		ID: "9b8a7c6d-5e4f-4b3a-8c2d-1e0f2a3b4c5d", Name: `P10 "Premium" Disk – Zürich`, Category: "Storage",
		SubCategory: `Premium SSD Managed Disks\LRS`, Unit: "1/Month", Tags: []string{"Preview", "Zone Redundant"}, Region: "CH North",
		Rates:         []Tier{{"0", "12.3456789"}, {"51200", "0.0184"}, {"512000", "0.01775"}},
		EffectiveDate: time.Date(2023, 11, 1, 6, 30, 0, 0, time.UTC), IncludedQuantity: "5.5", Status: "Active",
	},
}

// MonetaryCredit is the fixture's "Monetary Credit" offer term.
var MonetaryCredit = struct {
	EffectiveDate time.Time
	Credit        string
	Excluded      []string
}{time.Date(2014, 9, 1, 0, 0, 0, 0, time.UTC), "150.75", []string{ExcludedMeter, Meters[1].ID}}

// MonetaryCommitment is the fixture's "Monetary Commitment" offer term.
var MonetaryCommitment = struct {
	EffectiveDate  time.Time
	TieredDiscount []Tier
	Excluded       []string
}{time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), []Tier{{"0", "0"}, {"1000", "5.5"}, {"10000", "12.25"}}, []string{}}

// RecurringCharge is the fixture's "Recurring Charge" offer term.
var RecurringCharge = struct {
	EffectiveDate time.Time
	Amount        string
}{time.Date(2016, 3, 15, 0, 0, 0, 0, time.UTC), "10"}

// The offer terms' wire names.
const (
	TermMonetaryCredit     = "Monetary Credit"
	TermMonetaryCommitment = "Monetary Commitment"
	TermRecurringCharge    = "Recurring Charge"
)

// Body returns the fixture as a RateCard response body, the way Azure
// writes it (PascalCase, numbers as JSON numbers); it is what Start imports.
func Body() string {
	var b bytes.Buffer
	str := func(s string) {
		v, err := json.Marshal(s)
		if err != nil {
			panic(err)
		}
		b.Write(v)
	}
	strs := func(list []string) {
		b.WriteByte('[')
		for i, s := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			str(s)
		}
		b.WriteByte(']')
	}
	tiers := func(list []Tier) {
		b.WriteByte('{')
		for i, t := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			str(t.Min)
			b.WriteString(": " + t.Value)
		}
		b.WriteByte('}')
	}
	date := func(t time.Time) { str(t.Format(time.RFC3339)) }

	b.WriteString("{\n  \"OfferTerms\": [\n    {\"Name\": ")
	str(TermMonetaryCredit)
	b.WriteString(", \"EffectiveDate\": ")
	date(MonetaryCredit.EffectiveDate)
	b.WriteString(", \"Credit\": " + MonetaryCredit.Credit + ", \"ExcludedMeterIds\": ")
	strs(MonetaryCredit.Excluded)
	b.WriteString("},\n    {\"Name\": ")
	str(TermMonetaryCommitment)
	b.WriteString(", \"EffectiveDate\": ")
	date(MonetaryCommitment.EffectiveDate)
	b.WriteString(", \"TieredDiscount\": ")
	tiers(MonetaryCommitment.TieredDiscount)
	b.WriteString(", \"ExcludedMeterIds\": ")
	strs(MonetaryCommitment.Excluded)
	b.WriteString("},\n    {\"Name\": ")
	str(TermRecurringCharge)
	b.WriteString(", \"EffectiveDate\": ")
	date(RecurringCharge.EffectiveDate)
	b.WriteString(", \"RecurringCharge\": " + RecurringCharge.Amount + "}\n  ],\n  \"Meters\": [")
	for i, m := range Meters {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("\n    {\"EffectiveDate\": ")
		date(m.EffectiveDate)
		b.WriteString(", \"IncludedQuantity\": " + m.IncludedQuantity + ", \"MeterCategory\": ")
		str(m.Category)
		b.WriteString(", \"MeterId\": ")
		str(m.ID)
		b.WriteString(", \"MeterName\": ")
		str(m.Name)
		b.WriteString(", \"MeterRates\": ")
		tiers(m.Rates)
		b.WriteString(", \"MeterRegion\": ")
		str(m.Region)
		b.WriteString(", \"MeterSubCategory\": ")
		str(m.SubCategory)
		b.WriteString(", \"MeterTags\": ")
		strs(m.Tags)
		b.WriteString(", \"Unit\": ")
		str(m.Unit)
		b.WriteString(", \"MeterStatus\": ")
		str(m.Status)
		b.WriteByte('}')
	}
	b.WriteString("\n  ],\n  \"Currency\": ")
	str(Currency)
	b.WriteString(", \"Locale\": ")
	str(Locale)
	b.WriteString(", \"IsTaxIncluded\": false\n}\n")
	return b.String()
}

// BadQuery is a RateCard $filter Reckon must refuse, with the 400's code.
type BadQuery struct {
	Name, Filter, Code string
}

// BadQueries are refused filters: a malformed one, and well-formed ones
// naming an offer, currency or region the catalog does not sell.
var BadQueries = []BadQuery{
	{"malformed", "OfferDurableId eq '" + Offer + "'", "InvalidFilter"},
	{"quoted", "'" + Filter + "'", "InvalidFilter"},
	{"unknown offer", "OfferDurableId eq 'MS-AZR-0145P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "InvalidOffer"},
	{"currency not offered", "OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'EUR' and Locale eq 'en-US' and RegionInfo eq 'US'", "CurrencyNotOffered"},
	{"region not offered", "OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'FR'", "RegionNotOffered"},
}

// Start starts an HTTPS Reckon server on backend b with its clock at Now,
// creates Subscription and imports Body through the operator API,
// checking that every meter, rate and offer term was added.
func Start(t testing.TB, b reckontest.Backend) *reckontest.Server {
	t.Helper()
	clock := reckontest.NewClock(Now)
	srv := reckontest.Start(t, reckontest.Options{Backend: b, TLS: true, Now: clock.Now})
	resp, data := srv.Do(t, http.MethodPut, "/admin/v1/subscriptions/"+Subscription, srv.AdminToken,
		`{"displayName":"RateCard compat","billingAccount":"compat","offerDurableId":"`+Offer+`","currency":"`+Currency+
			`","locale":"`+Locale+`","regionInfo":"`+RegionInfo+`"}`)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT subscription: %d %s", resp.StatusCode, data)
	}
	q := url.Values{"format": {"ratecard"}, "offerDurableId": {Offer}, "currency": {Currency}, "locale": {Locale}, "regionInfo": {RegionInfo}}
	resp, data = srv.Do(t, http.MethodPost, "/admin/v1/catalog/import?"+q.Encode(), srv.AdminToken, Body())
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import: %d %s", resp.StatusCode, data)
	}
	type counts struct{ Added, Changed, Unchanged int }
	var res struct {
		Meters, Rates, Terms counts
		Rejected             []json.RawMessage
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatalf("import answer %s: %v", data, err)
	}
	rates := 0
	for _, m := range Meters {
		rates += len(m.Rates)
	}
	if len(res.Rejected) != 0 || res.Meters.Added != len(Meters) || res.Terms.Added != 3 || res.Rates.Added != len(Meters) {
		t.Fatalf("import: %s, want %d meters (%d tiers) and 3 terms added, none rejected", data, len(Meters), rates)
	}
	return srv
}
