package httpapi

import (
	"strings"
	"testing"

	"github.com/reckon-billing/reckon/internal/billing"
)

func TestParseRateCardFilter(t *testing.T) {
	want := rateCardFilter{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"}
	for _, s := range []string{
		"OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'",
		"RegionInfo eq 'US' and Locale eq 'en-US' and Currency eq 'USD' and OfferDurableId eq 'MS-AZR-0003P'", // any order
		"offerdurableid EQ 'MS-AZR-0003P' AND currency eq 'USD' And LOCALE eq 'en-US' and regioninfo Eq 'US'", // any case
		"  OfferDurableId  eq\t'MS-AZR-0003P'   and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'  ",
	} {
		got, err := parseRateCardFilter(s)
		if err != nil {
			t.Errorf("%q: %v", s, err)
			continue
		}
		if got != want {
			t.Errorf("%q: got %+v, want %+v", s, got, want)
		}
	}
	got, err := parseRateCardFilter("OfferDurableId eq 'a''b' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'")
	if err != nil || got.OfferDurableID != "a'b" {
		t.Errorf("doubled quote: %+v, %v", got, err)
	}
	if back, err := parseRateCardFilter(got.String()); err != nil || back != got {
		t.Errorf("String does not round-trip: %q → %+v, %v", got.String(), back, err)
	}
}

func TestParseRateCardFilterRejects(t *testing.T) {
	for _, c := range []struct{ filter, mention string }{
		{"", "missing at the end"},
		{"'OfferDurableId eq ''MS-AZR-0003P'' and Currency eq ''USD'' and Locale eq ''en-US'' and RegionInfo eq ''US'''", "property name"}, // the whole filter quoted (Azure's forum case)
		{"OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US'", "RegionInfo is missing"},
		{"OfferDurableId eq 'MS-AZR-0003P'", "Currency, Locale, RegionInfo are missing"},
		{"OfferDurableId eq 'MS-AZR-0003P' or Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "'or' where 'and'"},
		{"OfferDurableId ne 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "operator 'ne'"},
		{"OfferDurableId eq MS-AZR-0003P and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "single quotes"},
		{"OfferDurableId eq 'MS-AZR-0003P and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "Currency"}, // the quote closes late
		{"OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US' and Currency eq 'EUR'", "Currency appears twice"},
		{"OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and Region eq 'US'", "unknown property 'Region'"},
		{"OfferDurableId eq '' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "is empty"},
		{"OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US' and", "missing at the end"},
		{"OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US')", "character ')'"},
		{"OfferDurableId eq 'MS-AZR-0003P'and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "character 'a' at position 33"},
		{"(OfferDurableId eq 'MS-AZR-0003P') and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "character '('"},
		{"OfferDurableIdeq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'", "unknown property"},
		{strings.Repeat("a", 2000), "longer than"},
	} {
		_, err := parseRateCardFilter(c.filter)
		e := billing.AsError(err)
		if e == nil || e.Kind != billing.KindInvalid || e.Code != "InvalidFilter" || e.Target != "$filter" {
			t.Errorf("%q: error %v, want an InvalidFilter error", c.filter, err)
			continue
		}
		if !strings.Contains(e.Message, c.mention) {
			t.Errorf("%q: message %q does not mention %q", c.filter, e.Message, c.mention)
		}
	}
}

// FuzzRateCardFilter: the parser never panics, and what it accepts renders
// back to a filter that parses to the same parameters.
func FuzzRateCardFilter(f *testing.F) {
	f.Add("OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'")
	f.Add("RegionInfo eq 'US' and Locale eq 'en-US' and Currency eq 'USD' and OfferDurableId eq 'a''b'")
	f.Add("OfferDurableId eq 'MS-AZR-0003P' or Currency eq 'USD'")
	f.Add("'")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseRateCardFilter(s)
		if err != nil {
			if billing.AsError(err) == nil {
				t.Fatalf("%q: a non-domain error %v", s, err)
			}
			return
		}
		back, err := parseRateCardFilter(got.String())
		if err != nil || back != got {
			t.Fatalf("%q parsed to %+v, which renders to %q and parses to %+v, %v", s, got, got.String(), back, err)
		}
	})
}
