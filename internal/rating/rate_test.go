package rating

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Test helpers: decimals, quantities and times from short literals.

func dec(t testing.TB, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseDecimal(s)
	if err != nil {
		t.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

func qty(t testing.TB, s string) money.Quantity {
	t.Helper()
	q, err := money.ParseQuantity(s)
	if err != nil {
		t.Fatalf("ParseQuantity(%q): %v", s, err)
	}
	return q
}

var jan = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// at returns the hour h of day d of January 2026 (d from 1).
func at(d, h int) time.Time { return time.Date(2026, 1, d, h, 0, 0, 0, time.UTC) }

const (
	meterA = "0a000000-0000-4000-8000-00000000000a"
	meterB = "0b000000-0000-4000-8000-00000000000b"
	meterC = "0c000000-0000-4000-8000-00000000000c"
)

// tiers builds tiers from "min:price" pairs.
func tiers(t testing.TB, pairs ...string) []Tier {
	t.Helper()
	var out []Tier
	for _, p := range pairs {
		minS, priceS, ok := strings.Cut(p, ":")
		if !ok {
			t.Fatalf("bad tier %q", p)
		}
		out = append(out, Tier{Min: dec(t, minS), Price: dec(t, priceS)})
	}
	return out
}

func rate(t testing.TB, eff time.Time, included string, pairs ...string) RateVersion {
	t.Helper()
	return RateVersion{Effective: eff, IncludedQuantity: dec(t, included), Tiers: tiers(t, pairs...)}
}

func use(t testing.TB, meter string, when time.Time, q string) Usage {
	t.Helper()
	return Usage{MeterID: meter, Time: when, Quantity: qty(t, q)}
}

func usd() money.Currency { return money.MustParseCurrency("USD") }

func januaryInput(cur string, meters []Meter, usage ...Usage) Input {
	return Input{Start: jan, End: jan.AddDate(0, 1, 0), Currency: money.MustParseCurrency(cur), Meters: meters, Usage: usage}
}

// wantLine is the expected shape of a usage line.
type wantLine struct {
	meter    string
	eff      time.Time
	quantity string
	included string
	tiers    []string // "from-to:quantity×price=amount"
	exact    string
	amount   string
}

func checkUsageLine(t *testing.T, got Line, want wantLine) {
	t.Helper()
	if got.Kind != LineUsage || got.MeterID != want.meter || !got.Effective.Equal(want.eff) {
		t.Errorf("line %s/%s/%s, want Usage/%s/%s", got.Kind, got.MeterID, got.Effective, want.meter, want.eff)
	}
	if got.Quantity.String() != want.quantity || got.IncludedQuantityUsed.String() != want.included {
		t.Errorf("%s: quantity %s included %s, want %s included %s", want.meter,
			got.Quantity, got.IncludedQuantityUsed, want.quantity, want.included)
	}
	var bands []string
	for _, b := range got.Tiers {
		if b.Quantity.Cmp(b.To.Sub(b.From)) != 0 {
			t.Errorf("band quantity %s != %s - %s", b.Quantity, b.To, b.From)
		}
		if b.From.Cmp(b.TierMin) < 0 {
			t.Errorf("band from %s below its tier %s", b.From, b.TierMin)
		}
		bands = append(bands, b.From.String()+"-"+b.To.String()+":"+b.Quantity.String()+"×"+b.UnitPrice.String()+"="+b.Amount.String())
	}
	if !reflect.DeepEqual(bands, want.tiers) {
		t.Errorf("%s: tiers\n got %q\nwant %q", want.meter, bands, want.tiers)
	}
	if got.Exact.String() != want.exact || got.Amount.String() != want.amount {
		t.Errorf("%s: exact %s amount %s, want %s / %s", want.meter, got.Exact, got.Amount, want.exact, want.amount)
	}
}

func mustRate(t *testing.T, in Input) *Charges {
	t.Helper()
	c, err := Rate(in)
	if err != nil {
		t.Fatalf("Rate: %v", err)
	}
	checkTotals(t, c)
	return c
}

// checkTotals asserts that the totals are the exact sums of the rounded
// lines and every line is its exact amount rounded once.
func checkTotals(t testing.TB, c *Charges) {
	t.Helper()
	if msg := totalsProblem(c); msg != "" {
		t.Error(msg)
	}
}

func totalsProblem(c *Charges) string {
	usage, total := money.Zero, money.Zero
	for _, l := range c.Lines {
		if l.Amount.Cmp(c.Currency.Round(l.Exact)) != 0 {
			return fmt.Sprintf("line %s %s: amount %s is not exact %s rounded", l.Kind, l.MeterID, l.Amount, l.Exact)
		}
		if l.Kind == LineUsage {
			usage = usage.Add(l.Amount)
		}
		total = total.Add(l.Amount)
	}
	if c.UsageTotal.Cmp(usage) != 0 || c.Total.Cmp(total) != 0 {
		return fmt.Sprintf("totals %s/%s, want Σ rounded lines %s/%s", c.UsageTotal, c.Total, usage, total)
	}
	return ""
}

func TestTiersAndIncludedQuantity(t *testing.T) {
	tiered := []string{"0:1.00", "200:0.90", "500:0.80"}
	tests := []struct {
		name  string
		usage []Usage
		want  wantLine
	}{
		{
			// The brief's example: included 50, 800 used → 750 billable
			// → 200×1.00 + 300×0.90 + 250×0.80 = 200 + 270 + 200 = 670.00.
			name:  "one row",
			usage: []Usage{use(t, meterA, at(3, 0), "800")},
			want: wantLine{meterA, jan, "800", "50",
				[]string{"0-200:200×1=200", "200-500:300×0.9=270", "500-750:250×0.8=200"}, "670", "670"},
		},
		{
			// Same 800 in four rows 30 + 100 + 400 + 270 on four days:
			// positions [0,30) all included; [30,130) → 20 included, 80
			// billable; and so on. The period total is what counts: 670.00.
			name: "rows across tiers and included",
			usage: []Usage{
				use(t, meterA, at(4, 0), "270"), // input order does not matter
				use(t, meterA, at(1, 0), "30"),
				use(t, meterA, at(2, 5), "100"),
				use(t, meterA, at(3, 23), "400"),
			},
			want: wantLine{meterA, jan, "800", "50",
				[]string{"0-200:200×1=200", "200-500:300×0.9=270", "500-750:250×0.8=200"}, "670", "670"},
		},
		{
			// 20 used, 50 included: nothing billable, 20 of the included
			// quantity used.
			name:  "below included",
			usage: []Usage{use(t, meterA, at(1, 0), "12.5"), use(t, meterA, at(1, 1), "7.5")},
			want:  wantLine{meterA, jan, "20", "20", nil, "0", "0"},
		},
		{
			// Exactly the included quantity plus the first tier: 250 → 200
			// billable, all at 1.00 = 200.00; the band ends on the tier bound.
			name:  "up to a tier bound",
			usage: []Usage{use(t, meterA, at(5, 0), "250")},
			want:  wantLine{meterA, jan, "250", "50", []string{"0-200:200×1=200"}, "200", "200"},
		},
		{
			// Fractional quantities: 50.000000001 + 199.999999999 = 250 →
			// as above; 0.000000001 crosses nothing: still 200.00.
			name: "nanounits",
			usage: []Usage{use(t, meterA, at(5, 0), "50.000000001"),
				use(t, meterA, at(5, 1), "199.999999999")},
			want: wantLine{meterA, jan, "250", "50", []string{"0-200:200×1=200"}, "200", "200"},
		},
		{
			// 250.5 → 200.5 billable: 200×1.00 + 0.5×0.90 = 200.45.
			name:  "half a unit into the second tier",
			usage: []Usage{use(t, meterA, at(5, 0), "250.5")},
			want: wantLine{meterA, jan, "250.5", "50",
				[]string{"0-200:200×1=200", "200-200.5:0.5×0.9=0.45"}, "200.45", "200.45"},
		},
		{
			// Rows with zero quantity still make a line, of zero.
			name:  "zero usage",
			usage: []Usage{use(t, meterA, at(5, 0), "0")},
			want:  wantLine{meterA, jan, "0", "0", nil, "0", "0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meters := []Meter{{ID: meterA, Rates: []RateVersion{rate(t, jan, "50", tiered...)}}}
			c := mustRate(t, januaryInput("USD", meters, tt.usage...))
			if len(c.Lines) != 1 {
				t.Fatalf("%d lines, want 1: %+v", len(c.Lines), c.Lines)
			}
			checkUsageLine(t, c.Lines[0], tt.want)
			if c.Total.String() != tt.want.amount {
				t.Errorf("total %s, want %s", c.Total, tt.want.amount)
			}
		})
	}
}

func TestPriceChangeInPeriod(t *testing.T) {
	mid := at(16, 0)
	t.Run("cumulative position continues", func(t *testing.T) {
		// v1 (from 1 Jan): included 10, {0: 2.00, 100: 1.00}
		// v2 (from 16 Jan): included 10, {0: 1.50, 100: 0.50}
		// Usage before the change: 60 + 30 = 90 at positions [0, 90):
		//   10 included, billable [0, 80) × 2.00 = 160.00.
		// After: 50 + 40 = 90 at positions [90, 180): already past the
		//   included 10, billable [80, 170): [80, 100) 20 × 1.50 = 30.00
		//   and [100, 170) 70 × 0.50 = 35.00 → 65.00.
		// Total 225.00.
		meters := []Meter{{ID: meterA, Rates: []RateVersion{
			rate(t, mid, "10", "0:1.50", "100:0.50"), // any order
			rate(t, jan, "10", "0:2.00", "100:1.00"),
		}}}
		c := mustRate(t, januaryInput("USD", meters,
			use(t, meterA, at(20, 0), "50"),
			use(t, meterA, at(5, 0), "60"),
			use(t, meterA, at(25, 0), "40"),
			use(t, meterA, at(15, 23), "30"), // last hour of v1
		))
		if len(c.Lines) != 2 {
			t.Fatalf("%d lines, want 2", len(c.Lines))
		}
		checkUsageLine(t, c.Lines[0], wantLine{meterA, jan, "90", "10", []string{"0-80:80×2=160"}, "160", "160"})
		checkUsageLine(t, c.Lines[1], wantLine{meterA, mid, "90", "0",
			[]string{"80-100:20×1.5=30", "100-170:70×0.5=35"}, "65", "65"})
		if c.Total.String() != "225" {
			t.Errorf("total %s, want 225", c.Total)
		}
	})
	t.Run("included quantity across versions", func(t *testing.T) {
		// v1: included 50, {0: 1}; v2 (from 16 Jan): included 100, {0: 2}.
		// v1 usage 80 at [0, 80): 50 included, billable [0, 30) × 1 = 30.
		// v2 usage 70 at [80, 150): v2's own included 100 covers [80, 100)
		//   → 20 included; billable [0, 50) × 2 = 100.
		// Total 130.
		meters := []Meter{{ID: meterA, Rates: []RateVersion{
			rate(t, jan, "50", "0:1"), rate(t, mid, "100", "0:2"),
		}}}
		c := mustRate(t, januaryInput("USD", meters,
			use(t, meterA, at(2, 0), "80"), use(t, meterA, at(16, 0), "70")))
		checkUsageLine(t, c.Lines[0], wantLine{meterA, jan, "80", "50", []string{"0-30:30×1=30"}, "30", "30"})
		checkUsageLine(t, c.Lines[1], wantLine{meterA, mid, "70", "20", []string{"0-50:50×2=100"}, "100", "100"})
		if c.Total.String() != "130" {
			t.Errorf("total %s, want 130", c.Total)
		}
	})
	t.Run("version from before the period, change without usage", func(t *testing.T) {
		// v0 from 2025, v1 from 10 Jan (no usage under it), v2 from 20 Jan.
		// Usage 5 Jan: 10 at {0: 3} → 30; 25 Jan: 10 at {0: 1} → 10.
		// The unused v1 makes no line.
		meters := []Meter{{ID: meterA, Rates: []RateVersion{
			rate(t, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "0", "0:3"),
			rate(t, at(10, 0), "0", "0:2"),
			rate(t, at(20, 0), "0", "0:1"),
		}}}
		c := mustRate(t, januaryInput("USD", meters, use(t, meterA, at(5, 0), "10"), use(t, meterA, at(25, 0), "10")))
		if len(c.Lines) != 2 {
			t.Fatalf("%d lines, want 2", len(c.Lines))
		}
		checkUsageLine(t, c.Lines[0], wantLine{meterA, time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), "10", "0",
			[]string{"0-10:10×3=30"}, "30", "30"})
		checkUsageLine(t, c.Lines[1], wantLine{meterA, at(20, 0), "10", "0", []string{"10-20:10×1=10"}, "10", "10"})
	})
}

func TestNoRate(t *testing.T) {
	meters := []Meter{
		{ID: meterA, Rates: []RateVersion{rate(t, at(10, 0), "0", "0:1")}},
		{ID: meterB},
	}
	tests := []struct {
		name, meter, msg string
		usage            Usage
	}{
		{"before the first rate", meterA, "before its first rate", use(t, meterA, at(9, 23), "1")},
		{"meter without rates", meterB, "no rate", use(t, meterB, at(12, 0), "1")},
		{"unknown meter", meterC, "no rate", use(t, meterC, at(12, 0), "1")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A valid row first, so that the error is not about the first row.
			_, err := Rate(januaryInput("USD", meters, use(t, meterA, at(11, 0), "5"), tt.usage))
			if !errors.Is(err, ErrNoRate) {
				t.Fatalf("error %v, want ErrNoRate", err)
			}
			e := billing.AsError(err)
			if e == nil || e.Target != tt.meter || !strings.Contains(e.Message, tt.meter) ||
				!strings.Contains(e.Message, tt.msg) || e.Code != "NoRateForUsage" {
				t.Errorf("error %+v does not name meter %s (%q)", e, tt.meter, tt.msg)
			}
		})
	}
	// Zero usage before the first rate is still usage without a price.
	if _, err := Rate(januaryInput("USD", meters, use(t, meterA, at(1, 0), "0"))); !errors.Is(err, ErrNoRate) {
		t.Errorf("zero usage before the first rate: %v", err)
	}
}

