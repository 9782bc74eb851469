package catalog

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// readTestdata returns a testdata file, gunzipped when it ends in .gz.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(name, ".gz") {
		return raw
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

const (
	carbonFile  = "retail/carbonandfinch_first1000_items_2026-08-22.json.gz"
	radarVMFile = "retail/azure-pricing-radar_vm-belgium_2026-08-22.json.gz"
	radarStFile = "retail/azure-pricing-radar_storage-belgium_2026-08-22.json.gz"
)

func dec(s string) money.Decimal {
	d, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func parse(t testing.TB, format string, p ImportParams, body []byte) *ImportSet {
	t.Helper()
	set, err := ParseImport(format, p, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("ParseImport(%s): %v", format, err)
	}
	return set
}

func tiersString(ts []Tier) string {
	var b strings.Builder
	for i, t := range ts {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(t.Min.String() + ":" + t.Price.String())
	}
	return b.String()
}

func findMeter(set *ImportSet, id string) *MeterImport {
	for i := range set.Meters {
		if set.Meters[i].Meter.MeterID == id {
			return &set.Meters[i]
		}
	}
	return nil
}

// independentItem is a Retail Prices API item read by encoding/json, with
// numbers kept as their literal text: the test's own reading of the file.
type independentItem struct {
	MeterID   string      `json:"meterId"`
	Type      string      `json:"type"`
	TierMin   json.Number `json:"tierMinimumUnits"`
	UnitPrice json.Number `json:"unitPrice"`
	Effective string      `json:"effectiveStartDate"`
	Primary   bool        `json:"isPrimaryMeterRegion"`
}

// TestRetailRealFile imports the first 1,000 items of the real Retail
// Prices API (a JSON array) and checks the counts against the file read
// independently: kept Consumption items, skipped types, repeats, one rate
// per meter and date; and the tiers of a real five-tier meter, value by value.
func TestRetailRealFile(t *testing.T) {
	body := readTestdata(t, carbonFile)
	var items []independentItem
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&items); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	type tierKey struct{ meter, date, min, price string }
	seen := map[tierKey]bool{}
	groups := map[[2]string]bool{}
	repeats := 0
	for _, it := range items {
		types[it.Type]++
		if it.Type != "Consumption" {
			continue
		}
		min, _ := ParseNumber(it.TierMin.String())
		price, _ := ParseNumber(it.UnitPrice.String())
		k := tierKey{it.MeterID, it.Effective, min.String(), price.String()}
		if seen[k] {
			repeats++
		}
		seen[k] = true
		groups[[2]string{it.MeterID, it.Effective}] = true
	}
	// Stated counts (from the file), then the independent ones.
	if len(items) != 1000 || types["Consumption"] != 672 || types["DevTestConsumption"] != 188 || types["Reservation"] != 140 ||
		repeats != 2 || len(groups) != 652 {
		t.Fatalf("the data file changed: %d items, types %v, %d repeats, %d groups", len(items), types, repeats, len(groups))
	}

	set := parse(t, FormatRetailPrices, ImportParams{}, body)
	if set.Params.OfferDurableID != DefaultImportOffer || set.Params.Currency != "USD" {
		t.Errorf("params %+v; want the default offer and the items' USD", set.Params)
	}
	if set.Items != len(items) || len(set.Rejected) != 0 {
		t.Errorf("items %d, rejected %v; want %d and none", set.Items, set.Rejected, len(items))
	}
	wantSkipped := map[string]int{"type DevTestConsumption": 188, "type Reservation": 140, skipDuplicate: repeats}
	if !reflect.DeepEqual(set.Skipped, wantSkipped) {
		t.Errorf("skipped %v; want %v", set.Skipped, wantSkipped)
	}
	rates := 0
	for _, m := range set.Meters {
		rates += len(m.Rates)
	}
	if len(set.Meters) != 652 || rates != len(groups) {
		t.Errorf("%d meters, %d rates; want 652 and %d", len(set.Meters), rates, len(groups))
	}
	if !slices.IsSortedFunc(set.Meters, func(a, b MeterImport) int { return strings.Compare(a.Meter.MeterID, b.Meter.MeterID) }) {
		t.Error("meters are not sorted by id")
	}

	// Network Watcher "Standard Perf Monitor Connection Metric": five tiers
	// listed out of order in the file (1000010 before 240010), a free first
	// tier, only listed outside its primary region.
	m := findMeter(set, "ba2b4df6-e886-4cf2-9818-33f27d22b3cf")
	if m == nil {
		t.Fatal("meter ba2b4df6… missing")
	}
	if got, want := tiersString(m.Rates[0].Tiers), "0:0 10:0.3 240010:0.1 750010:0.05 1000010:0.02"; got != want || len(m.Rates) != 1 {
		t.Errorf("tiers %q (%d versions); want %q", got, len(m.Rates), want)
	}
	r := m.Rates[0]
	if !r.EffectiveDate.Equal(day("2018-03-02")) || r.OfferDurableID != "MS-AZR-0003P" || r.Currency != "USD" || !r.IncludedQuantity.IsZero() {
		t.Errorf("rate %+v", r)
	}
	want := Meter{MeterID: "ba2b4df6-e886-4cf2-9818-33f27d22b3cf", MeterName: "Standard Perf Monitor Connection Metric",
		MeterCategory: "Network Watcher", MeterSubCategory: "Network Watcher", MeterRegion: "US West", Unit: "1",
		MeterStatus: MeterActive, MeterTags: []string{}}
	if !reflect.DeepEqual(m.Meter, want) || m.HasStatus || m.HasTags {
		t.Errorf("meter %+v (status %v tags %v)\nwant %+v", m.Meter, m.HasStatus, m.HasTags, want)
	}
	// A price written with an exponent in the file ("3.4e-05").
	for _, mi := range set.Meters {
		for _, r := range mi.Rates {
			for _, tier := range r.Tiers {
				if tier.Price.String() == "0.000034" {
					return
				}
			}
		}
	}
	t.Error("no price 0.000034 (written 3.4e-05 in the file)")
}

