package rating

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/reckon-billing/reckon/internal/money"
)

// The property tests compare Rate with a deliberately naive reference
// written here with math/big (no udecimal, no cleverness):
//
//   - on a grid of quarter units, the reference walks every usage row a
//     quarter unit at a time, in usage-time order, and prices each step
//     with the tier it falls in (or not at all when it is included);
//   - off the grid (arbitrary nanounit quantities and tier bounds), it
//     splits each row, in time order, band by band.
//
// Offer terms are recomputed from the reference's own rounded lines.

var propStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

const propHours = 72

var quarter = big.NewRat(1, 4)

// scaled renders n × 10^-k as a plain decimal string.
func scaled(n int64, k int) string {
	s := fmt.Sprintf("%0*d", k+1, n)
	if k == 0 {
		return s
	}
	return s[:len(s)-k] + "." + s[len(s)-k:]
}

func mustDec(s string) money.Decimal {
	d, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func rat(d fmt.Stringer) *big.Rat {
	r, ok := new(big.Rat).SetString(d.String())
	if !ok {
		panic("bad decimal " + d.String())
	}
	return r
}

// drawAmount draws a decimal quantity: a multiple of 0.25 on the grid, any
// nanounit value below max units otherwise.
func drawAmount(t *rapid.T, grid bool, maxUnits int64, label string) string {
	if grid {
		return scaled(rapid.Int64Range(0, maxUnits*4).Draw(t, label)*25, 2)
	}
	return scaled(rapid.Int64Range(0, maxUnits*1_000_000_000).Draw(t, label), 9)
}

func drawPrice(t *rapid.T, label string) money.Decimal {
	n := rapid.Int64Range(0, 2_000_000).Draw(t, label)
	return mustDec(scaled(n, rapid.IntRange(0, MaxPriceScale).Draw(t, label+" scale")))
}

func genInput(t *rapid.T, grid bool) Input {
	in := Input{
		Start:    propStart,
		End:      propStart.Add(propHours * time.Hour),
		Currency: money.MustParseCurrency(rapid.SampledFrom([]string{"USD", "JPY", "KWD", "CLF", "EUR"}).Draw(t, "currency")),
	}
	ids := []string{meterA, meterB, meterC}[:rapid.IntRange(1, 3).Draw(t, "meters")]
	for _, id := range ids {
		m := Meter{ID: id}
		// Version start hours: the first at or before the period start,
		// later ones at distinct hours inside the period.
		effs := []time.Time{propStart.Add(-time.Duration(rapid.IntRange(0, 48).Draw(t, "first effective")) * time.Hour)}
		for _, h := range rapid.SliceOfNDistinct(rapid.IntRange(1, propHours-1), 0, 2, func(h int) int { return h }).Draw(t, "changes") {
			effs = append(effs, propStart.Add(time.Duration(h)*time.Hour))
		}
		for _, eff := range effs {
			r := RateVersion{Effective: eff, IncludedQuantity: money.Zero}
			if rapid.Bool().Draw(t, "has included") {
				r.IncludedQuantity = mustDec(drawAmount(t, grid, 10, "included"))
			}
			bound := new(big.Rat)
			for j := range rapid.IntRange(1, 4).Draw(t, "tiers") {
				if j > 0 {
					step := drawAmount(t, grid, 10, "tier step")
					if rat(mustDec(step)).Sign() == 0 {
						step = "0.25"
					}
					bound.Add(bound, rat(mustDec(step)))
				}
				r.Tiers = append(r.Tiers, Tier{Min: mustDec(bound.FloatString(9)), Price: drawPrice(t, "price")})
			}
			m.Rates = append(m.Rates, r)
		}
		for range rapid.IntRange(0, 12).Draw(t, "rows") {
			q, err := money.ParseQuantity(drawAmount(t, grid, 8, "quantity"))
			if err != nil {
				t.Fatal(err)
			}
			in.Usage = append(in.Usage, Usage{MeterID: id, Quantity: q,
				Time: propStart.Add(time.Duration(rapid.IntRange(0, propHours-1).Draw(t, "hour")) * time.Hour)})
		}
		in.Meters = append(in.Meters, m)
	}
	// Interleave the meters' rows.
	in.Usage = rapid.Permutation(in.Usage).Draw(t, "row order")

	termEff := func() time.Time {
		return propStart.Add(-time.Duration(rapid.IntRange(0, 240).Draw(t, "term effective")) * time.Hour)
	}
	excluded := func() []string {
		var out []string
		for _, id := range ids {
			if rapid.IntRange(0, 3).Draw(t, "exclude") == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	if rapid.Bool().Draw(t, "recurring") {
		in.Terms = append(in.Terms, Term{Kind: RecurringCharge, Effective: termEff(),
			Amount: mustDec(scaled(rapid.Int64Range(0, 10_000_000).Draw(t, "recurring amount"), rapid.IntRange(0, 5).Draw(t, "recurring scale")))})
	}
	if rapid.Bool().Draw(t, "commitment") {
		term := Term{Kind: MonetaryCommitment, Effective: termEff(), ExcludedMeterIDs: excluded()}
		bound := int64(0)
		if rapid.Bool().Draw(t, "discount above zero") {
			bound = rapid.Int64Range(1, 5000).Draw(t, "first discount bound")
		}
		for j := range rapid.IntRange(1, 3).Draw(t, "discount steps") {
			if j > 0 {
				bound += rapid.Int64Range(1, 5000).Draw(t, "discount step")
			}
			term.TieredDiscount = append(term.TieredDiscount, DiscountTier{
				Min:     mustDec(scaled(bound, 2)),
				Percent: mustDec(scaled(rapid.Int64Range(0, 100_000_000).Draw(t, "percent"), 6)),
			})
		}
		in.Terms = append(in.Terms, term)
	}
	if rapid.Bool().Draw(t, "credit") {
		in.Terms = append(in.Terms, Term{Kind: MonetaryCredit, Effective: termEff(), ExcludedMeterIDs: excluded(),
			Credit: mustDec(scaled(rapid.Int64Range(0, 10_000_000).Draw(t, "credit"), rapid.IntRange(0, 5).Draw(t, "credit scale")))})
	}
	return in
}

// refLine is a line of the reference implementation.
type refLine struct {
	kind                      LineKind
	meter                     string
	eff                       time.Time
	quantity, included, exact *big.Rat
	amount, spend             *big.Rat
}

func (l refLine) String() string {
	return fmt.Sprintf("%s %s %s q=%s inc=%s spend=%s exact=%s amount=%s", l.kind, l.meter, l.eff.Format(time.RFC3339),
		l.quantity.FloatString(9), l.included.FloatString(9), l.spend.FloatString(9), l.exact.FloatString(19), l.amount.FloatString(4))
}

func gotLines(c *Charges) []string {
	var out []string
	for _, l := range c.Lines {
		out = append(out, refLine{l.Kind, l.MeterID, l.Effective, rat(l.Quantity), rat(l.IncludedQuantityUsed),
			rat(l.Exact), rat(l.Amount), rat(l.EligibleSpend)}.String())
	}
	return out
}

// roundHAZ rounds r to places fractional digits, halves away from zero.
func roundHAZ(r *big.Rat, places uint8) *big.Rat {
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil))
	x := new(big.Rat).Mul(new(big.Rat).Abs(r), scale)
	x.Add(x, big.NewRat(1, 2))
	q := new(big.Int).Quo(x.Num(), x.Denom()) // floor, x >= 0
	out := new(big.Rat).SetFrac(q, scale.Num())
	if r.Sign() < 0 {
		out.Neg(out)
	}
	return out
}

func minRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) <= 0 {
		return new(big.Rat).Set(a)
	}
	return new(big.Rat).Set(b)
}