func TestRounding(t *testing.T) {
	tests := []struct {
		name, cur, price, quantity, exact, amount string
	}{
		// 1 × 0.125 = 0.125: exactly half a cent → away from zero 0.13.
		{"USD half cent", "USD", "0.125", "1", "0.125", "0.13"},
		// 0.1249999999 → 0.12.
		{"USD below half", "USD", "0.1249999999", "1", "0.1249999999", "0.12"},
		// 1 × 0.005 = 0.005 → 0.01.
		{"USD half of the smallest cent", "USD", "0.005", "1", "0.005", "0.01"},
		// 5 × 0.5 = 2.5 yen → 3 (JPY has no minor unit).
		{"JPY half yen", "JPY", "0.5", "5", "2.5", "3"},
		// 7 × 0.5 = 3.5 → 4 (not banker's 4… and 4.5 → 5 below).
		{"JPY 3.5", "JPY", "0.5", "7", "3.5", "4"},
		{"JPY 4.5", "JPY", "0.5", "9", "4.5", "5"},
		// 1234 × 0.9999 = 1233.8766 yen → 1234.
		{"JPY many digits", "JPY", "0.9999", "1234", "1233.8766", "1234"},
		// 3 × 0.0125 = 0.0375 KWD → 0.038 (3 minor digits, half up).
		{"KWD half fils", "KWD", "0.0125", "3", "0.0375", "0.038"},
		// 0.5 × 0.001 = 0.0005 KWD → 0.001.
		{"KWD smallest", "KWD", "0.001", "0.5", "0.0005", "0.001"},
		// 1.3 × 0.00045 = 0.000585 → 0.001; 0.4 × 0.001 = 0.0004 → 0.
		{"KWD rounds up", "KWD", "0.00045", "1.3", "0.000585", "0.001"},
		{"KWD rounds down", "KWD", "0.001", "0.4", "0.0004", "0"},
		// CLF has 4 minor digits: 0.00005 → 0.0001.
		{"CLF", "CLF", "0.0001", "0.5", "0.00005", "0.0001"},
		// The finest price (10 digits) times the finest quantity (9
		// digits) is exact in 19 digits: 1e-10 × 1e-9 = 1e-19.
		{"finest product", "USD", "0.0000000001", "0.000000001", "0.0000000000000000001", "0"},
		// A price written with many trailing zeros has 0 significant
		// fractional digits and is accepted.
		{"trailing zeros", "USD", "1.00000000000000000", "0.123456789", "0.123456789", "0.12"},
		// Large quantity and price stay exact:
		// 9223372036.854775807 × 99999.9999999999 = 922337203685476.658…
		{"large", "USD", "99999.9999999999", "9223372036.854775807",
			"922337203685476.6583627963145224193", "922337203685476.66"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			meters := []Meter{{ID: meterA, Rates: []RateVersion{rate(t, jan, "0", "0:"+tt.price)}}}
			c := mustRate(t, januaryInput(tt.cur, meters, use(t, meterA, at(2, 0), tt.quantity)))
			l := c.Lines[0]
			if l.Exact.String() != tt.exact || l.Amount.String() != tt.amount {
				t.Errorf("exact %s amount %s, want %s / %s", l.Exact, l.Amount, tt.exact, tt.amount)
			}
		})
	}
}

