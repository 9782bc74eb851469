package demo

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// testNow is a Sunday mid-morning, not on an hour boundary.
var testNow = time.Date(2026, 3, 15, 10, 30, 0, 0, time.UTC)

// fileItem is a Retail Prices API item as the data file holds it, read
// independently of the package's own decoding.
type fileItem map[string]any

func readItems(t *testing.T) []fileItem {
	t.Helper()
	raw, err := os.ReadFile("data/retail_prices.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Items []fileItem `json:"Items"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Items
}

// TestDataFile checks the copied price subset: small, real items with the
// Retail Prices API fields, only Consumption prices, one item per meter
// (no tiers), the three kinds of meter the demo needs, and its licence and
// attribution beside it.
func TestDataFile(t *testing.T) {
	st, err := os.Stat("data/retail_prices.json")
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 100_000 {
		t.Errorf("data/retail_prices.json is %d bytes; keep it well under 100 KB", st.Size())
	}
	items := readItems(t)
	if len(items) < 10 || len(items) > 20 {
		t.Errorf("%d items; want 10 to 20", len(items))
	}
	fields := []string{"currencyCode", "tierMinimumUnits", "retailPrice", "unitPrice", "armRegionName", "location",
		"effectiveStartDate", "meterId", "meterName", "productId", "skuId", "productName", "skuName", "serviceName",
		"serviceId", "serviceFamily", "unitOfMeasure", "type", "isPrimaryMeterRegion", "armSkuName"}
	seen := map[string]bool{}
	units := map[string]int{}
	for _, it := range items {
		for _, f := range fields {
			if _, ok := it[f]; !ok {
				t.Errorf("item %v lacks %q", it["meterId"], f)
			}
		}
		id, _ := it["meterId"].(string)
		if seen[id] {
			t.Errorf("meter %s appears twice", id)
		}
		seen[id] = true
		if it["type"] != "Consumption" || it["currencyCode"] != "USD" {
			t.Errorf("item %s: type %v currency %v; want Consumption USD", id, it["type"], it["currencyCode"])
		}
		units[it["unitOfMeasure"].(string)]++
	}
	if units["1 Hour"] < 5 || units["1 GB/Month"] < 1 || units["1/Month"] < 1 || units["10K"] < 1 || units["1 GB"] < 3 {
		t.Errorf("units %v: want compute hours, storage GB/Month, disks, transactions and data transfer GB", units)
	}
	for _, f := range []string{"data/ATTRIBUTION.md", "data/LICENSE-carbonandfinch.txt"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "MIT") {
			t.Errorf("%s does not name the MIT licence", f)
		}
	}
	attr, _ := os.ReadFile("data/ATTRIBUTION.md")
	for _, want := range []string{"babajideoyelayo-carbonandfinch/azure-prices", "3f048a22cafa4cf61378f650b6e0a481439bfcd6"} {
		if !strings.Contains(string(attr), want) {
			t.Errorf("ATTRIBUTION.md does not name %s", want)
		}
	}
}

// TestMeters checks the metadata mapping from the retail items.
func TestMeters(t *testing.T) {
	items := readItems(t)
	meters, err := Meters()
	if err != nil {
		t.Fatal(err)
	}
	if len(meters) != len(items) {
		t.Fatalf("%d meters from %d items", len(meters), len(items))
	}
	byID := map[string]fileItem{}
	for _, it := range items {
		byID[it["meterId"].(string)] = it
	}
	for i, m := range meters {
		it := byID[m.MeterID]
		if it == nil {
			t.Fatalf("meter %s is not in the file", m.MeterID)
		}
		if i > 0 && meters[i-1].MeterID >= m.MeterID {
			t.Errorf("meters not in id order at %d", i)
		}
		want := [...]string{it["meterId"].(string), it["meterName"].(string), it["serviceName"].(string),
			it["productName"].(string), it["location"].(string), it["unitOfMeasure"].(string), "Active"}
		got := [...]string{m.MeterID, m.MeterName, m.MeterCategory, m.MeterSubCategory, m.MeterRegion, m.Unit, m.MeterStatus}
		if got != want {
			t.Errorf("meter %d = %q; want %q", i, got, want)
		}
	}
}

