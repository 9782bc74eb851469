package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/store"
)

// The catalog's part of the suite: the catalog.Repository contract.

func dec(s string) money.Decimal {
	d, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// update runs fn in UpdateCatalog and returns the version after it.
func update(t *testing.T, db *store.DB, fn func(tx catalog.CatalogTx) error) int64 {
	t.Helper()
	v, err := db.UpdateCatalog(ctx, fn)
	if err != nil {
		t.Fatalf("UpdateCatalog: %v", err)
	}
	return v
}

func catalogVersion(t *testing.T, db *store.DB) int64 {
	t.Helper()
	v, err := db.CatalogVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func tierList(pairs ...string) []catalog.Tier {
	var out []catalog.Tier
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, catalog.Tier{Min: dec(pairs[i]), Price: dec(pairs[i+1])})
	}
	return out
}

// sameDecimals compares values holding decimals by their exact value
// (1.50 and 1.5 are the same amount) and everything else exactly.
func sameDecimals(a, b any) bool {
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

func testCatalogEmpty(t *testing.T, db *store.DB) {
	if v := catalogVersion(t, db); v != 0 {
		t.Errorf("version of an empty catalog = %d", v)
	}
	if os, err := db.Offers(ctx); err != nil || os == nil || len(os) != 0 {
		t.Errorf("Offers = %v, %v; want an empty, non-nil list", os, err)
	}
	if _, ok, err := db.Offer(ctx, "MS-AZR-0003P"); ok || err != nil {
		t.Errorf("Offer of a missing id: ok %v, %v", ok, err)
	}
	if ms, err := db.CatalogMeters(ctx, nil); err != nil || ms == nil || len(ms) != 0 {
		t.Errorf("CatalogMeters = %v, %v", ms, err)
	}
	if ms, err := db.RateCardMeters(ctx, "MS-AZR-0003P", "USD", "en-US", time.Now()); err != nil || ms == nil || len(ms) != 0 {
		t.Errorf("RateCardMeters = %v, %v", ms, err)
	}
	if rs, err := db.RateVersions(ctx, "MS-AZR-0003P", "USD", nil, time.Now()); err != nil || rs == nil || len(rs) != 0 {
		t.Errorf("RateVersions = %v, %v", rs, err)
	}
	if ts, err := db.TermVersions(ctx, "MS-AZR-0003P", "USD"); err != nil || ts == nil || len(ts) != 0 {
		t.Errorf("TermVersions = %v, %v", ts, err)
	}
	// A transaction that writes nothing leaves the version.
	if v := update(t, db, func(tx catalog.CatalogTx) error {
		_, _, err := tx.Offer(ctx, "MS-AZR-0003P")
		return err
	}); v != 0 {
		t.Errorf("version after a read-only transaction = %d", v)
	}
}

// catalogFixture is a small catalog with one of everything, values at the
// edges of what the catalog accepts.
func catalogFixture() (catalog.Offer, []catalog.Meter, []catalog.MeterText, []catalog.Rate, []catalog.OfferTerm) {
	t0 := utc("2024-01-02T03:04:05.123456Z")
	offer := catalog.Offer{DurableID: "MS-AZR-0003P", Name: "Pay-As-You-Go «Zählung» \"quoted\"", Regions: []string{"DE", "US"},
		Currencies: []catalog.OfferCurrency{
			{Currency: "EUR", BaseCurrency: "USD", ExchangeRate: dec("0.920000001"), RoundingDecimals: 10},
			{Currency: "USD", ExchangeRate: money.Zero},
		}, CreatedAt: t0, UpdatedAt: t0}
	meters := []catalog.Meter{
		{MeterID: guid('c', 1), MeterName: "D2 v3/D2s v3", MeterCategory: "Virtual Machines", MeterSubCategory: "Dv3 Series",
			MeterRegion: "US West", Unit: "1 Hour", MeterStatus: catalog.MeterActive, MeterTags: []string{}, CreatedAt: t0, UpdatedAt: t0},
		{MeterID: guid('c', 2), MeterName: "Zählung ✓ 'q' \"dq\"", MeterCategory: "Storage", MeterSubCategory: "",
			MeterRegion: "", Unit: "10K", MeterStatus: catalog.MeterDeprecated, MeterTags: []string{"Third Party", "Ünïcode tag, with comma|pipe"},
			CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)},
	}
	texts := []catalog.MeterText{
		{MeterID: guid('c', 2), Locale: "de-DE", MeterName: "Zählung (de)", MeterCategory: "Speicher", MeterSubCategory: "Blob"},
		{MeterID: guid('c', 2), Locale: "fr-FR", MeterName: "Comptage", MeterCategory: "Stockage", MeterSubCategory: ""},
	}
	rates := []catalog.Rate{
		{MeterID: guid('c', 1), OfferDurableID: "MS-AZR-0003P", Currency: "USD", EffectiveDate: utc("2023-01-01T00:00:00Z"),
			Tiers: tierList("0", "0.1234567891", "100.5", "0.0000000001", "12345678901.123456789", "0"), IncludedQuantity: dec("0.000000001")},
		{MeterID: guid('c', 1), OfferDurableID: "MS-AZR-0003P", Currency: "USD", EffectiveDate: utc("2024-06-01T00:00:00.000001Z"),
			Tiers: tierList("0", "99999999999.9999999999"), IncludedQuantity: dec("9223372036.854775807")},
		{MeterID: guid('c', 2), OfferDurableID: "MS-AZR-0003P", Currency: "USD", EffectiveDate: utc("2023-03-01T00:00:00Z"),
			Tiers: tierList("0", "0"), IncludedQuantity: money.Zero},
	}
	terms := []catalog.OfferTerm{
		{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Name: catalog.TermMonetaryCommitment, EffectiveDate: utc("2024-01-01T00:00:00Z"),
			TieredDiscount:   []catalog.DiscountTier{{Min: dec("0"), Percent: dec("0")}, {Min: dec("1000.5"), Percent: dec("7.25")}},
			ExcludedMeterIDs: []string{guid('c', 1), guid('c', 2)}},
		{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Name: catalog.TermMonetaryCredit, EffectiveDate: utc("2024-01-01T00:00:00Z"),
			Credit: dec("150.0000000001")},
		{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Name: catalog.TermRecurringCharge, EffectiveDate: utc("2024-01-01T00:00:00Z"),
			RecurringCharge: dec("10")},
		{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Name: catalog.TermRecurringCharge, EffectiveDate: utc("2025-01-01T00:00:00Z"),
			RecurringCharge: dec("12.5")},
	}
	return offer, meters, texts, rates, terms
}