func maxRat(a, b *big.Rat) *big.Rat {
	if a.Cmp(b) >= 0 {
		return new(big.Rat).Set(a)
	}
	return new(big.Rat).Set(b)
}

func sub(a, b *big.Rat) *big.Rat { return new(big.Rat).Sub(a, b) }

// reference rates in naively. grid selects the unit-by-unit walk.
func reference(in Input, grid bool) (lines []refLine, total *big.Rat) {
	rows := slices.Clone(in.Usage)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	meters := slices.Clone(in.Meters)
	sort.Slice(meters, func(i, j int) bool { return meters[i].ID < meters[j].ID })
	places := in.Currency.MinorUnits()
	for _, m := range meters {
		versions := slices.Clone(m.Rates)
		sort.Slice(versions, func(i, j int) bool { return versions[i].Effective.Before(versions[j].Effective) })
		per := make([]*refLine, len(versions))
		pos := new(big.Rat)
		for _, u := range rows {
			if u.MeterID != m.ID {
				continue
			}
			k := -1
			for i, v := range versions {
				if !v.Effective.After(u.Time) {
					k = i
				}
			}
			v := versions[k]
			if per[k] == nil {
				per[k] = &refLine{kind: LineUsage, meter: m.ID, eff: v.Effective, quantity: new(big.Rat),
					included: new(big.Rat), exact: new(big.Rat), spend: new(big.Rat)}
			}
			l := per[k]
			q := rat(u.Quantity)
			inc := rat(v.IncludedQuantity)
			l.quantity.Add(l.quantity, q)
			end := new(big.Rat).Add(pos, q)
			if grid {
				for p := new(big.Rat).Set(pos); p.Cmp(end) < 0; p.Add(p, quarter) {
					if p.Cmp(inc) < 0 {
						l.included.Add(l.included, quarter)
						continue
					}
					x := sub(p, inc)
					var price *big.Rat
					for _, tier := range v.Tiers {
						if rat(tier.Min).Cmp(x) <= 0 {
							price = rat(tier.Price)
						}
					}
					l.exact.Add(l.exact, new(big.Rat).Mul(price, quarter))
				}
			} else {
				l.included.Add(l.included, sub(minRat(end, inc), minRat(pos, inc)))
				a, b := sub(maxRat(pos, inc), inc), sub(maxRat(end, inc), inc)
				for j, tier := range v.Tiers {
					lo := rat(tier.Min)
					hi := new(big.Rat).Set(b)
					if j+1 < len(v.Tiers) {
						hi = minRat(b, rat(v.Tiers[j+1].Min))
					}
					if part := sub(hi, maxRat(a, lo)); part.Sign() > 0 {
						l.exact.Add(l.exact, part.Mul(part, rat(tier.Price)))
					}
				}
			}
			pos = end
		}
		for _, l := range per {
			if l != nil {
				l.amount = roundHAZ(l.exact, places)
				lines = append(lines, *l)
			}
		}
	}

	// Offer terms: the latest version of each kind effective at the start.
	inForce := func(kind TermKind) *Term {
		var best *Term
		for i := range in.Terms {
			t := &in.Terms[i]
			if t.Kind == kind && !t.Effective.After(in.Start) && (best == nil || t.Effective.After(best.Effective)) {
				best = t
			}
		}
		return best
	}
	spendOf := func(excluded []string) *big.Rat {
		s := new(big.Rat)
		for _, l := range lines {
			if l.kind == LineUsage && !slices.Contains(excluded, l.meter) {
				s.Add(s, l.amount)
			}
		}
		return s
	}
	zero := func() *big.Rat { return new(big.Rat) }
	var termLines []refLine
	if t := inForce(RecurringCharge); t != nil {
		a := rat(t.Amount)
		termLines = append(termLines, refLine{LineRecurringCharge, "", t.Effective, zero(), zero(), a, roundHAZ(a, places), zero()})
	}
	discount := new(big.Rat)
	if t := inForce(MonetaryCommitment); t != nil {
		spend := spendOf(t.ExcludedMeterIDs)
		exact := new(big.Rat)
		for j, d := range t.TieredDiscount {
			hi := new(big.Rat).Set(spend)
			if j+1 < len(t.TieredDiscount) {
				hi = minRat(spend, rat(t.TieredDiscount[j+1].Min))
			}
			if part := sub(hi, rat(d.Min)); part.Sign() > 0 {
				part.Mul(part, rat(d.Percent))
				exact.Sub(exact, part.Quo(part, big.NewRat(100, 1)))
			}
		}
		discount = roundHAZ(exact, places)
		termLines = append(termLines, refLine{LineMonetaryCommitment, "", t.Effective, zero(), zero(), exact, discount, spend})
	}
	if t := inForce(MonetaryCredit); t != nil {
		spend := spendOf(t.ExcludedMeterIDs)
		base := maxRat(new(big.Rat).Add(spend, discount), zero())
		credit := new(big.Rat).Neg(minRat(rat(t.Credit), base))
		termLines = append(termLines, refLine{LineMonetaryCredit, "", t.Effective, zero(), zero(), credit, roundHAZ(credit, places), spend})
	}
	lines = append(lines, termLines...)
	total = new(big.Rat)
	for _, l := range lines {
		total.Add(total, l.amount)
	}
	return lines, total
}

