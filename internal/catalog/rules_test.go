package catalog

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// code returns the code of a billing error ("" for nil; "?" for another error).
func code(err error) string {
	if err == nil {
		return ""
	}
	if be := billing.AsError(err); be != nil {
		if be.Kind != billing.KindInvalid || be.Message == "" {
			return "not-invalid:" + be.Code
		}
		return be.Code
	}
	return "?" + err.Error()
}

func TestNormalizeParameters(t *testing.T) {
	tests := []struct {
		fn       func(string) (string, error)
		in, want string
		code     string
	}{
		{NormalizeOfferID, "MS-AZR-0003P", "MS-AZR-0003P", ""},
		{NormalizeOfferID, "ms-azr-0121p", "MS-AZR-0121P", ""},
		{NormalizeOfferID, "MS-AZR-0017P-0026P", "MS-AZR-0017P-0026P", ""},
		{NormalizeOfferID, "MS-AZR-003P", "", CodeInvalidOffer},
		{NormalizeOfferID, "MS-AZR-0003", "", CodeInvalidOffer},
		{NormalizeOfferID, " MS-AZR-0003P", "", CodeInvalidOffer},
		{NormalizeOfferID, "", "", CodeInvalidOffer},
		{NormalizeCurrency, "usd", "USD", ""},
		{NormalizeCurrency, "Jpy", "JPY", ""},
		{NormalizeCurrency, "US", "", CodeInvalidCurrency},
		{NormalizeCurrency, "XYZ", "", CodeInvalidCurrency},
		{NormalizeCurrency, "U$D", "", CodeInvalidCurrency},
		{NormalizeLocale, "en-US", "en-US", ""},
		{NormalizeLocale, "EN-us", "en-US", ""},
		{NormalizeLocale, "de_de", "de-DE", ""},
		{NormalizeLocale, "zh-hans-cn", "zh-Hans-CN", ""},
		{NormalizeLocale, "fr", "fr", ""},
		{NormalizeLocale, "und", "", CodeInvalidLocale},
		{NormalizeLocale, "x-private", "", CodeInvalidLocale},
		{NormalizeLocale, "en US", "", CodeInvalidLocale},
		{NormalizeLocale, "", "", CodeInvalidLocale},
		{NormalizeRegion, "us", "US", ""},
		{NormalizeRegion, "GB", "GB", ""},
		{NormalizeRegion, "UK", "", CodeInvalidRegionInfo},
		{NormalizeRegion, "EU", "", CodeInvalidRegionInfo},
		{NormalizeRegion, "ZZ", "", CodeInvalidRegionInfo},
		{NormalizeRegion, "USA", "", CodeInvalidRegionInfo},
		{NormalizeRegion, "840", "", CodeInvalidRegionInfo},
		{NormalizeRegion, "U1", "", CodeInvalidRegionInfo},
	}
	for _, tt := range tests {
		got, err := tt.fn(tt.in)
		if got != tt.want || code(err) != tt.code {
			t.Errorf("normalize %q = %q, %v; want %q, %q", tt.in, got, err, tt.want, tt.code)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"}, {"0.0", "0"}, {"-0", "0"}, {"1.99", "1.99"}, {"15168242.0", "15168242"},
		{"3.4e-05", "0.000034"}, {"4E-5", "0.00004"}, {"1.5e3", "1500"}, {"1e+2", "100"}, {"-2.50", "-2.5"},
		{"0.1016", "0.1016"}, {"1024000.0", "1024000"}, {"317.1168661922", "317.1168661922"},
		{"12345678901234567890", "12345678901234567890"}, {"0.0000000000000000001", "0.0000000000000000001"},
		{"123e-21", "0.000000000000000000123"[:0]}, // too precise: error below
	}
	for _, tt := range tests[:len(tests)-1] {
		d, err := ParseNumber(tt.in)
		if err != nil || d.String() != tt.want {
			t.Errorf("ParseNumber(%q) = %s, %v; want %s", tt.in, d, err, tt.want)
		}
	}
	for _, bad := range []string{"", "-", "01", "1.", ".5", "1e", "1e+", "+1", "0x10", "1_000", "NaN", "Infinity", "1,5", " 1",
		"123e-21", "1e21", "123456789012345678901", "1e99999", "0.00000000000000000001"} {
		if d, err := ParseNumber(bad); err == nil {
			t.Errorf("ParseNumber(%q) = %s; want an error", bad, d)
		}
	}
}

func TestOfferNormalize(t *testing.T) {
	ok := func() Offer {
		return Offer{Name: "Pay-As-You-Go", Regions: []string{"us", "DE", "us"}, Currencies: []OfferCurrency{
			{Currency: "usd"}, {Currency: "eur", BaseCurrency: "usd", ExchangeRate: dec("0.92"), RoundingDecimals: 4},
		}}
	}
	o := ok()
	if err := o.Normalize("ms-azr-0003p"); err != nil {
		t.Fatal(err)
	}
	want := Offer{DurableID: "MS-AZR-0003P", Name: "Pay-As-You-Go", Regions: []string{"DE", "US"}, Currencies: []OfferCurrency{
		{Currency: "EUR", BaseCurrency: "USD", ExchangeRate: dec("0.92"), RoundingDecimals: 4}, {Currency: "USD"},
	}}
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("normalized %+v\nwant %+v", o, want)
	}
	o = Offer{Currencies: []OfferCurrency{{Currency: "USD"}}}
	if err := o.Normalize("MS-AZR-0017P"); err != nil || o.Name != "MS-AZR-0017P" || o.Regions == nil {
		t.Fatalf("default name: %+v, %v", o, err)
	}

	tests := []struct {
		name   string
		id     string
		change func(*Offer)
		code   string
	}{
		{"bad id", "MS-AZR-1", func(*Offer) {}, CodeInvalidOffer},
		{"body id differs", "MS-AZR-0003P", func(o *Offer) { o.DurableID = "MS-AZR-0017P" }, CodeInvalidProperty},
		{"name with control", "MS-AZR-0003P", func(o *Offer) { o.Name = "a\tb" }, CodeInvalidProperty},
		{"no currency", "MS-AZR-0003P", func(o *Offer) { o.Currencies = nil }, CodeMissingProperty},
		{"unknown currency", "MS-AZR-0003P", func(o *Offer) { o.Currencies[0].Currency = "ABC" }, CodeInvalidCurrency},
		{"twice", "MS-AZR-0003P", func(o *Offer) { o.Currencies = append(o.Currencies, OfferCurrency{Currency: "USD"}) }, CodeInvalidProperty},
		{"base missing", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].BaseCurrency = "GBP" }, CodeInvalidProperty},
		{"base itself", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].BaseCurrency = "EUR" }, CodeInvalidProperty},
		{"base derived", "MS-AZR-0003P", func(o *Offer) {
			o.Currencies = append(o.Currencies, OfferCurrency{Currency: "CHF", BaseCurrency: "EUR", ExchangeRate: dec("0.9")})
		}, CodeInvalidProperty},
		{"base unknown", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].BaseCurrency = "XXY" }, CodeInvalidCurrency},
		{"rate zero", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].ExchangeRate = money.Zero }, CodeInvalidProperty},
		{"rate negative", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].ExchangeRate = dec("-1") }, CodeInvalidProperty},
		{"rate too precise", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].ExchangeRate = dec("0.9200000001") }, CodeInvalidProperty},
		{"rounding too high", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].RoundingDecimals = 11 }, CodeInvalidProperty},
		{"rounding negative", "MS-AZR-0003P", func(o *Offer) { o.Currencies[1].RoundingDecimals = -1 }, CodeInvalidProperty},
		{"own list with a rate", "MS-AZR-0003P", func(o *Offer) { o.Currencies[0].ExchangeRate = dec("1") }, CodeInvalidProperty},
		{"bad region", "MS-AZR-0003P", func(o *Offer) { o.Regions = []string{"XX"} }, CodeInvalidRegionInfo},
	}
	for _, tt := range tests {
		o := ok()
		tt.change(&o)
		if err := o.Normalize(tt.id); code(err) != tt.code {
			t.Errorf("%s: %v; want %s", tt.name, err, tt.code)
		}
	}
}