// TestRetailKeyedExtract imports the real azure-pricing-radar extracts:
// objects keyed "skuId|meterId|type|reservationTerm" with a reduced item
// (no meterId, type, currency, tier or date in the item).
func TestRetailKeyedExtract(t *testing.T) {
	vm, st := readTestdata(t, radarVMFile), readTestdata(t, radarStFile)
	// Independent count: distinct meter ids of the keys, repeats per meter.
	meters := map[string][]json.Number{}
	n := 0
	for _, body := range [][]byte{st, vm} {
		var doc map[string]struct {
			UnitPrice json.Number `json:"unitPrice"`
		}
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		for k, v := range doc {
			id := strings.Split(k, "|")[1]
			meters[id] = append(meters[id], v.UnitPrice)
			n++
		}
	}
	if n != 4433 || len(meters) != 4130 {
		t.Fatalf("the data files changed: %d entries, %d meters", n, len(meters))
	}
	// Both files as one body: two concatenated JSON objects.
	body := append(append(slices.Clone(st), '\n'), vm...)
	p := ImportParams{OfferDurableID: "ms-azr-0003p", Currency: "usd", RegionInfo: "be", EffectiveDate: day("2026-08-22")}
	set := parse(t, FormatRetailPrices, p, body)
	if set.Items != n || len(set.Rejected) != 0 || len(set.Meters) != len(meters) || set.Skipped[skipDuplicate] != n-len(meters) {
		t.Fatalf("items %d, meters %d, skipped %v, rejected %d (first %v); want %d, %d, %d duplicates, 0",
			set.Items, len(set.Meters), set.Skipped, len(set.Rejected), first(set.Rejected), n, len(meters), n-len(meters))
	}
	if set.Params.OfferDurableID != "MS-AZR-0003P" || set.Params.Currency != "USD" || set.Params.RegionInfo != "BE" {
		t.Errorf("params not normalized: %+v", set.Params)
	}
	for _, mi := range set.Meters {
		prices := meters[mi.Meter.MeterID]
		want, _ := ParseNumber(prices[0].String())
		if len(mi.Rates) != 1 || len(mi.Rates[0].Tiers) != 1 || mi.Rates[0].Tiers[0].Price.Cmp(want) != 0 ||
			!mi.Rates[0].EffectiveDate.Equal(day("2026-08-22")) {
			t.Fatalf("meter %s: rates %+v; want one tier at %s from 2026-08-22", mi.Meter.MeterID, mi.Rates, want)
		}
	}
	m := findMeter(set, "fff80ea4-6a52-5eff-9503-3d60a266f39b")
	want := Meter{MeterID: "fff80ea4-6a52-5eff-9503-3d60a266f39b", MeterName: "D64lds v5", MeterCategory: "Virtual Machines Dldsv5 Series Windows",
		MeterSubCategory: "Virtual Machines Dldsv5 Series Windows", MeterRegion: "belgiumcentral", Unit: "1 Hour", MeterStatus: MeterActive, MeterTags: []string{}}
	if m == nil || !reflect.DeepEqual(m.Meter, want) || tiersString(m.Rates[0].Tiers) != "0:6.496" {
		t.Errorf("meter %+v; want %+v at 0:6.496", m, want)
	}

	// Without an effective date for date-less items, each item is rejected.
	set = parse(t, FormatRetailPrices, ImportParams{Currency: "USD"}, st)
	if len(set.Meters) != 0 || len(set.Rejected) != 660 || set.Rejected[0].Code != CodeMissingProperty {
		t.Errorf("without effectiveDate: %d meters, %d rejected (%v)", len(set.Meters), len(set.Rejected), first(set.Rejected))
	}
}