func writeFixture(t *testing.T, db *store.DB) int64 {
	offer, meters, texts, rates, terms := catalogFixture()
	return update(t, db, func(tx catalog.CatalogTx) error {
		return errors.Join(tx.PutOffer(ctx, offer), tx.PutMeters(ctx, meters), tx.PutMeterTexts(ctx, texts),
			tx.PutRates(ctx, rates), tx.PutTerms(ctx, terms))
	})
}

func testCatalogRoundTrip(t *testing.T, db *store.DB) {
	offer, meters, texts, rates, terms := catalogFixture()
	if v := writeFixture(t, db); v != 1 || catalogVersion(t, db) != 1 {
		t.Fatalf("version after one write transaction = %d", v)
	}
	got, ok, err := db.Offer(ctx, "MS-AZR-0003P")
	if err != nil || !ok || !sameDecimals(got, offer) {
		t.Errorf("Offer = %+v, %v, %v\nwant %+v", got, ok, err, offer)
	}
	if os, err := db.Offers(ctx); err != nil || len(os) != 1 || !sameDecimals(os[0], offer) {
		t.Errorf("Offers = %+v, %v", os, err)
	}
	ms, err := db.CatalogMeters(ctx, nil)
	if err != nil || !reflect.DeepEqual(ms, meters) {
		t.Errorf("CatalogMeters = %+v, %v\nwant %+v", ms, err, meters)
	}
	ms, err = db.CatalogMeters(ctx, []string{guid('c', 2), guid('c', 9)})
	if err != nil || len(ms) != 1 || !reflect.DeepEqual(ms[0], meters[1]) {
		t.Errorf("CatalogMeters(one known, one unknown) = %+v, %v", ms, err)
	}
	rs, err := db.RateVersions(ctx, "MS-AZR-0003P", "USD", nil, utc("2030-01-01T00:00:00Z"))
	if err != nil || !sameDecimals(rs, rates) {
		t.Errorf("RateVersions = %+v, %v\nwant %+v", rs, err, rates)
	}
	if len(rs) == 3 && (rs[0].Tiers[0].Price.String() != "0.1234567891" || rs[1].Tiers[0].Price.String() != "99999999999.9999999999" ||
		rs[0].Tiers[2].Min.String() != "12345678901.123456789") {
		t.Errorf("decimals lost digits in the store: %+v", rs)
	}
	ts, err := db.TermVersions(ctx, "MS-AZR-0003P", "USD")
	if err != nil || !sameDecimals(ts, terms) {
		t.Errorf("TermVersions = %+v, %v\nwant %+v", ts, err, terms)
	}
	// Inside a transaction: the same reads.
	update(t, db, func(tx catalog.CatalogTx) error {
		if o, ok, err := tx.Offer(ctx, "MS-AZR-0003P"); err != nil || !ok || !sameDecimals(o, offer) {
			t.Errorf("tx.Offer = %+v, %v, %v", o, ok, err)
		}
		m, err := tx.Meters(ctx, []string{guid('c', 1), guid('c', 2), guid('c', 3)})
		if err != nil || len(m) != 2 || !reflect.DeepEqual(m[guid('c', 2)], meters[1]) {
			t.Errorf("tx.Meters = %+v, %v", m, err)
		}
		mt, err := tx.MeterTexts(ctx, "de-DE", []string{guid('c', 1), guid('c', 2)})
		if err != nil || len(mt) != 1 || mt[guid('c', 2)] != texts[0] {
			t.Errorf("tx.MeterTexts = %+v, %v", mt, err)
		}
		r, err := tx.Rates(ctx, "MS-AZR-0003P", "USD", []string{guid('c', 1)})
		if err != nil || !sameDecimals(r, rates[:2]) {
			t.Errorf("tx.Rates = %+v, %v", r, err)
		}
		if r, err := tx.Rates(ctx, "MS-AZR-0003P", "EUR", []string{guid('c', 1)}); err != nil || len(r) != 0 {
			t.Errorf("tx.Rates in another currency = %+v, %v", r, err)
		}
		tt, err := tx.Terms(ctx, "MS-AZR-0003P", "USD")
		if err != nil || !sameDecimals(tt, terms) {
			t.Errorf("tx.Terms = %+v, %v", tt, err)
		}
		return nil
	})
	if v := catalogVersion(t, db); v != 1 {
		t.Errorf("a reading transaction moved the version to %d", v)
	}
}

