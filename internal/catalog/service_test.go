package catalog_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/store"
)

var ctx = context.Background()

// env is a catalog service over a fresh store of one backend.
type env struct {
	db    *store.DB
	clock *reckontest.Clock
	svc   *catalog.Service
}

func newEnv(t *testing.T, b reckontest.Backend) *env {
	db := reckontest.OpenStore(t, b)
	clock := reckontest.NewClock(time.Date(2026, 8, 25, 12, 0, 0, 0, time.UTC))
	return &env{db: db, clock: clock, svc: catalog.NewService(db, clock.Now)}
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		if raw, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return raw
}

func (e *env) importBody(t *testing.T, format string, p catalog.ImportParams, body string) catalog.ImportResult {
	t.Helper()
	res, err := e.svc.Import(ctx, format, p, strings.NewReader(body))
	if err != nil {
		t.Fatalf("Import: %v", err)
	}
	return res
}

func (e *env) version(t *testing.T) int64 {
	t.Helper()
	v, err := e.svc.CatalogVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tiers(ts []catalog.Tier) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Min.String()+":"+t.Price.String())
	}
	return strings.Join(s, " ")
}

func errCode(err error) string {
	if be := billing.AsError(err); be != nil {
		return be.Code
	}
	if err != nil {
		return "?" + err.Error()
	}
	return ""
}

func meterOf(v catalog.RateCardView, id string) *catalog.RateCardMeter {
	for i := range v.Meters {
		if v.Meters[i].MeterID == id {
			return &v.Meters[i]
		}
	}
	return nil
}

const (
	meterNW    = "ba2b4df6-e886-4cf2-9818-33f27d22b3cf" // Network Watcher, five tiers
	usRegion   = "US"
	offerPAYG  = "MS-AZR-0003P"
	offerTerms = "MS-AZR-0026P"
)

var usd = catalog.ImportParams{OfferDurableID: offerPAYG, Currency: "USD", Locale: "en-US", RegionInfo: usRegion}