func first(r []Rejection) any {
	if len(r) == 0 {
		return nil
	}
	return r[0]
}

// item builds one Retail Prices API item as JSON.
func item(fields ...string) string {
	base := map[string]string{
		"currencyCode": `"USD"`, "tierMinimumUnits": "0.0", "retailPrice": "0.5", "unitPrice": "0.5",
		"armRegionName": `"westus"`, "location": `"US West"`, "effectiveStartDate": `"2024-01-01T00:00:00Z"`,
		"meterId": `"11111111-1111-4111-8111-111111111111"`, "meterName": `"M"`, "productName": `"P"`, "skuName": `"S"`,
		"serviceName": `"Svc"`, "unitOfMeasure": `"1 Hour"`, "type": `"Consumption"`, "isPrimaryMeterRegion": "true",
	}
	order := []string{"currencyCode", "tierMinimumUnits", "retailPrice", "unitPrice", "armRegionName", "location", "effectiveStartDate",
		"meterId", "meterName", "productName", "skuName", "serviceName", "unitOfMeasure", "type", "isPrimaryMeterRegion"}
	for i := 0; i+1 < len(fields); i += 2 {
		if _, ok := base[fields[i]]; !ok {
			order = append(order, fields[i])
		}
		base[fields[i]] = fields[i+1]
	}
	var b strings.Builder
	b.WriteString("{")
	n := 0
	for _, k := range order {
		v := base[k]
		if v == "" {
			continue // removed
		}
		if n > 0 {
			b.WriteString(",")
		}
		n++
		b.WriteString(`"` + k + `":` + v)
	}
	b.WriteString("}")
	return b.String()
}

const (
	meterA = "11111111-1111-4111-8111-111111111111"
	meterB = "22222222-2222-4222-8222-222222222222"
)