func TestTermNormalize(t *testing.T) {
	at := day("2024-01-01")
	credit := OfferTerm{Name: "monetary credit", EffectiveDate: at, Credit: dec("150"),
		ExcludedMeterIDs: []string{strings.ToUpper(meterB), meterA, meterB}}
	if err := credit.Normalize(); err != nil {
		t.Fatal(err)
	}
	if credit.Name != TermMonetaryCredit || !reflect.DeepEqual(credit.ExcludedMeterIDs, []string{meterA, meterB}) {
		t.Errorf("normalized %+v", credit)
	}
	commit := OfferTerm{Name: TermMonetaryCommitment, EffectiveDate: at, TieredDiscount: []DiscountTier{
		{Min: dec("1000"), Percent: dec("5")}, {Min: dec("0"), Percent: dec("0")}, {Min: dec("5000"), Percent: dec("7.5")}}}
	if err := commit.Normalize(); err != nil {
		t.Fatal(err)
	}
	if got := commit.TieredDiscount; got[0].Min.String() != "0" || got[1].Min.String() != "1000" || got[2].Percent.String() != "7.5" {
		t.Errorf("discount not sorted: %+v", got)
	}

	tests := []struct {
		name string
		t    OfferTerm
		code string
	}{
		{"unknown name", OfferTerm{Name: "Free Lunch", EffectiveDate: at}, CodeInvalidOfferTerm},
		{"no date", OfferTerm{Name: TermRecurringCharge, RecurringCharge: dec("10")}, CodeInvalidDate},
		{"negative credit", OfferTerm{Name: TermMonetaryCredit, EffectiveDate: at, Credit: dec("-1")}, CodeInvalidOfferTerm},
		{"credit too precise", OfferTerm{Name: TermMonetaryCredit, EffectiveDate: at, Credit: dec("0.00000000001")}, CodeInvalidOfferTerm},
		{"credit with discount", OfferTerm{Name: TermMonetaryCredit, EffectiveDate: at, TieredDiscount: []DiscountTier{{}}}, CodeInvalidOfferTerm},
		{"credit with charge", OfferTerm{Name: TermMonetaryCredit, EffectiveDate: at, RecurringCharge: dec("1")}, CodeInvalidOfferTerm},
		{"bad excluded id", OfferTerm{Name: TermMonetaryCredit, EffectiveDate: at, ExcludedMeterIDs: []string{"x"}}, CodeInvalidOfferTerm},
		{"commitment without steps", OfferTerm{Name: TermMonetaryCommitment, EffectiveDate: at}, CodeInvalidOfferTerm},
		{"commitment not from 0", OfferTerm{Name: TermMonetaryCommitment, EffectiveDate: at,
			TieredDiscount: []DiscountTier{{Min: dec("10"), Percent: dec("1")}}}, CodeInvalidOfferTerm},
		{"commitment step twice", OfferTerm{Name: TermMonetaryCommitment, EffectiveDate: at,
			TieredDiscount: []DiscountTier{{Min: dec("0")}, {Min: dec("0"), Percent: dec("1")}}}, CodeInvalidOfferTerm},
		{"commitment over 100%", OfferTerm{Name: TermMonetaryCommitment, EffectiveDate: at,
			TieredDiscount: []DiscountTier{{Min: dec("0"), Percent: dec("100.5")}}}, CodeInvalidOfferTerm},
		{"commitment with credit", OfferTerm{Name: TermMonetaryCommitment, EffectiveDate: at, Credit: dec("1"),
			TieredDiscount: []DiscountTier{{}}}, CodeInvalidOfferTerm},
		{"negative charge", OfferTerm{Name: TermRecurringCharge, EffectiveDate: at, RecurringCharge: dec("-10")}, CodeInvalidOfferTerm},
		{"charge with exclusions", OfferTerm{Name: TermRecurringCharge, EffectiveDate: at, ExcludedMeterIDs: []string{meterA}}, CodeInvalidOfferTerm},
	}
	for _, tt := range tests {
		if err := tt.t.Normalize(); code(err) != tt.code {
			t.Errorf("%s: %v; want %s", tt.name, err, tt.code)
		}
	}
}