// TestImportRealRetailFile imports the real Retail Prices items, checks
// what it reports and what the RateCard then shows, and imports them again:
// everything unchanged and the catalog version untouched.
func TestImportRealRetailFile(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		body := testdata(t, "retail/carbonandfinch_first1000_items_2026-08-22.json.gz")
		v0 := e.version(t)
		start := time.Now()
		res, err := e.svc.Import(ctx, catalog.FormatRetailPrices, catalog.ImportParams{RegionInfo: "us"}, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("import of 1,000 items: %v", time.Since(start))
		want := catalog.ImportResult{Format: "retail-prices", OfferDurableID: offerPAYG, Currency: "USD", Locale: "en-US", RegionInfo: "US",
			Items: 1000, OfferCreated: true, Meters: catalog.Counts{Added: 652}, Rates: catalog.Counts{Added: 652}, Rejected: []catalog.Rejection{},
			Skipped: 330, SkippedReasons: map[string]int{"type DevTestConsumption": 188, "type Reservation": 140, "duplicate item": 2},
			CatalogVersion: v0 + 1}
		if !reflect.DeepEqual(res, want) {
			t.Fatalf("result\n%+v\nwant\n%+v", res, want)
		}
		if _, err := json.Marshal(res); err != nil {
			t.Fatalf("result is not JSON-serialisable: %v", err)
		}
		o, err := e.svc.Offer(ctx, "ms-azr-0003p")
		if err != nil || o.Name != offerPAYG || !reflect.DeepEqual(o.Regions, []string{"US"}) || len(o.Currencies) != 1 || o.Currencies[0].Currency != "USD" {
			t.Fatalf("offer %+v, %v", o, err)
		}
		view, err := e.svc.RateCard(ctx, catalog.RateCardQuery{OfferDurableID: offerPAYG, Currency: "usd", Locale: "en-us", RegionInfo: "us"}, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(view.Meters) != 652 || view.Currency != "USD" || view.Locale != "en-US" || view.RegionInfo != "US" || view.Version != v0+1 || len(view.OfferTerms) != 0 {
			t.Fatalf("view: %d meters, %s %s %s v%d, terms %v", len(view.Meters), view.Currency, view.Locale, view.RegionInfo, view.Version, view.OfferTerms)
		}
		m := meterOf(view, meterNW)
		if m == nil || tiers(m.MeterRates) != "0:0 10:0.3 240010:0.1 750010:0.05 1000010:0.02" || m.MeterName != "Standard Perf Monitor Connection Metric" ||
			m.MeterCategory != "Network Watcher" || m.Unit != "1" || m.MeterRegion != "US West" || m.MeterStatus != "Active" ||
			!m.EffectiveDate.Equal(day("2018-03-02")) || m.MeterTags == nil || len(m.MeterTags) != 0 {
			t.Fatalf("meter %+v", m)
		}
		for i := 1; i < len(view.Meters); i++ {
			if view.Meters[i-1].MeterID >= view.Meters[i].MeterID {
				t.Fatalf("meters not in id order at %d", i)
			}
		}

		res, err = e.svc.Import(ctx, catalog.FormatRetailPrices, catalog.ImportParams{RegionInfo: "US"}, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if res.OfferCreated || res.OfferChanged || res.Meters != (catalog.Counts{Unchanged: 652}) || res.Rates != (catalog.Counts{Unchanged: 652}) ||
			res.CatalogVersion != v0+1 || e.version(t) != v0+1 {
			t.Fatalf("second import %+v; want all unchanged at version %d", res, v0+1)
		}
	})
}

// rateCardJSON renders a view as Azure's RateCard body, numbers written
// from their exact decimal text: the test's own renderer.
func rateCardJSON(v catalog.RateCardView) string {
	num := func(d money.Decimal) json.RawMessage { return json.RawMessage(d.String()) }
	type meter struct {
		EffectiveDate    string
		IncludedQuantity json.RawMessage
		MeterCategory    string
		MeterId          string
		MeterName        string
		MeterRates       map[string]json.RawMessage
		MeterRegion      string
		MeterSubCategory string
		MeterTags        []string
		Unit             string
		MeterStatus      string
	}
	var body struct {
		OfferTerms    []map[string]any
		Meters        []meter
		Currency      string
		Locale        string
		IsTaxIncluded bool
	}
	body.Currency, body.Locale = v.Currency, v.Locale
	body.OfferTerms = []map[string]any{}
	for _, t := range v.OfferTerms {
		o := map[string]any{"Name": t.Name, "EffectiveDate": t.EffectiveDate.Format(time.RFC3339)}
		switch t.Name {
		case catalog.TermMonetaryCredit:
			o["Credit"], o["ExcludedMeterIds"] = num(t.Credit), t.ExcludedMeterIDs
		case catalog.TermMonetaryCommitment:
			td := map[string]json.RawMessage{}
			for _, d := range t.TieredDiscount {
				td[d.Min.String()] = num(d.Percent)
			}
			o["TieredDiscount"], o["ExcludedMeterIds"] = td, t.ExcludedMeterIDs
		case catalog.TermRecurringCharge:
			o["RecurringCharge"] = num(t.RecurringCharge)
		}
		body.OfferTerms = append(body.OfferTerms, o)
	}
	for _, m := range v.Meters {
		rates := map[string]json.RawMessage{}
		for _, t := range m.MeterRates {
			rates[t.Min.String()] = num(t.Price)
		}
		body.Meters = append(body.Meters, meter{m.EffectiveDate.Format(time.RFC3339), num(m.IncludedQuantity), m.MeterCategory, m.MeterID,
			m.MeterName, rates, m.MeterRegion, m.MeterSubCategory, m.MeterTags, m.Unit, m.MeterStatus})
	}
	out, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return string(out)
}

// TestRateCardRoundTrip imports a RateCard body, renders the RateCard the
// catalog then answers as a body, imports that into another offer, and
// gets the same RateCard: every field survives, exactly.
func TestRateCardRoundTrip(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		res := e.importBody(t, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: offerTerms, RegionInfo: "US"},
			string(testdata(t, "ratecard/contoso-usd.json")))
		if res.Meters.Added != 3 || res.Rates.Added != 3 || res.Terms.Added != 3 || len(res.Rejected) != 0 || res.Currency != "USD" {
			t.Fatalf("import %+v", res)
		}
		q := catalog.RateCardQuery{OfferDurableID: offerTerms, Currency: "USD", Locale: "en-US", RegionInfo: "US"}
		view, err := e.svc.RateCard(ctx, q, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(view.OfferTerms) != 3 || len(view.Meters) != 3 {
			t.Fatalf("view %+v", view)
		}
		storage := meterOf(view, "3c0ef3d8-de64-5b67-b94a-37118d5bfb65")
		if tiers(storage.MeterRates) != "0:0.0208 51200:0.02 512000:0.0192" || storage.IncludedQuantity.String() != "5" {
			t.Errorf("storage meter %+v", storage)
		}
		test := meterOf(view, "8a2f9c71-5b3d-4e6a-9f10-2c4d6e8f0a1b")
		if test.MeterStatus != "Deprecated" || !reflect.DeepEqual(test.MeterTags, []string{"Third Party"}) || tiers(test.MeterRates) != "0:1.99 100:0.99" {
			t.Errorf("test meter %+v", test)
		}
		body := rateCardJSON(view)
		res = e.importBody(t, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: "MS-AZR-0027P", RegionInfo: "US"}, body)
		// The meters are shared: unchanged; rates and terms are the new offer's.
		if res.Meters.Unchanged != 3 || res.Rates.Added != 3 || res.Terms.Added != 3 || len(res.Rejected) != 0 {
			t.Fatalf("re-import %+v", res)
		}
		q.OfferDurableID = "MS-AZR-0027P"
		again, err := e.svc.RateCard(ctx, q, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if got := rateCardJSON(again); got != body {
			t.Fatalf("round trip differs:\n%s\nwant\n%s", got, body)
		}
		for i := range again.OfferTerms {
			if again.OfferTerms[i].OfferDurableID != "MS-AZR-0027P" || again.OfferTerms[i].Currency != "USD" {
				t.Errorf("term %+v", again.OfferTerms[i])
			}
		}
	})
}