// TestRetailShapes checks every accepted body shape gives the same set.
func TestRetailShapes(t *testing.T) {
	a0 := item()
	a1 := item("tierMinimumUnits", "100", "unitPrice", "0.4", "retailPrice", "0.4")
	b0 := item("meterId", `"`+meterB+`"`, "unitPrice", "2")
	shapes := map[string]string{
		"page":      `{"BillingCurrency":"USD","CustomerEntityId":"Default","CustomerEntityType":"Retail","Items":[` + a0 + `,` + a1 + `,` + b0 + `],"NextPageLink":null,"Count":3}`,
		"pages":     `{"Items":[` + a0 + `],"NextPageLink":"https://prices.azure.com/api/retail/prices?$skip=1"}` + "\n" + `{"Items":[` + a1 + `,` + b0 + `],"NextPageLink":null}`,
		"array":     `[` + a0 + `,` + a1 + `,` + b0 + `]`,
		"ndjson":    a0 + "\n" + a1 + "\n" + b0 + "\n",
		"bom+array": "\xef\xbb\xbf[" + a0 + `,` + a1 + `,` + b0 + `]`,
		"keyed":     `{"S/1|` + meterA + `|Consumption|":` + a0 + `,"S/2|` + meterA + `|Consumption|":` + a1 + `,"S/3|` + meterB + `|Consumption|":` + b0 + `}`,
	}
	for name, body := range shapes {
		t.Run(name, func(t *testing.T) {
			set := parse(t, FormatRetailPrices, ImportParams{}, []byte(body))
			if set.Items != 3 || len(set.Rejected) != 0 || len(set.Meters) != 2 {
				t.Fatalf("items %d, rejected %v, meters %d", set.Items, set.Rejected, len(set.Meters))
			}
			if got := tiersString(set.Meters[0].Rates[0].Tiers); got != "0:0.5 100:0.4" {
				t.Errorf("meter A tiers %q", got)
			}
			if got := tiersString(set.Meters[1].Rates[0].Tiers); got != "0:2" {
				t.Errorf("meter B tiers %q", got)
			}
		})
	}
}