func TestRateNormalize(t *testing.T) {
	at := day("2024-01-01")
	r := Rate{MeterID: strings.ToUpper(meterA), EffectiveDate: at.In(time.FixedZone("X", 3600)), IncludedQuantity: dec("50"),
		Tiers: []Tier{{Min: dec("500"), Price: dec("0.8")}, {Min: dec("0"), Price: dec("1")}, {Min: dec("200"), Price: dec("0.9")}}}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if r.MeterID != meterA || r.EffectiveDate.Location() != time.UTC || tiersString(r.Tiers) != "0:1 200:0.9 500:0.8" {
		t.Errorf("normalized %+v", r)
	}
	tier := func(min, price string) Tier { return Tier{Min: dec(min), Price: dec(price)} }
	tests := []struct {
		name string
		r    Rate
		code string
	}{
		{"bad meter", Rate{MeterID: "m", EffectiveDate: at, Tiers: []Tier{tier("0", "1")}}, CodeInvalidMeterID},
		{"no date", Rate{MeterID: meterA, Tiers: []Tier{tier("0", "1")}}, CodeInvalidDate},
		{"date before 1970", Rate{MeterID: meterA, EffectiveDate: day("1969-12-31"), Tiers: []Tier{tier("0", "1")}}, CodeInvalidDate},
		{"nanosecond date", Rate{MeterID: meterA, EffectiveDate: at.Add(1), Tiers: []Tier{tier("0", "1")}}, CodeInvalidDate},
		{"no tier", Rate{MeterID: meterA, EffectiveDate: at}, CodeInvalidTiers},
		{"not from 0", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("1", "1")}}, CodeInvalidTiers},
		{"bound twice", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("0", "1"), tier("0.0", "2")}}, CodeInvalidTiers},
		{"negative bound", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("-1", "1"), tier("0", "1")}}, CodeInvalidTiers},
		{"bound too precise", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("0", "1"), tier("0.0000000001", "1")}}, CodeInvalidTiers},
		{"negative price", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("0", "-0.01")}}, CodeInvalidPrice},
		{"price too precise", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("0", "0.12345678901")}}, CodeInvalidPrice},
		{"negative included", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("0", "1")}, IncludedQuantity: dec("-5")}, CodeInvalidQuantity},
		{"included too precise", Rate{MeterID: meterA, EffectiveDate: at, Tiers: []Tier{tier("0", "1")}, IncludedQuantity: dec("0.0000000001")}, CodeInvalidQuantity},
	}
	for _, tt := range tests {
		if err := tt.r.Normalize(); code(err) != tt.code {
			t.Errorf("%s: %v; want %s", tt.name, err, tt.code)
		}
	}
	many := Rate{MeterID: meterA, EffectiveDate: at}
	for i := range MaxTiers + 1 {
		many.Tiers = append(many.Tiers, Tier{Min: money.DecimalFromInt(int64(i)), Price: dec("1")})
	}
	if err := many.Normalize(); code(err) != CodeInvalidTiers {
		t.Errorf("too many tiers: %v", err)
	}
}