// retailItem is one Retail Prices API item of meter meterA.
func retailItem(effective, price string) string {
	return `{"currencyCode":"USD","tierMinimumUnits":0.0,"unitPrice":` + price + `,"effectiveStartDate":"` + effective +
		`T00:00:00Z","meterId":"` + meterA + `","meterName":"D2 v3","productName":"Virtual Machines Dv3 Series","serviceName":"Virtual Machines",` +
		`"location":"US West","unitOfMeasure":"1 Hour","type":"Consumption","isPrimaryMeterRegion":true}`
}

const (
	meterA = "0a0a0a0a-1111-4111-8111-0a0a0a0a0a0a"
	meterB = "0b0b0b0b-2222-4222-8222-0b0b0b0b0b0b"
)

// TestEffectiveDatedRates: a new effective date adds a version and leaves
// the old one for its time; re-importing a version with other prices
// replaces that version only.
func TestEffectiveDatedRates(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		res := e.importBody(t, catalog.FormatRetailPrices, usd, retailItem("2024-01-01", "1"))
		if res.Rates != (catalog.Counts{Added: 1}) {
			t.Fatalf("first %+v", res)
		}
		res = e.importBody(t, catalog.FormatRetailPrices, usd, retailItem("2024-06-01", "0.9"))
		if res.Rates != (catalog.Counts{Added: 1}) || res.Meters != (catalog.Counts{Unchanged: 1}) {
			t.Fatalf("second %+v", res)
		}
		priceAt := func(at time.Time) string {
			t.Helper()
			v, err := e.svc.RateCard(ctx, catalog.RateCardQuery{OfferDurableID: offerPAYG, Currency: "USD", Locale: "en-US", RegionInfo: "US"}, at)
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Meters) == 0 {
				return "none"
			}
			return tiers(v.Meters[0].MeterRates) + "@" + v.Meters[0].EffectiveDate.Format(time.DateOnly)
		}
		for at, want := range map[time.Time]string{
			day("2023-12-31"):                        "none",
			day("2024-01-01"):                        "0:1@2024-01-01",
			day("2024-06-01").Add(-time.Microsecond): "0:1@2024-01-01",
			day("2024-06-01"):                        "0:0.9@2024-06-01",
			day("2026-01-01"):                        "0:0.9@2024-06-01",
		} {
			if got := priceAt(at); got != want {
				t.Errorf("at %s: %s; want %s", at, got, want)
			}
		}
		pl, err := e.svc.RatesFor(ctx, "ms-azr-0003p", "usd", []string{strings.ToUpper(meterA), meterB}, day("2024-05-01"), day("2024-07-01"))
		if err != nil {
			t.Fatal(err)
		}
		if got := pl.Rates[meterA]; len(got) != 2 || tiers(got[0].Tiers) != "0:1" || tiers(got[1].Tiers) != "0:0.9" || len(pl.Rates) != 1 {
			t.Fatalf("RatesFor = %+v", pl.Rates)
		}
		pl, err = e.svc.RatesFor(ctx, offerPAYG, "USD", nil, day("2024-07-01"), day("2024-08-01"))
		if err != nil || len(pl.Rates[meterA]) != 1 || tiers(pl.Rates[meterA][0].Tiers) != "0:0.9" {
			t.Fatalf("RatesFor (all meters, after the change) = %+v, %v", pl.Rates, err)
		}

		// The same version with another price: changed, replaced; the
		// earlier version is untouched.
		v := e.version(t)
		res = e.importBody(t, catalog.FormatRetailPrices, usd, retailItem("2024-06-01", "0.85"))
		if res.Rates != (catalog.Counts{Changed: 1}) || res.CatalogVersion != v+1 {
			t.Fatalf("changed %+v", res)
		}
		if got := priceAt(day("2024-07-01")); got != "0:0.85@2024-06-01" {
			t.Errorf("after the change: %s", got)
		}
		if got := priceAt(day("2024-05-01")); got != "0:1@2024-01-01" {
			t.Errorf("history rewritten: %s", got)
		}
		// An older version can be added later: it never hides a newer one.
		res = e.importBody(t, catalog.FormatRetailPrices, usd, retailItem("2023-01-01", "1.1"))
		if res.Rates != (catalog.Counts{Added: 1}) || priceAt(day("2023-06-01")) != "0:1.1@2023-01-01" || priceAt(day("2024-02-01")) != "0:1@2024-01-01" {
			t.Errorf("older version: %+v", res)
		}
	})
}