func testCatalogReplace(t *testing.T, db *store.DB) {
	offer, meters, _, rates, terms := catalogFixture()
	writeFixture(t, db)
	t1 := utc("2025-05-05T05:05:05Z")
	offer.Name, offer.Regions, offer.UpdatedAt = "Renamed", []string{"GB"}, t1
	offer.Currencies = []catalog.OfferCurrency{{Currency: "GBP"}}
	m := meters[1]
	m.MeterName, m.MeterTags, m.MeterStatus, m.UpdatedAt = "Renamed meter", []string{}, catalog.MeterActive, t1
	m.CreatedAt = t1 // ignored: a replace keeps the creation time
	r := rates[0]
	r.Tiers, r.IncludedQuantity = tierList("0", "5"), dec("1")
	term := terms[3]
	term.RecurringCharge = dec("13")
	v := update(t, db, func(tx catalog.CatalogTx) error {
		return errors.Join(tx.PutOffer(ctx, offer), tx.PutMeters(ctx, []catalog.Meter{m}), tx.PutRates(ctx, []catalog.Rate{r}),
			tx.PutTerms(ctx, []catalog.OfferTerm{term}))
	})
	if v != 2 {
		t.Errorf("version = %d, want 2", v)
	}
	offer.CreatedAt = utc("2024-01-02T03:04:05.123456Z")
	if got, _, err := db.Offer(ctx, "MS-AZR-0003P"); err != nil || !sameDecimals(got, offer) {
		t.Errorf("replaced offer = %+v, %v\nwant %+v", got, err, offer)
	}
	m.CreatedAt = meters[1].CreatedAt
	if got, err := db.CatalogMeters(ctx, []string{m.MeterID}); err != nil || !reflect.DeepEqual(got, []catalog.Meter{m}) {
		t.Errorf("replaced meter = %+v, %v\nwant %+v", got, err, m)
	}
	want := append([]catalog.Rate{r}, rates[1:]...)
	if got, err := db.RateVersions(ctx, "MS-AZR-0003P", "USD", nil, utc("2030-01-01T00:00:00Z")); err != nil || !sameDecimals(got, want) {
		t.Errorf("rates after replacing one version = %+v, %v", got, err)
	}
	wantTerms := append(slices.Clone(terms[:3]), term)
	if got, err := db.TermVersions(ctx, "MS-AZR-0003P", "USD"); err != nil || !sameDecimals(got, wantTerms) {
		t.Errorf("terms after replacing one version = %+v, %v", got, err)
	}
}