func TestMeterTextAndTags(t *testing.T) {
	mt := MeterText{MeterID: meterA, Locale: "de-de", MeterName: "Rechenstunden", MeterCategory: "Virtuelle Computer"}
	if err := mt.Normalize(); err != nil || mt.Locale != "de-DE" {
		t.Fatalf("%+v, %v", mt, err)
	}
	for name, bad := range map[string]MeterText{
		"en-US":    {MeterID: meterA, Locale: "en-us", MeterName: "n", MeterCategory: "c"},
		"locale":   {MeterID: meterA, Locale: "deutsch!", MeterName: "n", MeterCategory: "c"},
		"meter":    {MeterID: "x", Locale: "de-DE", MeterName: "n", MeterCategory: "c"},
		"no name":  {MeterID: meterA, Locale: "de-DE", MeterCategory: "c"},
		"no categ": {MeterID: meterA, Locale: "de-DE", MeterName: "n"},
	} {
		if err := bad.Normalize(); err == nil {
			t.Errorf("%s: accepted %+v", name, bad)
		}
	}
	m := Meter{MeterName: "n", MeterCategory: "c", Unit: "1", MeterTags: []string{"Third Party", "", "Third Party", " "}}
	if err := m.Normalize(meterA); err != nil || !reflect.DeepEqual(m.MeterTags, []string{"Third Party"}) {
		t.Fatalf("tags %q, %v", m.MeterTags, err)
	}
	m.MeterTags = []string{"a\nb"}
	if err := m.Normalize(meterA); code(err) != CodeInvalidProperty {
		t.Errorf("a tag with a newline: %v", err)
	}
	m.MeterTags = nil
	for i := range MaxMeterTags + 1 {
		m.MeterTags = append(m.MeterTags, strings.Repeat("t", i+1))
	}
	if err := m.Normalize(meterA); code(err) != CodeInvalidProperty {
		t.Errorf("too many tags: %v", err)
	}
}