// TestDerivedCurrency: EUR derived from USD at a stated rate and rounding;
// prices and terms converted in the RateCard and for rating; EUR prices
// cannot be imported.
func TestDerivedCurrency(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		e.importBody(t, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: offerTerms, RegionInfo: "US"}, string(testdata(t, "ratecard/contoso-usd.json")))
		o, err := e.svc.Offer(ctx, offerTerms)
		if err != nil {
			t.Fatal(err)
		}
		o.Currencies = append(o.Currencies, catalog.OfferCurrency{Currency: "EUR", BaseCurrency: "USD", ExchangeRate: dec("0.92"), RoundingDecimals: 4})
		o.Regions = append(o.Regions, "DE")
		stored, created, err := e.svc.PutOffer(ctx, offerTerms, o)
		if err != nil || created || len(stored.Currencies) != 2 || !reflect.DeepEqual(stored.Regions, []string{"DE", "US"}) {
			t.Fatalf("PutOffer = %+v, %v, %v", stored, created, err)
		}
		view, err := e.svc.RateCard(ctx, catalog.RateCardQuery{OfferDurableID: offerTerms, Currency: "eur", Locale: "de-DE", RegionInfo: "DE"}, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		// 0.0208 × 0.92 = 0.019136 → 0.0191; 0.02 → 0.0184; 0.0192 → 0.017664 → 0.0177.
		if m := meterOf(view, "3c0ef3d8-de64-5b67-b94a-37118d5bfb65"); tiers(m.MeterRates) != "0:0.0191 51200:0.0184 512000:0.0177" {
			t.Errorf("EUR storage tiers %s", tiers(m.MeterRates))
		}
		// 0.096 × 0.92 = 0.08832 → 0.0883.
		if m := meterOf(view, "1d7518e5-bc2f-4a93-9057-1b3047856645"); tiers(m.MeterRates) != "0:0.0883" || m.MeterName != "D2 v3/D2s v3" {
			t.Errorf("EUR VM %+v", m)
		}
		if view.Currency != "EUR" || len(view.OfferTerms) != 3 || view.OfferTerms[1].Credit.String() != "138" ||
			view.OfferTerms[0].TieredDiscount[1].Min.String() != "920" || view.OfferTerms[2].RecurringCharge.String() != "9.2" ||
			view.OfferTerms[1].Currency != "EUR" {
			t.Errorf("EUR terms %+v", view.OfferTerms)
		}
		pl, err := e.svc.RatesFor(ctx, offerTerms, "EUR", []string{"1d7518e5-bc2f-4a93-9057-1b3047856645"}, day("2026-01-01"), day("2026-02-01"))
		if err != nil || pl.Currency.Currency != "EUR" || !pl.Currency.Derived() {
			t.Fatal(pl, err)
		}
		if r := pl.Rates["1d7518e5-bc2f-4a93-9057-1b3047856645"]; len(r) != 1 || tiers(r[0].Tiers) != "0:0.0883" || r[0].Currency != "EUR" || len(pl.Terms) != 3 {
			t.Errorf("EUR price list %+v", pl)
		}
		v := e.version(t)
		_, err = e.svc.Import(ctx, catalog.FormatRetailPrices, catalog.ImportParams{OfferDurableID: offerTerms, Currency: "EUR"},
			strings.NewReader(strings.ReplaceAll(retailItem("2024-01-01", "1"), "USD", "EUR")))
		if errCode(err) != catalog.CodeCurrencyIsDerived || e.version(t) != v {
			t.Fatalf("EUR import: %v (version %d → %d)", err, v, e.version(t))
		}
		if ms, _ := e.svc.Meters(ctx); len(ms) != 3 {
			t.Fatalf("the refused import wrote meters: %d", len(ms))
		}
	})
}