// TestGenerate checks the generated usage without a store: its size, that
// it is a pure function of its inputs, its time bounds, the share of late
// records, ids, and exact decimal quantities.
func TestGenerate(t *testing.T) {
	recs := generate(testNow)
	if n := len(recs); n < 40_000 || n > 80_000 {
		t.Errorf("%d records; want 40k to 80k", n)
	}
	if again := generate(testNow); !reflect.DeepEqual(recs, again) {
		t.Fatal("generate is not deterministic")
	}
	meters, _ := Meters()
	known := map[string]bool{}
	for _, m := range meters {
		known[m.MeterID] = true
	}
	cutoff := time.Date(2026, 3, 15, 9, 0, 0, 0, time.UTC)
	start := time.Date(2026, 1, 14, 0, 0, 0, 0, time.UTC) // 60 days before the cutoff, at midnight
	settled := testNow.Add(-2 * time.Minute)
	ids := map[string]bool{}
	used := map[string]bool{}
	resources := map[string]bool{}
	groups := map[string]bool{}
	late, partial, fractionalDaily := 0, 0, 0
	for _, r := range recs {
		if ids[r.ID] {
			t.Fatalf("duplicate id %s", r.ID)
		}
		ids[r.ID] = true
		if !strings.HasPrefix(r.ID, "demo-"+r.SubscriptionID[:8]+"-") || !strings.Contains(r.ID, "-"+r.MeterID[:8]+"-") {
			t.Fatalf("id %s does not name its subscription and meter", r.ID)
		}
		if !known[r.MeterID] {
			t.Fatalf("record %s uses meter %s, not in the data file", r.ID, r.MeterID)
		}
		used[r.MeterID] = true
		resources[r.ResourceURI] = true
		groups[strings.Split(r.ResourceURI, "/")[4]] = true
		from, err1 := time.Parse(time.RFC3339, r.UsageStartTime)
		to, err2 := time.Parse(time.RFC3339, r.UsageEndTime)
		rep, err3 := time.Parse(time.RFC3339, r.ReportedTime)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatalf("record %s: bad times", r.ID)
		}
		if from.Before(start) || to.After(cutoff) || !from.Before(to) {
			t.Fatalf("record %s: usage %s..%s outside %s..%s", r.ID, from, to, start, cutoff)
		}
		if !rep.After(to) || !rep.Before(settled) {
			t.Fatalf("record %s: reported %s; want after %s and before %s", r.ID, rep, to, settled)
		}
		switch d := rep.Sub(to); {
		case d >= 24*time.Hour:
			late++
		case d > 62*time.Minute:
			t.Fatalf("record %s: reported %s after usage; want minutes or days", r.ID, d)
		}
		q := string(r.Quantity)
		if strings.ContainsAny(q, "eE\"") {
			t.Fatalf("record %s: quantity %s is not a plain decimal", r.ID, q)
		}
		if _, err := money.ParseQuantity(q); err != nil {
			t.Fatalf("record %s: quantity %s: %v", r.ID, q, err)
		}
		if to.Sub(from) < time.Hour {
			partial++
		}
		if to.Sub(from) == 24*time.Hour && strings.Contains(q, ".") {
			fractionalDaily++
		}
		var tags map[string]string
		if err := json.Unmarshal(r.Tags, &tags); err != nil || tags["env"] == "" || tags["costCenter"] == "" {
			t.Fatalf("record %s: tags %s lack env or costCenter", r.ID, r.Tags)
		}
	}
	if len(used) != len(meters) {
		t.Errorf("%d of %d meters used", len(used), len(meters))
	}
	if len(resources) < 24 || len(groups) < 6 {
		t.Errorf("%d resources in %d resource groups; want dozens in several", len(resources), len(groups))
	}
	if share := late * 1000 / len(recs); share < 15 || share > 35 {
		t.Errorf("%d late records of %d (%d‰); want 2-3%%", late, len(recs), share)
	}
	if partial == 0 || fractionalDaily == 0 {
		t.Errorf("%d partial-hour records and %d fractional daily records; want some of each", partial, fractionalDaily)
	}

	// A later generation keeps every record that is still in the window
	// unchanged: a record id always stands for the same content.
	later := generate(testNow.Add(30 * time.Hour))
	byID := map[string]usage.RecordInput{}
	for _, r := range later {
		byID[r.ID] = r
	}
	kept := 0
	for _, r := range recs {
		l, ok := byID[r.ID]
		if !ok {
			continue
		}
		kept++
		if !reflect.DeepEqual(r, l) {
			t.Fatalf("record %s changed between generations: quantity %s/%s, usage %s..%s/%s..%s, reported %s/%s",
				r.ID, r.Quantity, l.Quantity, r.UsageStartTime, r.UsageEndTime, l.UsageStartTime, l.UsageEndTime, r.ReportedTime, l.ReportedTime)
		}
	}
	if kept < len(recs)*9/10 {
		t.Errorf("only %d of %d records kept by a generation 30 hours later", kept, len(recs))
	}
}