// TestDerivedCurrency checks the conversion of a derived currency: price ×
// rate, rounded half away from zero to the stated decimals; quantities are
// not converted; a currency with its own list is not converted.
func TestDerivedCurrency(t *testing.T) {
	eur := OfferCurrency{Currency: "EUR", BaseCurrency: "USD", ExchangeRate: dec("0.92"), RoundingDecimals: 4}
	for _, tt := range []struct{ in, want string }{
		{"1", "0.92"},
		{"0.1016", "0.0935"},   // 0.093472
		{"0.00125", "0.0012"},  // 0.00115: a half, away from zero
		{"0.000125", "0.0001"}, // 0.000115
		{"0.00005", "0"},       // 0.000046
		{"6.496", "5.9763"},    // 5.97632
		{"1000010", "920009.2"},
		{"0", "0"},
	} {
		if got := eur.Convert(dec(tt.in)); got.String() != tt.want {
			t.Errorf("Convert(%s) = %s; want %s", tt.in, got, tt.want)
		}
	}
	half := OfferCurrency{Currency: "JPY", BaseCurrency: "USD", ExchangeRate: dec("150"), RoundingDecimals: 0}
	for in, want := range map[string]string{"0.003": "0", "0.01": "2", "0.0033333": "0", "0.0100000000": "2", "0.0166667": "3",
		"1.003333333": "150", "0.0033333334": "1"} {
		if got := half.Convert(dec(in)); got.String() != want {
			t.Errorf("JPY Convert(%s) = %s; want %s", in, got, want)
		}
	}
	// Ten digits × nine digits: exact before rounding (19 digits).
	exact := OfferCurrency{Currency: "GBP", BaseCurrency: "USD", ExchangeRate: dec("0.123456789"), RoundingDecimals: 10}
	if got := exact.Convert(dec("0.1234567891")); got.String() != "0.0152415788" { // 0.0152415787625361999
		t.Errorf("GBP Convert = %s; want 0.0152415788", got)
	}
	r := eur.ConvertRate(Rate{MeterID: meterA, Currency: "USD", IncludedQuantity: dec("50"),
		Tiers: []Tier{{Min: dec("0"), Price: dec("1")}, {Min: dec("200"), Price: dec("0.9")}}})
	if r.Currency != "EUR" || tiersString(r.Tiers) != "0:0.92 200:0.828" || r.IncludedQuantity.String() != "50" {
		t.Errorf("ConvertRate = %+v", r)
	}
	term := eur.ConvertTerm(OfferTerm{Name: TermMonetaryCommitment, Currency: "USD",
		TieredDiscount: []DiscountTier{{Min: dec("0"), Percent: dec("0")}, {Min: dec("1000"), Percent: dec("5")}}})
	if term.Currency != "EUR" || term.TieredDiscount[1].Min.String() != "920" || term.TieredDiscount[1].Percent.String() != "5" {
		t.Errorf("ConvertTerm = %+v", term)
	}
	credit := eur.ConvertTerm(OfferTerm{Name: TermMonetaryCredit, Credit: dec("150.555")})
	if credit.Credit.String() != "138.5106" {
		t.Errorf("credit = %s; want 138.5106", credit.Credit)
	}
	own := OfferCurrency{Currency: "USD"}
	if got := own.Convert(dec("0.12345")); got.String() != "0.12345" {
		t.Errorf("own list converted: %s", got)
	}
}