func dec(s string) money.Decimal {
	d, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// TestLocalizedNames: names of another locale go to that locale only; the
// RateCard falls back to en-US; the meter's own names stay.
func TestLocalizedNames(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		body := string(testdata(t, "ratecard/contoso-usd.json"))
		e.importBody(t, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: offerTerms, RegionInfo: "DE"}, body)
		german := strings.NewReplacer(`"Locale": "en-US"`, `"Locale": "de-DE"`, `"Hot LRS Data Stored"`, `"Gespeicherte Daten (Hot LRS)"`,
			`"MeterCategory": "Storage"`, `"MeterCategory": "Speicher"`, `"Unit": "1 GB/Month"`, `"Unit": "1 GB/Monat"`).Replace(body)
		res := e.importBody(t, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: offerTerms}, german)
		// The unit is not localized: the storage meter changes (unit); the
		// other two are unchanged; three German texts are added.
		if res.Locale != "de-DE" || res.Texts != (catalog.Counts{Added: 3}) || res.Meters != (catalog.Counts{Changed: 1, Unchanged: 2}) || res.Rates.Unchanged != 3 {
			t.Fatalf("German import %+v", res)
		}
		const id = "3c0ef3d8-de64-5b67-b94a-37118d5bfb65"
		name := func(locale string) string {
			t.Helper()
			v, err := e.svc.RateCard(ctx, catalog.RateCardQuery{OfferDurableID: offerTerms, Currency: "USD", Locale: locale, RegionInfo: "DE"}, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			m := meterOf(v, id)
			return m.MeterName + "/" + m.MeterCategory + "/" + m.Unit
		}
		if got := name("de-de"); got != "Gespeicherte Daten (Hot LRS)/Speicher/1 GB/Monat" {
			t.Errorf("de-DE: %s", got)
		}
		if got := name("fr-FR"); got != "Hot LRS Data Stored/Storage/1 GB/Monat" {
			t.Errorf("fr-FR (fallback to en-US): %s", got)
		}
		m, err := e.svc.Meter(ctx, id)
		if err != nil || m.MeterName != "Hot LRS Data Stored" {
			t.Errorf("meter's own name %+v, %v", m, err)
		}
		again := e.importBody(t, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: offerTerms}, german)
		if again.Texts != (catalog.Counts{Unchanged: 3}) || again.Meters != (catalog.Counts{Unchanged: 3}) {
			t.Errorf("German again %+v", again)
		}
	})
}

