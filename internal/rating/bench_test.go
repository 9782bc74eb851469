package rating

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

const benchRows = 1_000_000

// benchInput is one subscription-month (March 2026, 744 hours) of 1,000,000
// usage rows: 100 meters, each hour 13 or 14 instance rows per meter, in the
// store's order (hour, meter, instance). Every meter has 3 tiers and an
// included quantity; a third of them change price mid-month. The offer has
// all three kinds of terms.
func benchInput(tb testing.TB) Input {
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(0, 1, 0)
	hours := int(end.Sub(start) / time.Hour)
	in := Input{Start: start, End: end, Currency: money.MustParseCurrency("EUR")}
	const meters = 100
	ids := make([]string, meters)
	for m := range meters {
		ids[m] = fmt.Sprintf("%08x-0000-4000-8000-000000000000", m)
		meter := Meter{ID: ids[m], Rates: []RateVersion{{
			Effective:        start.AddDate(-1, 0, 0),
			IncludedQuantity: mustDec("50"),
			Tiers: []Tier{{Min: mustDec("0"), Price: mustDec("0.0123456789")},
				{Min: mustDec("1000"), Price: mustDec("0.01")}, {Min: mustDec("10000"), Price: mustDec("0.0075")}},
		}}}
		if m%3 == 0 {
			meter.Rates = append(meter.Rates, RateVersion{Effective: start.AddDate(0, 0, 15), IncludedQuantity: money.Zero,
				Tiers: []Tier{{Min: mustDec("0"), Price: mustDec("0.011")}, {Min: mustDec("5000"), Price: mustDec("0.009")}}})
		}
		in.Meters = append(in.Meters, meter)
	}
	in.Terms = []Term{
		{Kind: RecurringCharge, Effective: start, Amount: mustDec("10")},
		{Kind: MonetaryCommitment, Effective: start, ExcludedMeterIDs: ids[:5],
			TieredDiscount: []DiscountTier{{Min: mustDec("0"), Percent: mustDec("0")}, {Min: mustDec("1000"), Percent: mustDec("5")}}},
		{Kind: MonetaryCredit, Effective: start, Credit: mustDec("150"), ExcludedMeterIDs: ids[5:10]},
	}
	in.Usage = make([]Usage, 0, benchRows)
	for i := 0; len(in.Usage) < benchRows; i++ {
		h, m := i/meters%hours, i%meters
		instances := 13 + (i % 2)
		for k := 0; k < instances && len(in.Usage) < benchRows; k++ {
			q := money.Quantity((i*7919+k*104729)%2_000_000) * 1_000 // up to 2 units, µ-unit precision
			in.Usage = append(in.Usage, Usage{MeterID: ids[m], Time: start.Add(time.Duration(h) * time.Hour), Quantity: q})
		}
	}
	return in
}

func BenchmarkRate1MRows(b *testing.B) {
	in := benchInput(b)
	benchRate(b, in)
}

// BenchmarkRate1MRowsShuffled: the same rows in random order, so that no
// two consecutive rows share a meter (the engine's per-meter cache misses).
func BenchmarkRate1MRowsShuffled(b *testing.B) {
	in := benchInput(b)
	r := rand.New(rand.NewPCG(1, 2))
	r.Shuffle(len(in.Usage), func(i, j int) { in.Usage[i], in.Usage[j] = in.Usage[j], in.Usage[i] })
	benchRate(b, in)
}

func benchRate(b *testing.B, in Input) {
	b.ReportAllocs()
	var c *Charges
	for b.Loop() {
		var err error
		if c, err = Rate(in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in.Usage)), "ns/row")
	if len(c.Lines) != 100+34+3 { // 100 meters, 34 with a price change (m%3 == 0), 3 terms
		b.Fatalf("%d lines", len(c.Lines))
	}
}

// BenchmarkBaselineSum1MRows is the floor any rating must pay: summing the
// same rows' quantities per meter (a map lookup and an exact add per row).
func BenchmarkBaselineSum1MRows(b *testing.B) {
	in := benchInput(b)
	b.ReportAllocs()
	var sums map[string]*money.QuantitySum
	for b.Loop() {
		sums = make(map[string]*money.QuantitySum)
		for i := range in.Usage {
			u := &in.Usage[i]
			s := sums[u.MeterID]
			if s == nil {
				s = new(money.QuantitySum)
				sums[u.MeterID] = s
			}
			s.Add(u.Quantity)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in.Usage)), "ns/row")
	if len(sums) != 100 {
		b.Fatalf("%d meters", len(sums))
	}
}

// BenchmarkBaselineSum1MRowsCached is the same floor with the engine's
// trick of reusing the previous row's meter: it isolates the cost of rating
// proper (time checks, rate version lookup) from the cost of grouping.
func BenchmarkBaselineSum1MRowsCached(b *testing.B) {
	in := benchInput(b)
	b.ReportAllocs()
	var sums map[string]*money.QuantitySum
	for b.Loop() {
		sums = make(map[string]*money.QuantitySum)
		var (
			s    *money.QuantitySum
			last string
		)
		for i := range in.Usage {
			u := &in.Usage[i]
			if s == nil || u.MeterID != last {
				if s = sums[u.MeterID]; s == nil {
					s = new(money.QuantitySum)
					sums[u.MeterID] = s
				}
				last = u.MeterID
			}
			s.Add(u.Quantity)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(in.Usage)), "ns/row")
	if len(sums) != 100 {
		b.Fatalf("%d meters", len(sums))
	}
}

// TestBenchInputRates checks the benchmark's data once, so that the
// benchmark measures a correct run: the usage total equals the sum of the
// rows priced by the reference.
func TestBenchInputRates(t *testing.T) {
	if testing.Short() {
		t.Skip("1M rows")
	}
	in := benchInput(t)
	in.Usage = in.Usage[:20_000] // the reference is slow; a prefix covers every meter
	c, err := Rate(in)
	if err != nil {
		t.Fatal(err)
	}
	if msg := totalsProblem(c); msg != "" {
		t.Fatal(msg)
	}
	ref, total := reference(in, false)
	if len(ref) != len(c.Lines) || rat(c.Total).Cmp(total) != 0 {
		t.Fatalf("%d lines total %s, reference %d lines total %s", len(c.Lines), c.Total, len(ref), total.FloatString(2))
	}
}