// TestEffectiveDating checks the lookups before, at and after a change.
func TestEffectiveDating(t *testing.T) {
	v1 := Rate{MeterID: meterA, EffectiveDate: day("2024-01-01"), Tiers: []Tier{{Min: dec("0"), Price: dec("1")}}}
	v2 := Rate{MeterID: meterA, EffectiveDate: day("2024-03-15"), Tiers: []Tier{{Min: dec("0"), Price: dec("0.9")}}}
	v3 := Rate{MeterID: meterA, EffectiveDate: day("2024-06-01"), Tiers: []Tier{{Min: dec("0"), Price: dec("0.8")}}}
	versions := []Rate{v3, v1, v2}
	for _, tt := range []struct {
		at   time.Time
		want string
	}{
		{day("2023-12-31"), ""},
		{day("2024-01-01"), "0:1"},
		{day("2024-03-15").Add(-time.Microsecond), "0:1"},
		{day("2024-03-15"), "0:0.9"},
		{day("2024-05-31"), "0:0.9"},
		{day("2024-06-01"), "0:0.8"},
		{day("2030-01-01"), "0:0.8"},
	} {
		r, ok := RateAt(versions, tt.at)
		if got := tiersString(r.Tiers); got != tt.want || ok != (tt.want != "") {
			t.Errorf("RateAt(%s) = %q, %v; want %q", tt.at, got, ok, tt.want)
		}
	}
	dates := func(rs []Rate) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.EffectiveDate.Format(time.DateOnly))
		}
		return strings.Join(s, ",")
	}
	for _, tt := range []struct {
		start, end time.Time
		want       string
	}{
		{day("2023-01-01"), day("2024-01-01"), ""},
		{day("2023-01-01"), day("2024-01-02"), "2024-01-01"},
		{day("2024-03-01"), day("2024-04-01"), "2024-01-01,2024-03-15"},
		{day("2024-03-15"), day("2024-04-01"), "2024-03-15"},
		{day("2024-03-16"), day("2024-06-01"), "2024-03-15"},
		{day("2024-03-16"), day("2024-06-02"), "2024-03-15,2024-06-01"},
		{day("2023-01-01"), day("2025-01-01"), "2024-01-01,2024-03-15,2024-06-01"},
		{day("2025-01-01"), day("2025-02-01"), "2024-06-01"},
	} {
		if got := dates(RatesOverlapping(versions, tt.start, tt.end)); got != tt.want {
			t.Errorf("RatesOverlapping(%s, %s) = %s; want %s", tt.start.Format(time.DateOnly), tt.end.Format(time.DateOnly), got, tt.want)
		}
	}

	terms := []OfferTerm{
		{Name: TermRecurringCharge, EffectiveDate: day("2024-01-01"), RecurringCharge: dec("10")},
		{Name: TermRecurringCharge, EffectiveDate: day("2024-07-01"), RecurringCharge: dec("12")},
		{Name: TermMonetaryCredit, EffectiveDate: day("2024-03-01"), Credit: dec("100")},
	}
	at := TermsAt(terms, day("2024-02-01"))
	if len(at) != 1 || at[0].RecurringCharge.String() != "10" {
		t.Errorf("TermsAt(Feb) = %+v", at)
	}
	at = TermsAt(terms, day("2024-08-01"))
	if len(at) != 2 || at[0].Name != TermMonetaryCredit || at[1].RecurringCharge.String() != "12" {
		t.Errorf("TermsAt(Aug) = %+v", at)
	}
	over := TermsOverlapping(terms, day("2024-06-01"), day("2024-08-01"))
	if len(over) != 3 || over[0].Name != TermMonetaryCredit || over[2].RecurringCharge.String() != "12" {
		t.Errorf("TermsOverlapping = %+v", over)
	}
	if over := TermsOverlapping(terms, day("2024-07-01"), day("2024-08-01")); len(over) != 2 {
		t.Errorf("TermsOverlapping from the change = %+v", over)
	}
}