// TestRetailQuirks checks each real-data quirk and each rejection code.
func TestRetailQuirks(t *testing.T) {
	tests := []struct {
		name    string
		params  ImportParams
		items   []string
		meters  string // "id8:tiers@date;…" of the result
		skipped map[string]int
		reject  []string // "index code"
	}{
		{name: "tiers out of order",
			items:  []string{item("tierMinimumUnits", "500", "unitPrice", "0.8"), item(), item("tierMinimumUnits", "200", "unitPrice", "0.9")},
			meters: "11111111:0:0.5 200:0.9 500:0.8@2024-01-01"},
		{name: "exact duplicate item",
			items: []string{item(), item()}, meters: "11111111:0:0.5@2024-01-01", skipped: map[string]int{skipDuplicate: 1}},
		{name: "one meter in two products, same price",
			items:   []string{item("productName", `"E50 ZRS"`), item("productName", `"E60 ZRS"`)},
			meters:  "11111111:0:0.5@2024-01-01",
			skipped: map[string]int{skipDuplicate: 1}},
		{name: "conflicting prices reject the group",
			items:  []string{item(), item(), item("unitPrice", "0.6"), item("meterId", `"`+meterB+`"`)},
			meters: "22222222:0:0.5@2024-01-01", reject: []string{"0 ConflictingPrices", "1 ConflictingPrices", "2 ConflictingPrices"}},
		{name: "primary region wins over non-primary",
			items:   []string{item("isPrimaryMeterRegion", "false", "unitPrice", "0.7", "location", `"US East"`), item()},
			meters:  "11111111:0:0.5@2024-01-01",
			skipped: map[string]int{skipNonPrimary: 1}},
		{name: "non-primary alone is kept",
			items: []string{item("isPrimaryMeterRegion", "false")}, meters: "11111111:0:0.5@2024-01-01"},
		{name: "zero price is a price",
			items: []string{item("unitPrice", "0", "retailPrice", "0")}, meters: "11111111:0:0@2024-01-01"},
		{name: "two effective dates are two versions",
			items:  []string{item("effectiveStartDate", `"2025-06-01T00:00:00Z"`, "unitPrice", "0.45"), item()},
			meters: "11111111:0:0.5@2024-01-01,0:0.45@2025-06-01"},
		{name: "other types skipped",
			items:   []string{item("type", `"Reservation"`, "unitPrice", "569"), item("type", `"DevTestConsumption"`), item()},
			meters:  "11111111:0:0.5@2024-01-01",
			skipped: map[string]int{"type Reservation": 1, "type DevTestConsumption": 1}},
		{name: "retailPrice when unitPrice is absent",
			items: []string{item("unitPrice", "", "retailPrice", "1.25")}, meters: "11111111:0:1.25@2024-01-01"},
		{name: "units kept verbatim",
			items: []string{item("unitOfMeasure", `"10K"`)}, meters: "11111111:0:0.5@2024-01-01"},
		{name: "no tier from 0",
			items: []string{item("tierMinimumUnits", "10")}, reject: []string{"0 InvalidTiers"}},
		{name: "bad meter id", items: []string{item("meterId", `"not-a-guid"`)}, reject: []string{"0 InvalidMeterId"}},
		{name: "missing meter id", items: []string{item("meterId", "")}, reject: []string{"0 MissingProperty"}},
		{name: "missing price", items: []string{item("unitPrice", "", "retailPrice", "")}, reject: []string{"0 MissingProperty"}},
		{name: "negative price", items: []string{item("unitPrice", "-1")}, reject: []string{"0 InvalidPrice"}},
		{name: "price too precise", items: []string{item("unitPrice", "0.00000000001")}, reject: []string{"0 InvalidPrice"}},
		{name: "tier bound too precise", items: []string{item("tierMinimumUnits", "0.0000000001")}, reject: []string{"0 InvalidTiers"}},
		{name: "missing name", items: []string{item("meterName", "", "skuName", "")}, reject: []string{"0 MissingProperty"}},
		{name: "missing unit", items: []string{item("unitOfMeasure", "")}, reject: []string{"0 MissingProperty"}},
		{name: "bad date", items: []string{item("effectiveStartDate", `"yesterday"`)}, reject: []string{"0 InvalidEffectiveDate"}},
		{name: "wrong type of value", items: []string{item("unitPrice", `true`), item("meterId", `"`+meterB+`"`)},
			meters: "22222222:0:0.5@2024-01-01", reject: []string{"0 InvalidItem"}},
		{name: "not an object", items: []string{`42`, item()}, meters: "11111111:0:0.5@2024-01-01", reject: []string{"0 InvalidItem"}},
		{name: "unknown currency", items: []string{item("currencyCode", `"XYZ"`)}, reject: []string{"0 InvalidCurrency"}},
		{name: "currency mismatch with the parameter", params: ImportParams{Currency: "EUR"},
			items: []string{item()}, reject: []string{"0 CurrencyMismatch"}},
		{name: "currency mismatch between items",
			items:  []string{item(), item("currencyCode", `"EUR"`, "meterId", `"`+meterB+`"`)},
			meters: "11111111:0:0.5@2024-01-01", reject: []string{"1 CurrencyMismatch"}},
		{name: "unknown fields ignored",
			items:  []string{item("savingsPlan", `[{"unitPrice":0.3,"term":"1 Year"}]`, "effectiveEndDate", `"2026-08-31T23:59:00Z"`)},
			meters: "11111111:0:0.5@2024-01-01"},
		{name: "property names in any case",
			items:  []string{`{"MeterId":"` + meterA + `","MeterName":"M","ServiceName":"S","UnitOfMeasure":"1","UnitPrice":1,"EffectiveStartDate":"2024-01-01","CurrencyCode":"USD"}`},
			meters: "11111111:0:1@2024-01-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := "[" + strings.Join(tt.items, ",") + "]"
			set := parse(t, FormatRetailPrices, tt.params, []byte(body))
			var got []string
			for _, m := range set.Meters {
				var vs []string
				for _, r := range m.Rates {
					vs = append(vs, tiersString(r.Tiers)+"@"+r.EffectiveDate.Format(time.DateOnly))
				}
				got = append(got, m.Meter.MeterID[:8]+":"+strings.Join(vs, ","))
			}
			if g := strings.Join(got, ";"); g != tt.meters {
				t.Errorf("meters %q; want %q", g, tt.meters)
			}
			var rej []string
			for _, r := range set.Rejected {
				rej = append(rej, strconv.Itoa(r.Index)+" "+r.Code)
				if r.Message == "" || r.Section != "Items" {
					t.Errorf("rejection %+v lacks a message or section", r)
				}
			}
			if !slices.Equal(rej, tt.reject) {
				t.Errorf("rejected %v; want %v (%v)", rej, tt.reject, set.Rejected)
			}
			if tt.skipped == nil {
				tt.skipped = map[string]int{}
			}
			if !reflect.DeepEqual(set.Skipped, tt.skipped) {
				t.Errorf("skipped %v; want %v", set.Skipped, tt.skipped)
			}
		})
	}
}

