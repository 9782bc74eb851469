package money

// MaxScale is the number of fractional digits a Decimal keeps. A result with
// more digits is truncated by the decimal library, so exact code must keep
// every product within it (see MulExact).
const MaxScale = 19

// MinDecimal returns the smaller of a and b.
func MinDecimal(a, b Decimal) Decimal {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

// MaxDecimal returns the larger of a and b.
func MaxDecimal(a, b Decimal) Decimal {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// Abs returns |d|.
func (d Decimal) Abs() Decimal { return Decimal{d.d.Abs()} }

// Scale returns the number of significant fractional digits of d, ignoring
// trailing zeros: 0 for "12" and "12.000", 3 for "0.125".
func (d Decimal) Scale() int {
	p := d.d.PrecUint()
	for p > 0 && d.d.Trunc(p-1).Equal(d.d) {
		p--
	}
	return int(p)
}

// MulExact returns d × e and true when the product is exact, that is when its
// significant fractional digits fit in MaxScale. Otherwise it returns false
// (and a truncated product that must not be used).
func (d Decimal) MulExact(e Decimal) (Decimal, bool) {
	if int(d.d.PrecUint())+int(e.d.PrecUint()) <= MaxScale {
		return d.Mul(e), true
	}
	return d.Mul(e), d.Scale()+e.Scale() <= MaxScale
}

// StringFixed renders d with at least places fractional digits, padding with
// zeros ("5" with 2 places is "5.00"); it never drops digits.
func (d Decimal) StringFixed(places uint8) string { return d.d.StringFixed(places) }

// QuoRound returns d ÷ e rounded half away from zero to places fractional
// digits (at most 19), for derived figures such as an effective unit price
// that need not be a finite decimal; e must not be zero.
func (d Decimal) QuoRound(e Decimal, places uint8) Decimal {
	q, err := d.d.Div(e.d)
	if err != nil {
		return Zero
	}
	return Decimal{q.RoundHAZ(places)}
}
