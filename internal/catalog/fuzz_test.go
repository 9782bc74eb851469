package catalog

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/reckon-billing/reckon/internal/billing"
)

// checkSet checks what a parse that succeeded must hold: every rate valid
// as Normalize defines it (so rating can rely on it), one version per date,
// meters sorted, rejections sorted and explained.
func checkSet(t *testing.T, set *ImportSet) {
	if set.Params.Currency == "" && (len(set.Meters) > 0 || len(set.Terms) > 0) {
		t.Fatalf("prices without a currency: %+v", set.Params)
	}
	for i, m := range set.Meters {
		if i > 0 && set.Meters[i-1].Meter.MeterID >= m.Meter.MeterID {
			t.Fatalf("meters not sorted or not unique at %d", i)
		}
		mm := m.Meter
		if err := mm.Normalize(mm.MeterID); err != nil {
			t.Fatalf("meter %+v is not valid: %v", m.Meter, err)
		}
		for j, r := range m.Rates {
			rr := r
			rr.Tiers = slices.Clone(r.Tiers)
			if err := rr.Normalize(); err != nil || tiersString(rr.Tiers) != tiersString(r.Tiers) {
				t.Fatalf("rate %+v is not normalized: %v", r, err)
			}
			if r.MeterID != mm.MeterID || r.OfferDurableID != set.Params.OfferDurableID || r.Currency != set.Params.Currency {
				t.Fatalf("rate %+v does not belong to meter %s / params %+v", r, mm.MeterID, set.Params)
			}
			if j > 0 && !m.Rates[j-1].EffectiveDate.Before(r.EffectiveDate) {
				t.Fatalf("rate versions not sorted by date: %+v", m.Rates)
			}
		}
	}
	for _, term := range set.Terms {
		tt := term
		if err := tt.Normalize(); err != nil {
			t.Fatalf("term %+v is not valid: %v", term, err)
		}
	}
	for i, r := range set.Rejected {
		if r.Code == "" || r.Message == "" || r.Index < 0 {
			t.Fatalf("rejection %+v", r)
		}
		if i > 0 && set.Rejected[i-1].Section == r.Section && set.Rejected[i-1].Index > r.Index {
			t.Fatalf("rejections not sorted: %+v", set.Rejected)
		}
	}
}

func fuzzParse(t *testing.T, format string, body []byte) {
	p := ImportParams{OfferDurableID: "MS-AZR-0003P", EffectiveDate: day("2026-01-01")}
	set, err := ParseImport(format, p, bytes.NewReader(body))
	if err != nil {
		if be := billing.AsError(err); be == nil || be.Kind != billing.KindInvalid || be.Message == "" {
			t.Fatalf("error %v is not a KindInvalid billing error", err)
		}
		return
	}
	checkSet(t, set)
}

// FuzzParseRetail: the retail-prices decoder never panics, and what it
// accepts is valid.
func FuzzParseRetail(f *testing.F) {
	f.Add([]byte(`{"Items":[` + item() + `,` + item("tierMinimumUnits", "100", "unitPrice", "0.4") + `]}`))
	f.Add([]byte(`[` + item("unitPrice", "3.4e-05") + `]`))
	f.Add([]byte(item() + "\n" + item("meterId", `"`+meterB+`"`)))
	f.Add([]byte(`{"a|` + meterA + `|Consumption|":{"meterName":"M","productName":"P","unitOfMeasure":"1","unitPrice":1}}`))
	f.Add([]byte(`{"Items":[{"meterId":null,"unitPrice":"1e400"}],"NextPageLink":null}`))
	f.Add([]byte(`[1, "x", null, {}, []]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzParse(t, FormatRetailPrices, body)
	})
}

// FuzzParseRateCard: the RateCard decoder never panics, and what it
// accepts is valid.
func FuzzParseRateCard(f *testing.F) {
	f.Add([]byte(`{"OfferTerms":[{"Name":"Monetary Credit","EffectiveDate":"2024-01-01T00:00:00Z","Credit":150,"ExcludedMeterIds":["` + meterA + `"]},` +
		`{"Name":"Monetary Commitment","TieredDiscount":{"0":0,"1000":5}},{"Name":"Recurring Charge","RecurringCharge":10}],` +
		`"Meters":[{"MeterId":"` + meterA + `","MeterName":"M","MeterCategory":"C","Unit":"1","MeterRates":{"0":1.99,"100":0.99},` +
		`"EffectiveDate":"2024-01-01T00:00:00Z","IncludedQuantity":0,"MeterTags":["Third Party"],"MeterStatus":"Active"}],` +
		`"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`))
	f.Add([]byte(`{"Meters":[{"MeterRates":{"1e3":1,"0":-1}}],"Currency":"EUR"}`))
	f.Add([]byte(`{"Meters":null,"OfferTerms":[null,{"Name":"monetary credit","Credit":"1"}],"Currency":"JPY","Locale":"ja-jp"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fuzzParse(t, FormatRateCard, body)
	})
}

// TestFuzzSeedsFromTestdata runs the decoders over the test files cut at
// many points: truncated bodies are refused cleanly, never with a panic.
func TestFuzzSeedsFromTestdata(t *testing.T) {
	rc := readTestdata(t, "ratecard/contoso-usd.json")
	retail := readTestdata(t, carbonFile)[:20000]
	for cut := 0; cut < len(rc); cut += 37 {
		fuzzParse(t, FormatRateCard, rc[:cut])
	}
	for cut := 0; cut < len(retail); cut += 997 {
		fuzzParse(t, FormatRetailPrices, retail[:cut])
		fuzzParse(t, FormatRetailPrices, []byte(strings.ReplaceAll(string(retail[:cut]), "0.0", "-0.0")))
	}
}