func checkAgainstReference(t *rapid.T, grid bool) {
	in := genInput(t, grid)
	c, err := Rate(in)
	if err != nil {
		t.Fatalf("Rate: %v", err)
	}
	if msg := totalsProblem(c); msg != "" {
		t.Fatal(msg)
	}
	ref, total := reference(in, grid)
	var want []string
	for _, l := range ref {
		want = append(want, l.String())
	}
	got := gotLines(c)
	if !slices.Equal(got, want) {
		t.Fatalf("lines differ from the reference:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if rat(c.Total).Cmp(total) != 0 {
		t.Fatalf("total %s, reference %s", c.Total, total.FloatString(4))
	}
	// Never negative: credits and discounts never exceed what they apply to.
	if c.Total.Sign() < 0 {
		t.Fatalf("negative total %s", c.Total)
	}
	// No drift: the usage total is within half a minor unit per line of
	// the exact usage sum.
	exact, n := new(big.Rat), 0
	for _, l := range c.Lines {
		if l.Kind == LineUsage {
			exact.Add(exact, rat(l.Exact))
			n++
		}
	}
	drift := new(big.Rat).Abs(sub(rat(c.UsageTotal), exact))
	unit := new(big.Rat).SetFrac(big.NewInt(int64(n)), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(c.Currency.MinorUnits())), nil))
	if drift.Cmp(unit.Quo(unit, big.NewRat(2, 1))) > 0 {
		t.Fatalf("usage total %s drifts %s from the exact sum %s", c.UsageTotal, drift.FloatString(19), exact.FloatString(19))
	}
}