// TestTotalsAreSumsOfRoundedLines: three meters each costing 0.005 round to
// 0.01 each; the total is 0.03, the sum of the rounded lines, not 0.02 (the
// rounded exact sum 0.015).
func TestTotalsAreSumsOfRoundedLines(t *testing.T) {
	var meters []Meter
	var usage []Usage
	for _, id := range []string{meterA, meterB, meterC} {
		meters = append(meters, Meter{ID: id, Rates: []RateVersion{rate(t, jan, "0", "0:0.005")}})
		usage = append(usage, use(t, id, at(3, 0), "1"))
	}
	c := mustRate(t, januaryInput("USD", meters, usage...))
	if len(c.Lines) != 3 || c.Total.String() != "0.03" || c.UsageTotal.String() != "0.03" {
		t.Errorf("%d lines, total %s usage %s; want 3, 0.03, 0.03", len(c.Lines), c.Total, c.UsageTotal)
	}
	for i, id := range []string{meterA, meterB, meterC} {
		if c.Lines[i].MeterID != id {
			t.Errorf("line %d is meter %s, want %s (sorted by meter id)", i, c.Lines[i].MeterID, id)
		}
	}
}

// offerInput: meter A costs 670.00 (the brief's example), meter B 500.00
// (500 × 1.00), in January 2026, with the given terms.
func offerInput(t *testing.T, terms ...Term) Input {
	in := januaryInput("USD", []Meter{
		{ID: meterA, Rates: []RateVersion{rate(t, jan, "50", "0:1.00", "200:0.90", "500:0.80")}},
		{ID: meterB, Rates: []RateVersion{rate(t, jan, "0", "0:1.00")}},
	}, use(t, meterA, at(2, 0), "800"), use(t, meterB, at(2, 0), "500"))
	in.Terms = terms
	return in
}

