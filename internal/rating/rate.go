package rating

import (
	"cmp"
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Sentinel causes carried (as billing.Error.Err) by the errors Rate returns;
// test them with errors.Is.
var (
	// ErrInvalidInput: a bad period or currency, usage outside the period,
	// a negative quantity, duplicate meters.
	ErrInvalidInput = errors.New("invalid rating input")
	// ErrNoRate: usage of a meter with no rate in force at its usage time.
	ErrNoRate = errors.New("usage without a rate")
	// ErrInvalidRate: a rate version the engine cannot price exactly.
	ErrInvalidRate = errors.New("invalid rate")
	// ErrInvalidTerm: an offer term the engine cannot apply.
	ErrInvalidTerm = errors.New("invalid offer term")
	// ErrInexact: a product would lose digits (see the package doc).
	ErrInexact = errors.New("inexact product")
)

// Precision limits of the inputs (fractional digits); see the package doc.
const (
	MaxPriceScale    = 10
	MaxQuantityScale = money.QuantityScale
	MaxPercentScale  = 8
)

const timeFormat = "2006-01-02T15:04:05Z07:00"

var (
	hundred    = money.DecimalFromInt(100)
	onePercent = mustDecimal("0.01")
)

func mustDecimal(s string) money.Decimal {
	d, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// segment accumulates the usage of one meter under one rate version.
type segment struct {
	sum  money.QuantitySum
	rows int
}

// meterState is a meter with usage in the period.
type meterState struct {
	id    string
	rates []RateVersion // sorted by Effective
	segs  []segment
	// The rate version of the previous row and the interval it covers, so
	// that consecutive rows of the same version need no search.
	cur            int
	curFrom, curTo time.Time
	curOK          bool
}

// Rate prices in's usage and applies its offer terms. It returns a
// *billing.Error whose Err is one of the sentinel errors above.
func Rate(in Input) (*Charges, error) {
	if in.Currency.IsZero() {
		return nil, invalid("InvalidCurrency", "currency", "The currency is missing.")
	}
	if !in.Start.Before(in.End) {
		return nil, invalid("InvalidRatingPeriod", "periodStart",
			"The period start %s is not before its end %s.", in.Start.Format(timeFormat), in.End.Format(timeFormat))
	}
	index := make(map[string]int, len(in.Meters))
	for i, m := range in.Meters {
		if _, dup := index[m.ID]; dup {
			return nil, invalid("DuplicateMeter", "meters", "The meter %s is given twice.", m.ID)
		}
		index[m.ID] = i
	}
	terms, err := selectTerms(in.Terms, in.Start)
	if err != nil {
		return nil, err
	}
	meters, err := accumulate(in, index)
	if err != nil {
		return nil, err
	}

	out := &Charges{Start: in.Start, End: in.End, Currency: in.Currency}
	slices.SortFunc(meters, func(a, b *meterState) int { return cmp.Compare(a.id, b.id) })
	for _, m := range meters {
		if out.Lines, err = m.price(in.Currency, out.Lines); err != nil {
			return nil, err
		}
	}
	for _, l := range out.Lines {
		out.UsageTotal = out.UsageTotal.Add(l.Amount)
	}
	if err := applyTerms(out, terms); err != nil {
		return nil, err
	}
	for _, l := range out.Lines {
		out.Total = out.Total.Add(l.Amount)
	}
	return out, nil
}

// accumulate sums the usage per meter and rate version in one pass.
//
// Rows usually come grouped (the store returns them by hour and meter), so
// the loop remembers the previous row's meter, time and segment: a row with
// the same meter and the same time (an identical time.Time) goes straight to
// that segment, with no lookup and no time comparison.
func accumulate(in Input, index map[string]int) ([]*meterState, error) {
	var (
		meters []*meterState
		states = make(map[string]*meterState)
		m      *meterState
		seg    *segment
		lastID string
		lastT  time.Time
	)
	start, end := in.Start, in.End
	for i := range in.Usage {
		u := &in.Usage[i]
		if u.Quantity < 0 {
			return nil, invalid("InvalidQuantity", "usage", "Usage of meter %s at %s has a negative quantity.",
				u.MeterID, u.Time.Format(timeFormat))
		}
		if seg != nil && u.Time == lastT && u.MeterID == lastID {
			seg.sum.Add(u.Quantity)
			seg.rows++
			continue
		}
		if m == nil || u.MeterID != lastID {
			m = states[u.MeterID]
			if m == nil {
				k, ok := index[u.MeterID]
				if !ok {
					return nil, noRate(u.MeterID, "The meter %s has usage at %s but no rate.",
						u.MeterID, u.Time.Format(timeFormat))
				}
				var err error
				if m, err = newMeterState(in.Meters[k]); err != nil {
					return nil, err
				}
				states[u.MeterID] = m
				meters = append(meters, m)
			}
			lastID = u.MeterID
		}
		t := u.Time
		if t.Before(start) || !t.Before(end) {
			return nil, invalid("UsageOutsidePeriod", "usage",
				"Usage of meter %s at %s is outside the period [%s, %s).", u.MeterID,
				t.Format(timeFormat), start.Format(timeFormat), end.Format(timeFormat))
		}
		if !m.curOK || t.Before(m.curFrom) || !t.Before(m.curTo) {
			if err := m.seek(t, end); err != nil {
				return nil, err
			}
		}
		lastT, seg = t, &m.segs[m.cur]
		seg.sum.Add(u.Quantity)
		seg.rows++
	}
	return meters, nil
}

// newMeterState validates a meter's rates and sorts them by Effective.
func newMeterState(in Meter) (*meterState, error) {
	m := &meterState{id: in.ID, rates: slices.Clone(in.Rates)}
	slices.SortStableFunc(m.rates, func(a, b RateVersion) int { return a.Effective.Compare(b.Effective) })
	for i, r := range m.rates {
		if i > 0 && r.Effective.Equal(m.rates[i-1].Effective) {
			return nil, badRate(in.ID, "The meter %s has two rates effective %s.", in.ID, r.Effective.Format(timeFormat))
		}
		if err := checkRate(in.ID, r); err != nil {
			return nil, err
		}
	}
	m.segs = make([]segment, len(m.rates))
	return m, nil
}

// seek finds the rate version in force at t, or fails with ErrNoRate.
func (m *meterState) seek(t, end time.Time) error {
	k := sort.Search(len(m.rates), func(i int) bool { return m.rates[i].Effective.After(t) }) - 1
	if k < 0 {
		if len(m.rates) == 0 {
			return noRate(m.id, "The meter %s has usage at %s but no rate.", m.id, t.Format(timeFormat))
		}
		return noRate(m.id, "The meter %s has usage at %s, before its first rate (effective %s).",
			m.id, t.Format(timeFormat), m.rates[0].Effective.Format(timeFormat))
	}
	m.cur, m.curFrom, m.curTo, m.curOK = k, m.rates[k].Effective, end, true
	if k+1 < len(m.rates) {
		m.curTo = m.rates[k+1].Effective
	}
	return nil
}

func checkRate(meterID string, r RateVersion) error {
	at := r.Effective.Format(timeFormat)
	if r.IncludedQuantity.Sign() < 0 || r.IncludedQuantity.Scale() > MaxQuantityScale {
		return badRate(meterID, "The rate of meter %s effective %s has an included quantity %s that is negative or has more than %d fractional digits.",
			meterID, at, r.IncludedQuantity, MaxQuantityScale)
	}
	if len(r.Tiers) == 0 {
		return badRate(meterID, "The rate of meter %s effective %s has no tiers.", meterID, at)
	}
	for i, t := range r.Tiers {
		if i == 0 && !t.Min.IsZero() {
			return badRate(meterID, "The rate of meter %s effective %s has a first tier at %s, not 0.", meterID, at, t.Min)
		}
		if i > 0 && t.Min.Cmp(r.Tiers[i-1].Min) <= 0 {
			return badRate(meterID, "The tiers of meter %s effective %s are not strictly increasing at %s.", meterID, at, t.Min)
		}
		if t.Min.Scale() > MaxQuantityScale {
			return badRate(meterID, "The tier %s of meter %s effective %s has more than %d fractional digits.",
				t.Min, meterID, at, MaxQuantityScale)
		}
		if t.Price.Sign() < 0 || t.Price.Scale() > MaxPriceScale {
			return badRate(meterID, "The price %s of meter %s effective %s is negative or has more than %d fractional digits.",
				t.Price, meterID, at, MaxPriceScale)
		}
	}
	return nil
}

// price appends the meter's usage lines, one per rate version with usage.
func (m *meterState) price(cur money.Currency, lines []Line) ([]Line, error) {
	pos := money.Zero
	for k := range m.rates {
		s := &m.segs[k]
		if s.rows == 0 {
			continue
		}
		q := s.sum.Decimal()
		line, err := priceSegment(m.id, &m.rates[k], pos, pos.Add(q), cur)
		if err != nil {
			return nil, err
		}
		pos = pos.Add(q)
		lines = append(lines, line)
	}
	return lines, nil
}

// PositionCost returns what Rate charges, exactly and before rounding, for
// a meter's cumulative positions [a, b) in the period under rate version r
// (the included quantity first, then the tiers), and the billable part of
// b − a. Because a line prices a contiguous range of positions, the costs
// of the slices that make the range up add up exactly to the line's exact
// amount: exports allocate a line to the usage behind it this way.
func PositionCost(r *RateVersion, a, b money.Decimal, cur money.Currency) (exact, billable money.Decimal, err error) {
	from, to := billablePositions(r, a, b)
	exact = money.Zero
	err = eachBand(r, from, to, func(t *Tier, q money.Decimal) error {
		amt, ok := q.MulExact(t.Price)
		if !ok {
			return inexact("", "%s × %s is not exact in 19 fractional digits.", q, t.Price)
		}
		exact = exact.Add(amt)
		return nil
	})
	if err != nil {
		return money.Zero, money.Zero, err
	}
	return exact, to.Sub(from), nil
}

// billablePositions returns the billable positions [from, to) of the
// cumulative positions [a, b): counted after the included quantity.
func billablePositions(r *RateVersion, a, b money.Decimal) (from, to money.Decimal) {
	inc := r.IncludedQuantity
	return money.MaxDecimal(a, inc).Sub(inc), money.MaxDecimal(b, inc).Sub(inc)
}

// eachBand calls fn with each tier that billable positions [from, to)
// reach and the quantity of them in it, in tier order.
func eachBand(r *RateVersion, from, to money.Decimal, fn func(t *Tier, q money.Decimal) error) error {
	for j := range r.Tiers {
		t := &r.Tiers[j]
		if to.Cmp(t.Min) <= 0 {
			break
		}
		bandFrom, bandTo := money.MaxDecimal(from, t.Min), to
		if j+1 < len(r.Tiers) {
			bandTo = money.MinDecimal(to, r.Tiers[j+1].Min)
		}
		if bandFrom.Cmp(bandTo) >= 0 {
			continue
		}
		if err := fn(t, bandTo.Sub(bandFrom)); err != nil {
			return err
		}
	}
	return nil
}

// priceSegment prices the cumulative positions [a, b) of a meter under rate r.
func priceSegment(meterID string, r *RateVersion, a, b money.Decimal, cur money.Currency) (Line, error) {
	inc := r.IncludedQuantity
	line := Line{
		Kind:                 LineUsage,
		MeterID:              meterID,
		Effective:            r.Effective,
		Quantity:             b.Sub(a),
		IncludedQuantityUsed: money.MinDecimal(b, inc).Sub(money.MinDecimal(a, inc)),
	}
	from, to := billablePositions(r, a, b)
	exact := money.Zero
	err := eachBand(r, from, to, func(t *Tier, q money.Decimal) error {
		amt, ok := q.MulExact(t.Price)
		if !ok {
			return inexact(meterID, "%s × %s for meter %s is not exact in 19 fractional digits.", q, t.Price, meterID)
		}
		exact = exact.Add(amt)
		bandFrom := money.MaxDecimal(from, t.Min)
		line.Tiers = append(line.Tiers, TierCharge{
			TierMin: t.Min, From: bandFrom, To: bandFrom.Add(q), Quantity: q, UnitPrice: t.Price, Amount: amt,
		})
		return nil
	})
	if err != nil {
		return Line{}, err
	}
	line.Exact, line.Amount = exact, cur.Round(exact)
	return line, nil
}

// termsInForce are the offer terms that govern the period, one per kind.
type termsInForce struct {
	recurring, commitment, credit *Term
}

// selectTerms validates the terms and picks, per kind, the one in force at
// the period start.
func selectTerms(terms []Term, start time.Time) (termsInForce, error) {
	var sel termsInForce
	for i := range terms {
		t := &terms[i]
		if err := checkTerm(t); err != nil {
			return sel, err
		}
		for j := range i {
			if terms[j].Kind == t.Kind && terms[j].Effective.Equal(t.Effective) {
				return sel, badTerm(t.Kind, "Two %s terms are effective %s.", t.Kind, t.Effective.Format(timeFormat))
			}
		}
		if t.Effective.After(start) {
			continue
		}
		var slot **Term
		switch t.Kind {
		case RecurringCharge:
			slot = &sel.recurring
		case MonetaryCommitment:
			slot = &sel.commitment
		default:
			slot = &sel.credit
		}
		if *slot == nil || (*slot).Effective.Before(t.Effective) {
			*slot = t
		}
	}
	return sel, nil
}

func checkTerm(t *Term) error {
	at := t.Effective.Format(timeFormat)
	switch t.Kind {
	case RecurringCharge:
		if t.Amount.Sign() < 0 {
			return badTerm(t.Kind, "The Recurring Charge effective %s is negative (%s).", at, t.Amount)
		}
	case MonetaryCredit:
		if t.Credit.Sign() < 0 {
			return badTerm(t.Kind, "The Monetary Credit effective %s is negative (%s).", at, t.Credit)
		}
	case MonetaryCommitment:
		for i, d := range t.TieredDiscount {
			if d.Min.Sign() < 0 || d.Min.Scale() > MaxQuantityScale ||
				(i > 0 && d.Min.Cmp(t.TieredDiscount[i-1].Min) <= 0) {
				return badTerm(t.Kind, "The Monetary Commitment effective %s has a discount step %s that is negative, not increasing or has more than %d fractional digits.",
					at, d.Min, MaxQuantityScale)
			}
			if d.Percent.Sign() < 0 || d.Percent.Cmp(hundred) > 0 || d.Percent.Scale() > MaxPercentScale {
				return badTerm(t.Kind, "The Monetary Commitment effective %s has a discount of %s%%: not between 0 and 100 or more than %d fractional digits.",
					at, d.Percent, MaxPercentScale)
			}
		}
	default:
		return badTerm(t.Kind, "Unknown offer term %q.", t.Kind)
	}
	return nil
}

// applyTerms appends the lines of the terms in force to out.Lines, whose
// lines are all usage lines.
func applyTerms(out *Charges, terms termsInForce) error {
	cur := out.Currency
	usage := out.Lines
	if t := terms.recurring; t != nil {
		out.Lines = append(out.Lines, Line{
			Kind: LineRecurringCharge, Effective: t.Effective, Exact: t.Amount, Amount: cur.Round(t.Amount),
		})
	}
	discount := money.Zero // rounded, <= 0
	if t := terms.commitment; t != nil {
		spend := eligibleSpend(usage, t.ExcludedMeterIDs)
		line := Line{Kind: LineMonetaryCommitment, Effective: t.Effective, EligibleSpend: spend}
		exact := money.Zero
		for j, d := range t.TieredDiscount {
			if spend.Cmp(d.Min) <= 0 {
				break
			}
			to := spend
			if j+1 < len(t.TieredDiscount) {
				to = money.MinDecimal(spend, t.TieredDiscount[j+1].Min)
			}
			part := to.Sub(d.Min)
			x, ok1 := part.MulExact(d.Percent)
			amt, ok2 := x.MulExact(onePercent)
			if !ok1 || !ok2 {
				return &billing.Error{Kind: billing.KindConflict, Code: "InexactAmount", Target: "offerTerms",
					Message: "The Monetary Commitment discount is not exact in 19 fractional digits.", Err: ErrInexact}
			}
			exact = exact.Sub(amt)
			line.Discounts = append(line.Discounts, DiscountCharge{
				Min: d.Min, From: d.Min, To: to, Spend: part, Percent: d.Percent, Amount: amt.Neg(),
			})
		}
		line.Exact, line.Amount = exact, cur.Round(exact)
		discount = line.Amount
		out.Lines = append(out.Lines, line)
	}
	if t := terms.credit; t != nil {
		spend := eligibleSpend(usage, t.ExcludedMeterIDs)
		base := money.MaxDecimal(spend.Add(discount), money.Zero)
		credit := money.MinDecimal(t.Credit, base).Neg()
		out.Lines = append(out.Lines, Line{
			Kind: LineMonetaryCredit, Effective: t.Effective, EligibleSpend: spend,
			Exact: credit, Amount: cur.Round(credit),
		})
	}
	return nil
}

// eligibleSpend sums the rounded amounts of the usage lines whose meter is
// not excluded.
func eligibleSpend(usage []Line, excluded []string) money.Decimal {
	skip := make(map[string]bool, len(excluded))
	for _, id := range excluded {
		skip[id] = true
	}
	sum := money.Zero
	for _, l := range usage {
		if !skip[l.MeterID] {
			sum = sum.Add(l.Amount)
		}
	}
	return sum
}

func invalid(code, target, format string, args ...any) error {
	e := billing.Invalid(code, target, format, args...)
	e.Err = ErrInvalidInput
	return e
}

func noRate(meterID, format string, args ...any) error {
	e := billing.Invalid("NoRateForUsage", meterID, format, args...)
	e.Kind, e.Err = billing.KindConflict, ErrNoRate
	return e
}

func badRate(meterID, format string, args ...any) error {
	e := billing.Invalid("InvalidRate", meterID, format, args...)
	e.Kind, e.Err = billing.KindConflict, ErrInvalidRate
	return e
}

func badTerm(kind TermKind, format string, args ...any) error {
	e := billing.Invalid("InvalidOfferTerm", string(kind), format, args...)
	e.Kind, e.Err = billing.KindConflict, ErrInvalidTerm
	return e
}

func inexact(meterID, format string, args ...any) error {
	e := billing.Invalid("InexactAmount", meterID, format, args...)
	e.Kind, e.Err = billing.KindConflict, ErrInexact
	return e
}
