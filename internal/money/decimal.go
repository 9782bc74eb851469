package money

import (
	"github.com/quagmt/udecimal"
)

// Decimal is an exact decimal number. It wraps the one decimal library Reckon
// uses, so that the choice can change in one place.
type Decimal struct{ d udecimal.Decimal }

// Zero is the decimal 0.
var Zero = Decimal{}

// ParseDecimal parses a plain decimal string exactly.
func ParseDecimal(s string) (Decimal, error) {
	d, err := udecimal.Parse(s)
	if err != nil {
		return Decimal{}, err
	}
	return Decimal{d}, nil
}

// Add returns d + e.
func (d Decimal) Add(e Decimal) Decimal { return Decimal{d.d.Add(e.d)} }

// Sub returns d - e.
func (d Decimal) Sub(e Decimal) Decimal { return Decimal{d.d.Sub(e.d)} }

// Mul returns d × e.
func (d Decimal) Mul(e Decimal) Decimal { return Decimal{d.d.Mul(e.d)} }

// Cmp compares d and e: -1, 0 or +1.
func (d Decimal) Cmp(e Decimal) int { return d.d.Cmp(e.d) }

// IsZero reports whether d is 0.
func (d Decimal) IsZero() bool { return d.d.IsZero() }

// RoundHalfAwayFromZero rounds d to places fractional digits, halves away from zero.
func (d Decimal) RoundHalfAwayFromZero(places uint8) Decimal {
	return Decimal{d.d.RoundHAZ(places)}
}

// String renders d in plain decimal form without trailing zeros.
func (d Decimal) String() string { return d.d.String() }

// QuantitySum accumulates quantities exactly, with no upper bound.
type QuantitySum struct {
	small  uint64 // nanos, while it fits
	big    Decimal
	spills bool
}

// Add adds q to the sum.
func (s *QuantitySum) Add(q Quantity) {
	if !s.spills {
		if v := s.small + uint64(q); v >= s.small && v <= 1<<63-1 {
			s.small = v
			return
		}
		s.big = Quantity(int64(s.small)).Decimal()
		s.spills = true
	}
	s.big = s.big.Add(q.Decimal())
}

// String renders the sum in plain decimal form.
func (s *QuantitySum) String() string {
	if !s.spills {
		return formatNanos(s.small)
	}
	return s.big.String()
}

// Quantity returns the sum as a Quantity, and false when it is too large
// for one (over about 9.2 billion units).
func (s *QuantitySum) Quantity() (Quantity, bool) {
	if s.spills {
		return 0, false
	}
	return Quantity(int64(s.small)), true
}

// Decimal returns the sum as an exact decimal.
func (s *QuantitySum) Decimal() Decimal {
	if !s.spills {
		return Quantity(int64(s.small)).Decimal()
	}
	return s.big
}

// Neg returns -d.
func (d Decimal) Neg() Decimal { return Decimal{d.d.Neg()} }

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int { return d.d.Sign() }

// DecimalFromInt returns the integer v as a Decimal.
func DecimalFromInt(v int64) Decimal { return Decimal{udecimal.MustFromInt64(v, 0)} }

// MarshalText renders d in plain decimal form, so that JSON carries it as a
// string and never passes it through a float.
func (d Decimal) MarshalText() ([]byte, error) { return []byte(d.d.String()), nil }

// UnmarshalText parses a plain decimal string exactly.
func (d *Decimal) UnmarshalText(b []byte) error {
	v, err := udecimal.Parse(string(b))
	if err != nil {
		return err
	}
	d.d = v
	return nil
}