func discounts(t *testing.T, pairs ...string) []DiscountTier {
	var out []DiscountTier
	for _, tier := range tiers(t, pairs...) {
		out = append(out, DiscountTier{Min: tier.Min, Percent: tier.Price})
	}
	return out
}

type wantTerm struct {
	kind   LineKind
	spend  string
	exact  string
	amount string
}

func TestOfferTerms(t *testing.T) {
	commitment := discounts(t, "0:0", "100:5", "1000:10")
	tests := []struct {
		name  string
		terms []Term
		want  []wantTerm
		total string
	}{
		{
			name:  "none",
			total: "1170", // 670 + 500
		},
		{
			// A fixed 10 per period; 9.999 rounds to 10.00.
			name:  "recurring charge",
			terms: []Term{{Kind: RecurringCharge, Effective: jan, Amount: dec(t, "9.999")}},
			want:  []wantTerm{{LineRecurringCharge, "0", "9.999", "10"}},
			total: "1180",
		},
		{
			// Eligible spend 1170: [0,100) at 0 % = 0; [100,1000) 900 × 5 %
			// = 45; [1000,1170) 170 × 10 % = 17 → discount 62.00.
			name:  "commitment",
			terms: []Term{{Kind: MonetaryCommitment, Effective: jan, TieredDiscount: commitment}},
			want:  []wantTerm{{LineMonetaryCommitment, "1170", "-62", "-62"}},
			total: "1108",
		},
		{
			// Meter B excluded: spend 670 → [100,670) 570 × 5 % = 28.50.
			name: "commitment excluding a meter",
			terms: []Term{{Kind: MonetaryCommitment, Effective: jan, TieredDiscount: commitment,
				ExcludedMeterIDs: []string{meterB}}},
			want:  []wantTerm{{LineMonetaryCommitment, "670", "-28.5", "-28.5"}},
			total: "1141.5",
		},
		{
			// A discount that does not start at 0: spend 1170 above 1000
			// only, 170 × 2.5 % = 4.25.
			name:  "commitment starting above zero",
			terms: []Term{{Kind: MonetaryCommitment, Effective: jan, TieredDiscount: discounts(t, "1000:2.5")}},
			want:  []wantTerm{{LineMonetaryCommitment, "1170", "-4.25", "-4.25"}},
			total: "1165.75",
		},
		{
			// 3.333 % of 1170 = 38.9961 → 39.00 (rounded once on the line).
			name:  "commitment rounding",
			terms: []Term{{Kind: MonetaryCommitment, Effective: jan, TieredDiscount: discounts(t, "0:3.333")}},
			want:  []wantTerm{{LineMonetaryCommitment, "1170", "-38.9961", "-39"}},
			total: "1131",
		},
		{
			// Credit 150 of spend 1170 → -150.
			name:  "credit",
			terms: []Term{{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "150")}},
			want:  []wantTerm{{LineMonetaryCredit, "1170", "-150", "-150"}},
			total: "1020",
		},
		{
			// Credit 5000 exceeds the spend 1170: credit 1170, total 0 —
			// plus the recurring charge, which the credit does not cover.
			name: "credit larger than spend",
			terms: []Term{{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "5000")},
				{Kind: RecurringCharge, Effective: jan, Amount: dec(t, "10")}},
			want:  []wantTerm{{LineRecurringCharge, "0", "10", "10"}, {LineMonetaryCredit, "1170", "-1170", "-1170"}},
			total: "10",
		},
		{
			// Credit excludes meter A: eligible 500, credit 1000 → -500;
			// the customer still pays meter A's 670.
			name:  "credit excluding a meter",
			terms: []Term{{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "1000"), ExcludedMeterIDs: []string{meterA}}},
			want:  []wantTerm{{LineMonetaryCredit, "500", "-500", "-500"}},
			total: "670",
		},
		{
			// Commitment 62.00 first, then credit 150 on 1170 - 62 = 1108
			// → 1170 - 62 - 150 = 958.
			name: "commitment then credit",
			terms: []Term{{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "150")},
				{Kind: MonetaryCommitment, Effective: jan, TieredDiscount: commitment}},
			want: []wantTerm{{LineMonetaryCommitment, "1170", "-62", "-62"},
				{LineMonetaryCredit, "1170", "-150", "-150"}},
			total: "958",
		},
		{
			// Credit (excluding B) after a commitment on both meters: the
			// credit covers at most 670 - 62 = 608 (the whole discount is
			// deducted): 1170 - 62 - 608 = 500, B's price.
			name: "credit capped by spend after discount",
			terms: []Term{{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "1000"), ExcludedMeterIDs: []string{meterB}},
				{Kind: MonetaryCommitment, Effective: jan, TieredDiscount: commitment}},
			want: []wantTerm{{LineMonetaryCommitment, "1170", "-62", "-62"},
				{LineMonetaryCredit, "670", "-608", "-608"}},
			total: "500",
		},
		{
			// A credit of 0.005 rounds half away from zero: -0.01.
			name:  "credit rounding",
			terms: []Term{{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "0.005")}},
			want:  []wantTerm{{LineMonetaryCredit, "1170", "-0.005", "-0.01"}},
			total: "1169.99",
		},
		{
			// Versions: credit 100 from Dec 2025, 200 from 1 Jan, 300 from
			// 15 Jan. The one in force at the period start (1 Jan) governs.
			name: "term in force at the period start",
			terms: []Term{
				{Kind: MonetaryCredit, Effective: at(15, 0), Credit: dec(t, "300")},
				{Kind: MonetaryCredit, Effective: jan.AddDate(0, -1, 0), Credit: dec(t, "100")},
				{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "200")},
			},
			want:  []wantTerm{{LineMonetaryCredit, "1170", "-200", "-200"}},
			total: "970",
		},
		{
			// A term effective only inside the period applies from the next.
			name:  "term effective later",
			terms: []Term{{Kind: RecurringCharge, Effective: at(2, 0), Amount: dec(t, "10")}},
			total: "1170",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustRate(t, offerInput(t, tt.terms...))
			if len(c.Lines) != 2+len(tt.want) {
				t.Fatalf("%d lines, want %d: %+v", len(c.Lines), 2+len(tt.want), c.Lines)
			}
			if c.Lines[0].Amount.String() != "670" || c.Lines[1].Amount.String() != "500" || c.UsageTotal.String() != "1170" {
				t.Fatalf("usage lines %s + %s = %s, want 670 + 500", c.Lines[0].Amount, c.Lines[1].Amount, c.UsageTotal)
			}
			for i, w := range tt.want {
				l := c.Lines[2+i]
				if l.Kind != w.kind || l.EligibleSpend.String() != w.spend || l.Exact.String() != w.exact || l.Amount.String() != w.amount {
					t.Errorf("line %d: %s spend %s exact %s amount %s, want %s %s %s %s",
						2+i, l.Kind, l.EligibleSpend, l.Exact, l.Amount, w.kind, w.spend, w.exact, w.amount)
				}
			}
			if c.Total.String() != tt.total {
				t.Errorf("total %s, want %s", c.Total, tt.total)
			}
		})
	}
}