// TestImportErrors checks the errors that fail a whole import.
func TestImportErrors(t *testing.T) {
	tests := []struct {
		name, format string
		params       ImportParams
		body         string
		code         string
	}{
		{"unknown format", "csv", ImportParams{}, `[]`, CodeInvalidProperty},
		{"ratecard without offer", FormatRateCard, ImportParams{}, `{}`, CodeMissingProperty},
		{"bad offer", FormatRetailPrices, ImportParams{OfferDurableID: "MS-AZR-3P"}, `[]`, CodeInvalidOffer},
		{"bad currency", FormatRetailPrices, ImportParams{Currency: "dollars"}, `[]`, CodeInvalidCurrency},
		{"bad locale", FormatRetailPrices, ImportParams{Locale: "english!"}, `[]`, CodeInvalidLocale},
		{"bad region", FormatRetailPrices, ImportParams{RegionInfo: "USA"}, `[]`, CodeInvalidRegionInfo},
		{"bad date", FormatRetailPrices, ImportParams{EffectiveDate: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)}, `[]`, CodeInvalidDate},
		{"not json", FormatRetailPrices, ImportParams{}, `Items: none`, "InvalidRequestContent"},
		{"truncated", FormatRetailPrices, ImportParams{}, `[` + item(), "InvalidRequestContent"},
		{"top-level string", FormatRetailPrices, ImportParams{}, `"items"`, "InvalidRequestContent"},
		{"items not an array", FormatRetailPrices, ImportParams{}, `{"Items":{}}`, "InvalidRequestContent"},
		{"no currency anywhere", FormatRetailPrices, ImportParams{}, `[` + item("currencyCode", "") + `]`, CodeMissingProperty},
		{"ratecard array", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P"}, `[]`, "InvalidRequestContent"},
		{"ratecard empty", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P"}, ``, "InvalidRequestContent"},
		{"ratecard trailing data", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P"}, `{"Currency":"USD"} {}`, "InvalidRequestContent"},
		{"ratecard meters not array", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P"}, `{"Meters":5}`, "InvalidRequestContent"},
		{"ratecard currency mismatch", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P", Currency: "EUR"}, `{"Currency":"USD"}`, "CurrencyMismatch"},
		{"ratecard locale mismatch", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P", Locale: "de-DE"}, `{"Currency":"USD","Locale":"en-US"}`, "LocaleMismatch"},
		{"ratecard tax included", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P"}, `{"Currency":"USD","IsTaxIncluded":true}`, CodeInvalidProperty},
		{"ratecard bad body currency", FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P"}, `{"Currency":"US"}`, CodeInvalidCurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseImport(tt.format, tt.params, strings.NewReader(tt.body))
			be := billing.AsError(err)
			if be == nil || be.Kind != billing.KindInvalid || be.Code != tt.code || be.Message == "" {
				t.Fatalf("error %v; want KindInvalid %s", err, tt.code)
			}
		})
	}
	// A reader error is returned as is, not as bad content.
	boom := errors.New("boom")
	_, err := ParseImport(FormatRetailPrices, ImportParams{}, io.MultiReader(strings.NewReader(`[`+item()+`,`), errReader{boom}))
	if !errors.Is(err, boom) || billing.AsError(err) != nil {
		t.Fatalf("reader error became %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestRateCardParse reads a RateCard body: tiers from MeterRates keys (in
// any order, a number with an exponent), tags, status, included quantity,
// the three offer terms with their wire names.
func TestRateCardParse(t *testing.T) {
	set := parse(t, FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0026P"}, readTestdata(t, "ratecard/contoso-usd.json"))
	if set.Params.Currency != "USD" || set.Params.Locale != "en-US" || set.Items != 6 || len(set.Rejected) != 0 || len(set.Meters) != 3 {
		t.Fatalf("params %+v, items %d, rejected %v, meters %d", set.Params, set.Items, set.Rejected, len(set.Meters))
	}
	m := set.Meters[1] // 3c0ef3d8…
	if m.Meter.MeterID != "3c0ef3d8-de64-5b67-b94a-37118d5bfb65" || tiersString(m.Rates[0].Tiers) != "0:0.0208 51200:0.02 512000:0.0192" ||
		m.Rates[0].IncludedQuantity.String() != "5" || !m.Rates[0].EffectiveDate.Equal(day("2023-09-01")) || !m.HasStatus || !m.HasTags {
		t.Errorf("storage meter %+v", m)
	}
	m = set.Meters[2]
	if m.Meter.MeterStatus != MeterDeprecated || !reflect.DeepEqual(m.Meter.MeterTags, []string{"Third Party"}) || tiersString(m.Rates[0].Tiers) != "0:1.99 100:0.99" {
		t.Errorf("test meter %+v", m)
	}
	if len(set.Terms) != 3 {
		t.Fatalf("terms %+v", set.Terms)
	}
	commit, credit, charge := set.Terms[0], set.Terms[1], set.Terms[2] // by name
	if credit.Name != TermMonetaryCredit || credit.Credit.String() != "150" || !slices.Equal(credit.ExcludedMeterIDs, []string{"8a2f9c71-5b3d-4e6a-9f10-2c4d6e8f0a1b"}) ||
		credit.OfferDurableID != "MS-AZR-0026P" || credit.Currency != "USD" || !credit.EffectiveDate.Equal(day("2024-01-01")) {
		t.Errorf("credit %+v", credit)
	}
	if commit.Name != TermMonetaryCommitment || len(commit.TieredDiscount) != 3 || commit.TieredDiscount[2].Min.String() != "10000" ||
		commit.TieredDiscount[2].Percent.String() != "7.5" || commit.ExcludedMeterIDs != nil {
		t.Errorf("commitment %+v", commit)
	}
	if charge.Name != TermRecurringCharge || charge.RecurringCharge.String() != "10" {
		t.Errorf("charge %+v", charge)
	}
}

// TestRateCardRejections checks the rejection of each kind of bad element.
func TestRateCardRejections(t *testing.T) {
	meter := func(fields string) string {
		return `{"MeterId":"` + meterA + `","MeterName":"M","MeterCategory":"C","Unit":"1 Hour","EffectiveDate":"2024-01-01T00:00:00Z",` + fields + `}`
	}
	body := `{"Currency":"usd","Locale":"EN-us","Meters":[` + strings.Join([]string{
		meter(`"MeterRates":{"0":1}`),                  // 0 ok
		meter(`"MeterRates":{"0":1}, "MeterId":"bad"`), // 1 InvalidMeterId (the later MeterId wins)
		meter(`"MeterRates":{"5":1}`)[:0] + `{"MeterId":"` + meterB + `","MeterName":"M","MeterCategory":"C","Unit":"1","MeterRates":{"5":1},"EffectiveDate":"2024-01-01"}`, // 2 InvalidTiers
		meter(`"MeterRates":{"zero":1}`),                      // 3 InvalidItem
		`"not a meter"`,                                       // 4 InvalidItem
		meter(`"MeterRates":{"0":1},"MeterStatus":"Retired"`), // 5 InvalidProperty
		`{"MeterId":"` + meterB + `","MeterName":"M","MeterCategory":"C","Unit":"1","MeterRates":{"0":2}}`, // 6 MissingProperty (no date)
		meter(`"MeterRates":{"0":1}`),                                        // 7 duplicate of 0: skipped
		meter(`"MeterRates":{"0":1},"EffectiveDate":"2024-02-01T00:00:00Z"`), // 8 a second version
		`{"MeterId":"` + meterB + `","MeterName":"M","MeterCategory":"C","Unit":"1","MeterRates":{"0":2},"EffectiveDate":"2024-01-01"}`, // 9 conflict with 10
		`{"MeterId":"` + meterB + `","MeterName":"M","MeterCategory":"C","Unit":"1","MeterRates":{"0":3},"EffectiveDate":"2024-01-01"}`, // 10 conflict
		meter(`"MeterRates":{"0":1},"IncludedQuantity":"x"`),                                                                            // 11 InvalidItem
	}, ",") + `],"OfferTerms":[` + strings.Join([]string{
		`{"Name":"Recurring Charge","EffectiveDate":"2024-01-01T00:00:00Z","RecurringCharge":10}`,          // 0 ok
		`{"Name":"Lunch","EffectiveDate":"2024-01-01T00:00:00Z"}`,                                          // 1 InvalidOfferTerm
		`{"Name":"Monetary Credit","EffectiveDate":"2024-01-01T00:00:00Z","Credit":100}`,                   // 2 conflict with 3
		`{"Name":"Monetary Credit","EffectiveDate":"2024-01-01T00:00:00Z","Credit":200}`,                   // 3 conflict
		`{"Name":"Recurring Charge","EffectiveDate":"2024-01-01T00:00:00Z","RecurringCharge":10.0}`,        // 4 duplicate of 0
		`{"Name":"Monetary Commitment","EffectiveDate":"2024-01-01T00:00:00Z","TieredDiscount":{"0":120}}`, // 5 InvalidOfferTerm
	}, ",") + `],"IsTaxIncluded":false,"RatingDate":"ignored"}`
	set := parse(t, FormatRateCard, ImportParams{OfferDurableID: "MS-AZR-0003P"}, []byte(body))
	var got []string
	for _, r := range set.Rejected {
		got = append(got, r.Section+" "+strconv.Itoa(r.Index)+" "+r.Code)
	}
	want := []string{"Meters 1 InvalidMeterId", "Meters 2 InvalidTiers", "Meters 3 InvalidItem", "Meters 4 InvalidItem", "Meters 5 InvalidProperty",
		"Meters 6 MissingProperty", "Meters 9 ConflictingPrices", "Meters 10 ConflictingPrices", "Meters 11 InvalidItem",
		"OfferTerms 1 InvalidOfferTerm", "OfferTerms 2 ConflictingTerms", "OfferTerms 3 ConflictingTerms", "OfferTerms 5 InvalidOfferTerm"}
	if !slices.Equal(got, want) {
		t.Errorf("rejected\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(set.Meters) != 1 || len(set.Meters[0].Rates) != 2 || len(set.Terms) != 1 || set.Skipped[skipDuplicate] != 2 || set.Items != 18 {
		t.Errorf("meters %+v, terms %+v, skipped %v, items %d", set.Meters, set.Terms, set.Skipped, set.Items)
	}
	if set.Params.Currency != "USD" || set.Params.Locale != "en-US" {
		t.Errorf("params %+v", set.Params)
	}
}