func testCatalogRollback(t *testing.T, db *store.DB) {
	boom := errors.New("boom")
	offer, meters, texts, rates, terms := catalogFixture()
	_, err := db.UpdateCatalog(ctx, func(tx catalog.CatalogTx) error {
		if err := errors.Join(tx.PutOffer(ctx, offer), tx.PutMeters(ctx, meters), tx.PutMeterTexts(ctx, texts),
			tx.PutRates(ctx, rates), tx.PutTerms(ctx, terms)); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateCatalog returned %v, want the function's error", err)
	}
	if v := catalogVersion(t, db); v != 0 {
		t.Errorf("version = %d after a rolled-back transaction", v)
	}
	os, _ := db.Offers(ctx)
	ms, _ := db.CatalogMeters(ctx, nil)
	rs, _ := db.RateVersions(ctx, "MS-AZR-0003P", "USD", nil, utc("2030-01-01T00:00:00Z"))
	ts, _ := db.TermVersions(ctx, "MS-AZR-0003P", "USD")
	if len(os)+len(ms)+len(rs)+len(ts) != 0 {
		t.Errorf("rolled-back writes are visible: %d offers, %d meters, %d rates, %d terms", len(os), len(ms), len(rs), len(ts))
	}
}

func testCatalogRateCard(t *testing.T, db *store.DB) {
	writeFixture(t, db)
	// A second offer and currency with their own rates must not leak in.
	update(t, db, func(tx catalog.CatalogTx) error {
		o := catalog.Offer{DurableID: "MS-AZR-0017P", Name: "EA", Currencies: []catalog.OfferCurrency{{Currency: "USD"}}, Regions: []string{"US"}}
		return errors.Join(tx.PutOffer(ctx, o), tx.PutRates(ctx, []catalog.Rate{
			{MeterID: guid('c', 1), OfferDurableID: "MS-AZR-0017P", Currency: "USD", EffectiveDate: utc("2020-01-01T00:00:00Z"), Tiers: tierList("0", "7")},
			{MeterID: guid('c', 2), OfferDurableID: "MS-AZR-0003P", Currency: "GBP", EffectiveDate: utc("2020-01-01T00:00:00Z"), Tiers: tierList("0", "8")},
		}))
	})
	view := func(at, locale string) string {
		t.Helper()
		ms, err := db.RateCardMeters(ctx, "MS-AZR-0003P", "USD", locale, utc(at))
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, m := range ms {
			var ts []string
			for _, tier := range m.MeterRates {
				ts = append(ts, tier.Min.String()+":"+tier.Price.String())
			}
			s = append(s, fmt.Sprintf("%s %s/%s/%s %s %s %q %s @%s inc %s", m.MeterID[:8], m.MeterName, m.MeterCategory, m.MeterSubCategory,
				m.Unit, m.MeterStatus, m.MeterTags, strings.Join(ts, " "), m.EffectiveDate.Format(time.RFC3339Nano), m.IncludedQuantity))
		}
		return strings.Join(s, "\n")
	}
	c1old := "c0000001 D2 v3/D2s v3/Virtual Machines/Dv3 Series 1 Hour Active [] 0:0.1234567891 100.5:0.0000000001 12345678901.123456789:0 @2023-01-01T00:00:00Z inc 0.000000001"
	c1new := "c0000001 D2 v3/D2s v3/Virtual Machines/Dv3 Series 1 Hour Active [] 0:99999999999.9999999999 @2024-06-01T00:00:00.000001Z inc 9223372036.854775807"
	c2 := func(names string) string {
		return "c0000002 " + names + ` 10K Deprecated ["Third Party" "Ünïcode tag, with comma|pipe"] 0:0 @2023-03-01T00:00:00Z inc 0`
	}
	for _, tt := range []struct{ at, locale, want string }{
		{"2022-12-31T23:59:59.999999Z", "en-US", ""},
		{"2023-01-01T00:00:00Z", "en-US", c1old},
		{"2023-03-01T00:00:00Z", "en-US", c1old + "\n" + c2("Zählung ✓ 'q' \"dq\"/Storage/")},
		{"2024-06-01T00:00:00Z", "en-US", c1old + "\n" + c2("Zählung ✓ 'q' \"dq\"/Storage/")},
		{"2024-06-01T00:00:00.000001Z", "en-US", c1new + "\n" + c2("Zählung ✓ 'q' \"dq\"/Storage/")},
		{"2030-01-01T00:00:00Z", "de-DE", c1new + "\n" + c2("Zählung (de)/Speicher/Blob")},
		{"2030-01-01T00:00:00Z", "fr-FR", c1new + "\n" + c2("Comptage/Stockage/")},
		{"2030-01-01T00:00:00Z", "it-IT", c1new + "\n" + c2("Zählung ✓ 'q' \"dq\"/Storage/")},
	} {
		if got := view(tt.at, tt.locale); got != tt.want {
			t.Errorf("RateCard at %s in %s:\n%s\nwant\n%s", tt.at, tt.locale, got, tt.want)
		}
	}
}

func testCatalogRateVersions(t *testing.T, db *store.DB) {
	// 2,500 meters (more than one IN list), three versions each for some.
	const n = 2500
	var meters []catalog.Meter
	var rates []catalog.Rate
	for i := range n {
		id := guid('d', i)
		meters = append(meters, catalog.Meter{MeterID: id, MeterName: "m", MeterCategory: "c", Unit: "1", MeterStatus: catalog.MeterActive, MeterTags: []string{}})
		for v := range 1 + i%3 {
			rates = append(rates, catalog.Rate{MeterID: id, OfferDurableID: "MS-AZR-0003P", Currency: "USD",
				EffectiveDate: utc("2024-01-01T00:00:00Z").AddDate(0, v, 0), Tiers: tierList("0", fmt.Sprint(i, ".", v))})
		}
	}
	update(t, db, func(tx catalog.CatalogTx) error {
		o := catalog.Offer{DurableID: "MS-AZR-0003P", Name: "PAYG", Currencies: []catalog.OfferCurrency{{Currency: "USD"}}, Regions: []string{}}
		return errors.Join(tx.PutOffer(ctx, o), tx.PutMeters(ctx, meters), tx.PutRates(ctx, rates))
	})
	count := func(ids []string, end string) (int, []catalog.Rate) {
		t.Helper()
		rs, err := db.RateVersions(ctx, "MS-AZR-0003P", "USD", ids, utc(end))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(rs, func(a, b catalog.Rate) int {
			if c := strings.Compare(a.MeterID, b.MeterID); c != 0 {
				return c
			}
			return a.EffectiveDate.Compare(b.EffectiveDate)
		}) {
			t.Error("RateVersions not sorted by meter and date")
		}
		return len(rs), rs
	}
	if c, _ := count(nil, "2030-01-01T00:00:00Z"); c != len(rates) {
		t.Errorf("all versions: %d, want %d", c, len(rates))
	}
	// The end is exclusive: versions from Feb 1 on are left out.
	if c, _ := count(nil, "2024-02-01T00:00:00Z"); c != n {
		t.Errorf("versions before Feb: %d, want %d", c, n)
	}
	ids := []string{guid('d', 2), guid('d', 5), guid('z', 1)}
	if c, rs := count(ids, "2030-01-01T00:00:00Z"); c != 6 || rs[0].MeterID != guid('d', 2) || rs[5].Tiers[0].Price.String() != "5.2" {
		t.Errorf("three ids: %d versions %+v", c, rs)
	}
	var many []string
	for i := 0; i < n; i += 2 {
		many = append(many, guid('d', i))
	}
	want := 0
	for i := 0; i < n; i += 2 {
		want += 1 + i%3
	}
	if c, _ := count(many, "2030-01-01T00:00:00Z"); c != want {
		t.Errorf("%d ids: %d versions, want %d", len(many), c, want)
	}
	update(t, db, func(tx catalog.CatalogTx) error {
		rs, err := tx.Rates(ctx, "MS-AZR-0003P", "USD", many)
		if err != nil || len(rs) != want {
			t.Errorf("tx.Rates of %d ids: %d, %v; want %d", len(many), len(rs), err, want)
		}
		m, err := tx.Meters(ctx, many)
		if err != nil || len(m) != len(many) {
			t.Errorf("tx.Meters of %d ids: %d, %v", len(many), len(m), err)
		}
		return nil
	})
}

// testCatalogLarge loads a RateCard of 50,000 meters: one query, well
// under a second.
func testCatalogLarge(t *testing.T, db *store.DB) {
	const n = 50_000
	meters := make([]catalog.Meter, n)
	rates := make([]catalog.Rate, 0, n+n/10)
	for i := range n {
		id := guid('e', i)
		meters[i] = catalog.Meter{MeterID: id, MeterName: fmt.Sprintf("D%d v5 Spot", i%97), MeterCategory: "Virtual Machines",
			MeterSubCategory: "Virtual Machines Dv5 Series Windows", MeterRegion: "EU West", Unit: "1 Hour", MeterStatus: catalog.MeterActive, MeterTags: []string{}}
		rates = append(rates, catalog.Rate{MeterID: id, OfferDurableID: "MS-AZR-0003P", Currency: "USD", EffectiveDate: utc("2024-01-01T00:00:00Z"),
			Tiers: tierList("0", fmt.Sprintf("0.%06d", i+1))})
		if i%10 == 0 {
			rates = append(rates, catalog.Rate{MeterID: id, OfferDurableID: "MS-AZR-0003P", Currency: "USD", EffectiveDate: utc("2025-01-01T00:00:00Z"),
				Tiers: tierList("0", fmt.Sprintf("0.%06d", i+2), "1000", "0.001")})
		}
	}
	start := time.Now()
	update(t, db, func(tx catalog.CatalogTx) error {
		o := catalog.Offer{DurableID: "MS-AZR-0003P", Name: "PAYG", Currencies: []catalog.OfferCurrency{{Currency: "USD"}}, Regions: []string{"US"}}
		return errors.Join(tx.PutOffer(ctx, o), tx.PutMeters(ctx, meters), tx.PutRates(ctx, rates))
	})
	written := time.Since(start)
	best := time.Hour
	for range 3 {
		start = time.Now()
		ms, err := db.RateCardMeters(ctx, "MS-AZR-0003P", "USD", "en-US", utc("2026-01-01T00:00:00Z"))
		if err != nil {
			t.Fatal(err)
		}
		best = min(best, time.Since(start))
		if len(ms) != n || ms[10].MeterRates[0].Price.String() != "0.000012" || len(ms[10].MeterRates) != 2 || ms[11].MeterRates[0].Price.String() != "0.000012" {
			t.Fatalf("%d meters; meter 10 %+v, 11 %+v", len(ms), ms[10], ms[11])
		}
	}
	t.Logf("%d meters, %d rates: written in %v, RateCard loaded in %v (best of 3)", n, len(rates), written, best)
	// Well under a second on a quiet machine; the bound leaves room for a
	// loaded CI runner.
	if best > 2*time.Second {
		t.Errorf("RateCard of %d meters took %v", n, best)
	}
}

// testCatalogConcurrent: catalog writers that read, then write, do not
// lose each other's updates.
func testCatalogConcurrent(t *testing.T, db *store.DB) {
	update(t, db, func(tx catalog.CatalogTx) error {
		return tx.PutOffer(ctx, catalog.Offer{DurableID: "MS-AZR-0003P", Name: "PAYG", Currencies: []catalog.OfferCurrency{{Currency: "USD"}}, Regions: []string{}})
	})
	regions := []string{"US", "DE", "FR", "GB", "JP", "CA", "AU", "BR"}
	var wg sync.WaitGroup
	errs := make(chan error, len(regions))
	for _, r := range regions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.UpdateCatalog(context.Background(), func(tx catalog.CatalogTx) error {
				o, _, err := tx.Offer(ctx, "MS-AZR-0003P")
				if err != nil {
					return err
				}
				time.Sleep(time.Millisecond) // widen the window between read and write
				o.Regions = append(o.Regions, r)
				slices.Sort(o.Regions)
				return tx.PutOffer(ctx, o)
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	o, _, err := db.Offer(ctx, "MS-AZR-0003P")
	slices.Sort(regions)
	if err != nil || !reflect.DeepEqual(o.Regions, regions) {
		t.Errorf("regions %v, %v; want all of %v", o.Regions, err, regions)
	}
	if v := catalogVersion(t, db); v != int64(len(regions))+1 {
		t.Errorf("version %d, want %d", v, len(regions)+1)
	}
}