func TestCommitmentBreakdown(t *testing.T) {
	c := mustRate(t, offerInput(t, Term{Kind: MonetaryCommitment, Effective: jan,
		TieredDiscount: discounts(t, "0:0", "100:5", "1000:10")}))
	var got []string
	for _, d := range c.Lines[2].Discounts {
		got = append(got, d.From.String()+"-"+d.To.String()+":"+d.Spend.String()+"×"+d.Percent.String()+"%="+d.Amount.String())
	}
	// 1170 of spend: 100 at 0 %, 900 at 5 % (45), 170 at 10 % (17).
	want := []string{"0-100:100×0%=0", "100-1000:900×5%=-45", "1000-1170:170×10%=-17"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("discounts\n got %q\nwant %q", got, want)
	}
}

func TestInvalidInput(t *testing.T) {
	good := func() Input {
		return januaryInput("USD", []Meter{{ID: meterA, Rates: []RateVersion{rate(t, jan, "0", "0:1")}}},
			use(t, meterA, at(2, 0), "1"))
	}
	tests := []struct {
		name   string
		modify func(*Input)
		want   error
		code   string
	}{
		{"no currency", func(in *Input) { in.Currency = money.Currency{} }, ErrInvalidInput, "InvalidCurrency"},
		{"empty period", func(in *Input) { in.End = in.Start }, ErrInvalidInput, "InvalidRatingPeriod"},
		{"reversed period", func(in *Input) { in.Start, in.End = in.End, in.Start }, ErrInvalidInput, "InvalidRatingPeriod"},
		{"usage at the period end", func(in *Input) { in.Usage[0].Time = in.End }, ErrInvalidInput, "UsageOutsidePeriod"},
		{"usage before the period", func(in *Input) { in.Usage[0].Time = in.Start.Add(-time.Hour) }, ErrInvalidInput, "UsageOutsidePeriod"},
		{"negative quantity", func(in *Input) { in.Usage[0].Quantity = -1 }, ErrInvalidInput, "InvalidQuantity"},
		{"duplicate meter", func(in *Input) { in.Meters = append(in.Meters, in.Meters[0]) }, ErrInvalidInput, "DuplicateMeter"},
		{"price with 11 digits", func(in *Input) { in.Meters[0].Rates[0].Tiers[0].Price = dec(t, "0.00000000001") }, ErrInvalidRate, "InvalidRate"},
		{"negative price", func(in *Input) { in.Meters[0].Rates[0].Tiers[0].Price = dec(t, "-1") }, ErrInvalidRate, "InvalidRate"},
		{"included with 10 digits", func(in *Input) { in.Meters[0].Rates[0].IncludedQuantity = dec(t, "0.0000000001") }, ErrInvalidRate, "InvalidRate"},
		{"negative included", func(in *Input) { in.Meters[0].Rates[0].IncludedQuantity = dec(t, "-1") }, ErrInvalidRate, "InvalidRate"},
		{"no tiers", func(in *Input) { in.Meters[0].Rates[0].Tiers = nil }, ErrInvalidRate, "InvalidRate"},
		{"first tier not 0", func(in *Input) { in.Meters[0].Rates[0].Tiers = tiers(t, "1:1") }, ErrInvalidRate, "InvalidRate"},
		{"tiers not increasing", func(in *Input) { in.Meters[0].Rates[0].Tiers = tiers(t, "0:1", "5:1", "5:2") }, ErrInvalidRate, "InvalidRate"},
		{"tier bound with 10 digits", func(in *Input) { in.Meters[0].Rates[0].Tiers = tiers(t, "0:1", "0.0000000001:1") }, ErrInvalidRate, "InvalidRate"},
		{"two rates at once", func(in *Input) { in.Meters[0].Rates = append(in.Meters[0].Rates, in.Meters[0].Rates[0]) }, ErrInvalidRate, "InvalidRate"},
		{"negative credit", func(in *Input) { in.Terms = []Term{{Kind: MonetaryCredit, Credit: dec(t, "-1")}} }, ErrInvalidTerm, "InvalidOfferTerm"},
		{"negative recurring charge", func(in *Input) { in.Terms = []Term{{Kind: RecurringCharge, Amount: dec(t, "-1")}} }, ErrInvalidTerm, "InvalidOfferTerm"},
		{"discount over 100 %", func(in *Input) {
			in.Terms = []Term{{Kind: MonetaryCommitment, TieredDiscount: discounts(t, "0:100.1")}}
		}, ErrInvalidTerm, "InvalidOfferTerm"},
		{"discount percent with 9 digits", func(in *Input) {
			in.Terms = []Term{{Kind: MonetaryCommitment, TieredDiscount: discounts(t, "0:1.000000001")}}
		}, ErrInvalidTerm, "InvalidOfferTerm"},
		{"discount steps not increasing", func(in *Input) {
			in.Terms = []Term{{Kind: MonetaryCommitment, TieredDiscount: discounts(t, "10:1", "10:2")}}
		}, ErrInvalidTerm, "InvalidOfferTerm"},
		{"unknown term", func(in *Input) { in.Terms = []Term{{Kind: "Monetary Gift"}} }, ErrInvalidTerm, "InvalidOfferTerm"},
		{"two terms of a kind at once", func(in *Input) {
			in.Terms = []Term{{Kind: RecurringCharge, Effective: jan}, {Kind: RecurringCharge, Effective: jan}}
		}, ErrInvalidTerm, "InvalidOfferTerm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := good()
			tt.modify(&in)
			_, err := Rate(in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if e := billing.AsError(err); e == nil || e.Code != tt.code || e.Message == "" {
				t.Errorf("error %+v, want code %s with a message", e, tt.code)
			}
		})
	}
	if _, err := Rate(good()); err != nil {
		t.Fatalf("the good input fails: %v", err)
	}
}