func TestDecimal(t *testing.T) {
	for _, c := range []struct {
		n     int64
		scale int
		want  string
	}{
		{1, 0, "1"}, {1_000_000, 6, "1"}, {666_667, 6, "0.666667"}, {8333, 4, "0.8333"}, {5, 3, "0.005"},
		{1_234_500, 4, "123.45"}, {32_258, 6, "0.032258"}, {0, 3, "0"},
	} {
		if got := decimal(c.n, c.scale); got != c.want {
			t.Errorf("decimal(%d, %d) = %q; want %q", c.n, c.scale, got, c.want)
		}
	}
	if got := hourFraction(40); got != 666_667 {
		t.Errorf("hourFraction(40) = %d", got)
	}
}

// TestLoad loads the demo into a real store on each backend and checks what
// the APIs then return.
func TestLoad(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		ctx := context.Background()
		clock := reckontest.NewClock(testNow)
		srv := reckontest.Start(t, reckontest.Options{Backend: b, Now: clock.Now})
		svc := Services{Accounts: srv.Accounts, Catalog: srv.Catalog, Usage: srv.Usage}

		gen := generate(testNow)
		began := time.Now()
		sum, err := Load(ctx, svc, testNow)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: loaded %d records in %v", b, sum.Records, time.Since(began).Round(time.Millisecond))
		items := readItems(t)
		if len(sum.Subscriptions) != 4 || sum.Meters != len(items) || sum.Records != len(gen) || sum.Accepted != len(gen) {
			t.Fatalf("summary %d subscriptions, %d meters, %d records, %d accepted; want 4, %d, %d, %d",
				len(sum.Subscriptions), sum.Meters, sum.Records, sum.Accepted, len(items), len(gen), len(gen))
		}
		// The catalog imports: the retail prices under both offers, then
		// the commitment offer's three terms.
		if len(sum.Imports) != 3 || sum.Imports[0].Rates.Added != len(items) || sum.Imports[1].Rates.Added != len(items) ||
			sum.Imports[1].Meters.Unchanged != len(items) || sum.Imports[2].Terms.Added != 3 || len(sum.Offers) != 2 {
			t.Fatalf("catalog imports %+v, offers %+v", sum.Imports, sum.Offers)
		}
		checkRateCards(t, srv, items)

		// Subscriptions.
		subs, err := srv.Accounts.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		accounts := map[string]int{}
		for _, s := range subs {
			accounts[s.BillingAccount]++
		}
		if len(subs) != 4 || len(accounts) != 3 {
			t.Fatalf("%d subscriptions in %d billing accounts; want 4 in 3", len(subs), len(accounts))
		}
		fab, err := srv.Accounts.Get(ctx, SubFabrikam)
		if err != nil {
			t.Fatal(err)
		}
		if fab.Currency != "EUR" || fab.Locale != "de-DE" || fab.RegionInfo != "DE" || fab.OfferDurableID != "MS-AZR-0003P" || fab.DisplayName != "Fabrikam Analytics GmbH" {
			t.Errorf("Fabrikam subscription %+v", fab)
		}

		// Meters, with the real GUIDs and names of the data file.
		for _, it := range items {
			m, err := srv.Catalog.Meter(ctx, it["meterId"].(string))
			if err != nil {
				t.Fatalf("meter %s: %v", it["meterId"], err)
			}
			if m.MeterName != it["meterName"] || m.Unit != it["unitOfMeasure"] || m.MeterCategory != it["serviceName"] {
				t.Errorf("meter %s = %+v; want %v", m.MeterID, m, it)
			}
		}

		// A second load adds nothing, to the catalog neither.
		version, err := srv.Catalog.CatalogVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Load(ctx, svc, testNow)
		if err != nil {
			t.Fatal(err)
		}
		if again.Accepted != 0 || again.Records != len(gen) {
			t.Fatalf("second load: %d records, %d accepted; want %d, 0", again.Records, again.Accepted, len(gen))
		}
		if v, _ := srv.Catalog.CatalogVersion(ctx); v != version || again.Imports[0].Rates.Unchanged != len(items) || again.Imports[2].Terms.Unchanged != 3 {
			t.Fatalf("second load changed the catalog: version %d → %d, imports %+v", version, v, again.Imports)
		}

		// A settled 7-day window, with details: rows carry tags in
		// instanceData, and some usage predates the window (late records).
		today := testNow.Truncate(24 * time.Hour)
		q := usage.Query{SubscriptionID: SubContosoProd, ReportedStart: today.Add(-7 * 24 * time.Hour), ReportedEnd: today,
			Granularity: usage.Daily, ShowDetails: true}
		rows := aggregateAll(t, srv.Usage, q)
		if len(rows) == 0 {
			t.Fatal("no rows in a settled 7-day window")
		}
		late := 0
		for _, r := range rows {
			if !strings.Contains(r.InstanceData, `"tags":{"app":`) || !strings.Contains(r.InstanceData, `"costCenter":"CC-100`) {
				t.Fatalf("row instanceData %s lacks the tags", r.InstanceData)
			}
			// Usage of the day before the window is normal (reported
			// after midnight); usage of earlier days was reported late.
			if r.UsageStart.Before(q.ReportedStart.Add(-24 * time.Hour)) {
				late++
			}
		}
		if late == 0 {
			t.Error("no row has usage more than a day before its reported window: late usage is missing")
		}
		// The same window as the generator sees it: every late record's
		// usage bucket is there.
		wantEarly := map[string]bool{}
		for _, r := range gen {
			from, _ := time.Parse(time.RFC3339, r.UsageStartTime)
			rep, _ := time.Parse(time.RFC3339, r.ReportedTime)
			if r.SubscriptionID == SubContosoProd && !rep.Before(q.ReportedStart) && rep.Before(q.ReportedEnd) && from.Before(q.ReportedStart) {
				wantEarly[from.Truncate(24*time.Hour).String()+"/"+r.MeterID+"/"+r.ResourceURI] = true
			}
		}
		gotEarly := map[string]bool{}
		for _, r := range rows {
			if r.UsageStart.Before(q.ReportedStart) {
				var inst struct {
					R struct {
						URI string `json:"resourceUri"`
					} `json:"Microsoft.Resources"`
				}
				if err := json.Unmarshal([]byte(r.InstanceData), &inst); err != nil {
					t.Fatal(err)
				}
				gotEarly[r.UsageStart.String()+"/"+r.Meter.MeterID+"/"+inst.R.URI] = true
			}
		}
		if !reflect.DeepEqual(gotEarly, wantEarly) {
			t.Errorf("late usage groups %d; want %d", len(gotEarly), len(wantEarly))
		}

		// A load 30 hours later adds exactly the records that became due,
		// and conflicts with nothing stored.
		later := testNow.Add(30 * time.Hour)
		clock.Set(later)
		gen2 := generate(later)
		all := map[string]usage.RecordInput{}
		for _, r := range gen {
			all[r.ID] = r
		}
		fresh := 0
		for _, r := range gen2 {
			if _, ok := all[r.ID]; !ok {
				fresh++
				all[r.ID] = r
			}
		}
		sum3, err := Load(ctx, svc, later)
		if err != nil {
			t.Fatal(err)
		}
		if sum3.Accepted != fresh || fresh == 0 {
			t.Fatalf("later load accepted %d; want %d (> 0)", sum3.Accepted, fresh)
		}

		// Totals per meter over everything reported equal the generated
		// quantities exactly.
		clock.Set(later.Truncate(24 * time.Hour).Add(24*time.Hour + time.Minute))
		want := map[string]*money.QuantitySum{}
		for _, r := range all {
			qty, err := money.ParseQuantity(string(r.Quantity))
			if err != nil {
				t.Fatal(err)
			}
			k := r.SubscriptionID + "/" + r.MeterID
			if want[k] == nil {
				want[k] = new(money.QuantitySum)
			}
			want[k].Add(qty)
		}
		got := map[string]money.Decimal{}
		for _, s := range Subscriptions() {
			q := usage.Query{SubscriptionID: s.SubscriptionID, ReportedStart: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
				ReportedEnd: later.Truncate(24 * time.Hour).Add(24 * time.Hour), Granularity: usage.Daily}
			for _, r := range aggregateAll(t, srv.Usage, q) {
				k := s.SubscriptionID + "/" + r.Meter.MeterID
				got[k] = got[k].Add(r.Quantity)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%d subscription/meter totals; want %d", len(got), len(want))
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || g.Cmp(w.Decimal()) != 0 {
				t.Errorf("total %s = %s; want %s", k, g, w.Decimal())
			}
		}
	})
}