// TestRateCardErrors checks each RateCard refusal.
func TestRateCardErrors(t *testing.T) {
	e := newEnv(t, reckontest.SQLite)
	e.importBody(t, catalog.FormatRetailPrices, usd, retailItem("2024-01-01", "1"))
	ok := catalog.RateCardQuery{OfferDurableID: offerPAYG, Currency: "USD", Locale: "en-US", RegionInfo: "US"}
	for _, tt := range []struct {
		change func(*catalog.RateCardQuery)
		code   string
	}{
		{func(q *catalog.RateCardQuery) {}, ""},
		{func(q *catalog.RateCardQuery) { q.OfferDurableID = "MS-AZR-3P" }, catalog.CodeInvalidOffer},
		{func(q *catalog.RateCardQuery) { q.OfferDurableID = "MS-AZR-0017P" }, catalog.CodeInvalidOffer},
		{func(q *catalog.RateCardQuery) { q.Currency = "USDX" }, catalog.CodeInvalidCurrency},
		{func(q *catalog.RateCardQuery) { q.Currency = "EUR" }, catalog.CodeCurrencyNotOffered},
		{func(q *catalog.RateCardQuery) { q.Locale = "" }, catalog.CodeInvalidLocale},
		{func(q *catalog.RateCardQuery) { q.RegionInfo = "United States" }, catalog.CodeInvalidRegionInfo},
		{func(q *catalog.RateCardQuery) { q.RegionInfo = "DE" }, catalog.CodeRegionNotOffered},
	} {
		q := ok
		tt.change(&q)
		_, err := e.svc.RateCard(ctx, q, e.clock.Now())
		if errCode(err) != tt.code {
			t.Errorf("%+v: %v; want %q", q, err, tt.code)
		}
		if be := billing.AsError(err); err != nil && (be.Kind != billing.KindInvalid || be.Message == "") {
			t.Errorf("%+v: %v is not a KindInvalid error with a message", q, err)
		}
	}
	if _, err := e.svc.RatesFor(ctx, offerPAYG, "USD", nil, day("2024-02-01"), day("2024-01-01")); errCode(err) != catalog.CodeInvalidProperty {
		t.Errorf("RatesFor with start after end: %v", err)
	}
	if _, err := e.svc.RatesFor(ctx, offerPAYG, "USD", []string{"x"}, day("2024-01-01"), day("2024-02-01")); errCode(err) != catalog.CodeInvalidMeterID {
		t.Errorf("RatesFor with a bad meter: %v", err)
	}
	if _, err := e.svc.RatesFor(ctx, offerPAYG, "GBP", nil, day("2024-01-01"), day("2024-02-01")); errCode(err) != catalog.CodeCurrencyNotOffered {
		t.Errorf("RatesFor in GBP: %v", err)
	}
}

// TestOffersAndMeters: PutOffer creates, replaces, and writes nothing for
// an identical offer; PutMeter stores tags; each write moves the version.
func TestOffersAndMeters(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		if os, err := e.svc.Offers(ctx); err != nil || os == nil || len(os) != 0 {
			t.Fatalf("Offers of an empty catalog: %v, %v", os, err)
		}
		if _, err := e.svc.Offer(ctx, offerPAYG); errCode(err) != "OfferNotFound" || billing.AsError(err).Kind != billing.KindNotFound {
			t.Fatalf("missing offer: %v", err)
		}
		v0 := e.version(t)
		in := catalog.Offer{Name: "Pay-As-You-Go", Regions: []string{"us", "gb"}, Currencies: []catalog.OfferCurrency{{Currency: "USD"}, {Currency: "GBP", BaseCurrency: "USD", ExchangeRate: dec("0.79"), RoundingDecimals: 6}}}
		o, created, err := e.svc.PutOffer(ctx, "ms-azr-0003p", in)
		if err != nil || !created || o.DurableID != offerPAYG || !o.CreatedAt.Equal(e.clock.Now()) || e.version(t) != v0+1 {
			t.Fatalf("create %+v %v %v", o, created, err)
		}
		e.clock.Advance(time.Hour)
		same, created, err := e.svc.PutOffer(ctx, offerPAYG, in)
		if err != nil || created || !same.UpdatedAt.Equal(o.UpdatedAt) || e.version(t) != v0+1 {
			t.Fatalf("identical put %+v %v %v (version %d)", same, created, err, e.version(t))
		}
		in.Name = "PAYG"
		repl, created, err := e.svc.PutOffer(ctx, offerPAYG, in)
		if err != nil || created || !repl.CreatedAt.Equal(o.CreatedAt) || !repl.UpdatedAt.Equal(e.clock.Now()) || e.version(t) != v0+2 {
			t.Fatalf("replace %+v %v %v", repl, created, err)
		}
		got, err := e.svc.Offer(ctx, offerPAYG)
		if err != nil || !reflect.DeepEqual(got, repl) {
			t.Fatalf("stored offer %+v\nwant %+v", got, repl)
		}
		if _, _, err := e.svc.PutOffer(ctx, offerPAYG, catalog.Offer{Currencies: []catalog.OfferCurrency{{Currency: "EUR", BaseCurrency: "USD", ExchangeRate: dec("1")}}}); errCode(err) != catalog.CodeInvalidProperty {
			t.Fatalf("derived without its base: %v", err)
		}
		o2 := catalog.Offer{Currencies: []catalog.OfferCurrency{{Currency: "JPY"}}}
		if _, _, err := e.svc.PutOffer(ctx, "MS-AZR-0017P", o2); err != nil {
			t.Fatal(err)
		}
		os, err := e.svc.Offers(ctx)
		if err != nil || len(os) != 2 || os[0].DurableID != "MS-AZR-0003P" || os[1].DurableID != "MS-AZR-0017P" || os[1].Name != "MS-AZR-0017P" || len(os[0].Currencies) != 2 {
			t.Fatalf("Offers %+v, %v", os, err)
		}

		m, created, err := e.svc.PutMeter(ctx, meterA, catalog.Meter{MeterName: "n", MeterCategory: "c", Unit: "1", MeterTags: []string{"Third Party"}})
		if err != nil || !created || e.version(t) != v0+4 {
			t.Fatalf("PutMeter %+v %v %v", m, created, err)
		}
		got2, err := e.svc.Meter(ctx, strings.ToUpper(meterA))
		if err != nil || !reflect.DeepEqual(got2.MeterTags, []string{"Third Party"}) || got2.MeterStatus != "Active" || !got2.CreatedAt.Equal(e.clock.Now()) {
			t.Fatalf("Meter %+v, %v", got2, err)
		}
		e.clock.Advance(time.Minute)
		m.MeterTags = nil
		m2, created, err := e.svc.PutMeter(ctx, meterA, m)
		if err != nil || created || len(m2.MeterTags) != 0 || !m2.CreatedAt.Equal(got2.CreatedAt) {
			t.Fatalf("PutMeter replace %+v %v %v", m2, created, err)
		}
		if ms, err := e.svc.Meters(ctx); err != nil || len(ms) != 1 || ms[0].MeterTags == nil || len(ms[0].MeterTags) != 0 {
			t.Fatalf("Meters %+v, %v", ms, err)
		}
		if _, err := e.svc.Meter(ctx, meterB); errCode(err) != "MeterNotFound" {
			t.Fatalf("missing meter: %v", err)
		}
	})
}