// TestOrderDoesNotMatter: shuffling the rows (and the meters) gives the
// same charges, line for line.
func TestOrderDoesNotMatter(t *testing.T) {
	in := offerInput(t, Term{Kind: MonetaryCredit, Effective: jan, Credit: dec(t, "100")})
	in.Meters[0].Rates = append(in.Meters[0].Rates, rate(t, at(15, 0), "0", "0:0.7"))
	in.Usage = nil
	for d := 1; d <= 31; d++ {
		for h := 0; h < 24; h += 5 {
			in.Usage = append(in.Usage, use(t, meterA, at(d, h), "1.5"), use(t, meterB, at(d, h), "0.25"),
				use(t, meterA, at(d, h), "0.5"))
		}
	}
	want := mustRate(t, in)
	r := rand.New(rand.NewPCG(1, 2))
	for range 5 {
		r.Shuffle(len(in.Usage), func(i, j int) { in.Usage[i], in.Usage[j] = in.Usage[j], in.Usage[i] })
		r.Shuffle(len(in.Meters), func(i, j int) { in.Meters[i], in.Meters[j] = in.Meters[j], in.Meters[i] })
		got := mustRate(t, in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffled input rates differently:\n got %+v\nwant %+v", got, want)
		}
	}
}

// TestInputNotModified: Rate sorts copies, never the caller's slices.
func TestInputNotModified(t *testing.T) {
	later, earlier := rate(t, at(15, 0), "0", "0:2"), rate(t, jan, "0", "0:1")
	in := januaryInput("USD", []Meter{{ID: meterA, Rates: []RateVersion{later, earlier}}}, use(t, meterA, at(20, 0), "1"))
	mustRate(t, in)
	if !in.Meters[0].Rates[0].Effective.Equal(later.Effective) {
		t.Error("Rate reordered the caller's rates")
	}
}