// aggregateAll reads every page of q.
func aggregateAll(t *testing.T, svc *usage.Service, q usage.Query) []usage.Aggregate {
	t.Helper()
	var rows []usage.Aggregate
	for {
		page, err := svc.Aggregate(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, page.Rows...)
		if page.Next == nil {
			return rows
		}
		q.After = page.Next
	}
}

// checkRateCards checks the RateCard of every demo subscription's
// parameters: each real meter at its real USD price (its EUR price
// derived at the stated rate), and the commitment offer's three terms.
func checkRateCards(t *testing.T, srv *reckontest.Server, items []fileItem) {
	t.Helper()
	ctx := context.Background()
	eurPerUSD, _ := money.ParseDecimal(EURPerUSD)
	for _, s := range Subscriptions() {
		q := catalog.RateCardQuery{OfferDurableID: s.OfferDurableID, Currency: s.Currency, Locale: s.Locale, RegionInfo: s.RegionInfo}
		view, err := srv.Catalog.RateCard(ctx, q, testNow)
		if err != nil {
			t.Fatalf("RateCard of %s (%+v): %v", s.DisplayName, q, err)
		}
		if len(view.Meters) != len(items) || len(view.OfferTerms) != 0 {
			t.Fatalf("RateCard of %s: %d meters, %d terms", s.DisplayName, len(view.Meters), len(view.OfferTerms))
		}
		prices := map[string]string{}
		for _, m := range view.Meters {
			if len(m.MeterRates) != 1 || !m.MeterRates[0].Min.IsZero() {
				t.Fatalf("meter %s rates %+v", m.MeterID, m.MeterRates)
			}
			prices[m.MeterID] = m.MeterRates[0].Price.String()
		}
		for _, it := range items {
			// The shortest form of the float is the file's literal (0.439, 1.28, 0).
			usd, err := money.ParseDecimal(strconv.FormatFloat(it["unitPrice"].(float64), 'f', -1, 64))
			if err != nil {
				t.Fatal(err)
			}
			want := usd
			if s.Currency == "EUR" {
				want = usd.Mul(eurPerUSD).RoundHalfAwayFromZero(EURDecimals)
			}
			if got := prices[it["meterId"].(string)]; got != want.String() {
				t.Errorf("%s: meter %s at %s; want %s (USD %s)", s.DisplayName, it["meterId"], got, want, usd)
			}
		}
	}
	view, err := srv.Catalog.RateCard(ctx, catalog.RateCardQuery{OfferDurableID: OfferCommitment, Currency: "USD", Locale: "en-US", RegionInfo: "US"}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, term := range view.OfferTerms {
		names = append(names, term.Name)
	}
	if strings.Join(names, ",") != "Monetary Commitment,Monetary Credit,Recurring Charge" || len(view.Meters) != len(items) ||
		view.OfferTerms[1].Credit.String() != "150" || view.OfferTerms[2].RecurringCharge.String() != "10" ||
		len(view.OfferTerms[0].TieredDiscount) != 3 {
		t.Errorf("commitment offer RateCard: terms %+v, %d meters", view.OfferTerms, len(view.Meters))
	}
}