// failingRepo wraps a repository so that one transaction method fails.
type failingRepo struct {
	catalog.Repository
	failOn string
}

type failingTx struct {
	catalog.CatalogTx
	failOn string
}

var errInjected = errors.New("injected store failure")

func (r failingRepo) UpdateCatalog(ctx context.Context, fn func(catalog.CatalogTx) error) (int64, error) {
	return r.Repository.UpdateCatalog(ctx, func(tx catalog.CatalogTx) error { return fn(failingTx{tx, r.failOn}) })
}

func (t failingTx) PutRates(ctx context.Context, rs []catalog.Rate) error {
	if err := t.CatalogTx.PutRates(ctx, rs); err != nil {
		return err
	}
	if t.failOn == "rates" {
		return errInjected
	}
	return nil
}

func (t failingTx) PutTerms(ctx context.Context, ts []catalog.OfferTerm) error {
	if err := t.CatalogTx.PutTerms(ctx, ts); err != nil {
		return err
	}
	if t.failOn == "terms" {
		return errInjected
	}
	return nil
}

// TestImportAllOrNothing: a store failure after part of an import was
// written leaves the catalog as it was, version included.
func TestImportAllOrNothing(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		body := string(testdata(t, "ratecard/contoso-usd.json"))
		for _, step := range []string{"rates", "terms"} {
			svc := catalog.NewService(failingRepo{e.db, step}, e.clock.Now)
			v := e.version(t)
			_, err := svc.Import(ctx, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: offerTerms, RegionInfo: "US"}, strings.NewReader(body))
			if !errors.Is(err, errInjected) {
				t.Fatalf("%s: error %v", step, err)
			}
			if ms, _ := e.svc.Meters(ctx); len(ms) != 0 {
				t.Errorf("%s: %d meters written", step, len(ms))
			}
			if os, _ := e.svc.Offers(ctx); len(os) != 0 {
				t.Errorf("%s: offers written: %+v", step, os)
			}
			if e.version(t) != v {
				t.Errorf("%s: version moved", step)
			}
		}
		// With a working store the same import applies in full.
		res := e.importBody(t, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: offerTerms, RegionInfo: "US"}, body)
		if res.Meters.Added != 3 || res.Terms.Added != 3 || !res.OfferCreated {
			t.Fatalf("import %+v", res)
		}
	})
}