// TestRateMatchesUnitByUnitReference: quarter-unit grid, each step priced
// on its own.
func TestRateMatchesUnitByUnitReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkAgainstReference(t, true) })
}

// TestRateMatchesBandByBandReference: arbitrary nanounit quantities and
// bounds, each row split band by band in time order.
func TestRateMatchesBandByBandReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { checkAgainstReference(t, false) })
}

// TestSplittingRowsChangesNothing: splitting a row into two rows at the
// same time (anywhere in the input) gives exactly the same charges.
func TestSplittingRowsChangesNothing(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := genInput(t, false)
		if len(in.Usage) == 0 {
			return
		}
		before, err := Rate(in)
		if err != nil {
			t.Fatalf("Rate: %v", err)
		}
		i := rapid.IntRange(0, len(in.Usage)-1).Draw(t, "row")
		row := in.Usage[i]
		part := money.Quantity(rapid.Int64Range(0, int64(row.Quantity)).Draw(t, "part"))
		usage := slices.Clone(in.Usage)
		usage[i].Quantity -= part
		j := rapid.IntRange(0, len(usage)).Draw(t, "insert at")
		in.Usage = slices.Insert(usage, j, Usage{MeterID: row.MeterID, Time: row.Time, Quantity: part})
		after, err := Rate(in)
		if err != nil {
			t.Fatalf("Rate after split: %v", err)
		}
		if b, a := fmt.Sprintf("%+v", before), fmt.Sprintf("%+v", after); a != b {
			t.Fatalf("split changed the charges:\nbefore %s\n after %s", b, a)
		}
	})
}
