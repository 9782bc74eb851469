// Package money holds Reckon's exact numbers: usage quantities as fixed-point
// integers and decimals (one library, wrapped here) for prices and amounts.
// Nothing in it, or in anything that uses it, passes through floating point.
package money

import (
	"errors"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"

	"github.com/quagmt/udecimal"
)

// QuantityScale is the number of fractional digits a Quantity keeps.
const QuantityScale = 9

const nanosPerUnit = 1_000_000_000

// Quantity is an exact, non-negative usage quantity in billionths of a unit.
// The largest quantity is MaxQuantity (about 9.2 billion units).
type Quantity int64

// MaxQuantity is the largest representable quantity.
const MaxQuantity = Quantity(math.MaxInt64)

// Errors returned by ParseQuantity.
var (
	ErrQuantitySyntax    = errors.New("not a decimal number")
	ErrQuantityNegative  = errors.New("negative")
	ErrQuantityPrecision = errors.New("more than 9 fractional digits")
	ErrQuantityRange     = errors.New("larger than 9223372036.854775807")
)

// ParseQuantity parses a decimal number ("12", "0.057865", "1.5e3") exactly.
// It rejects negative numbers, more than nine significant fractional digits,
// and values beyond MaxQuantity; it never rounds.
func ParseQuantity(s string) (Quantity, error) {
	if q, ok := parsePlain(s); ok {
		return q, nil
	}
	return parseGeneral(s)
}

// parsePlain handles the common form [0-9]+(\.[0-9]+)? without allocating.
func parsePlain(s string) (Quantity, bool) {
	if len(s) == 0 || len(s) > 30 {
		return 0, false
	}
	var whole, frac uint64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if whole > (math.MaxInt64/nanosPerUnit)+1 {
			return 0, false
		}
		whole = whole*10 + uint64(s[i]-'0')
	}
	if i == 0 {
		return 0, false
	}
	if i < len(s) {
		if s[i] != '.' || i+1 == len(s) {
			return 0, false
		}
		i++
		digits := 0
		for ; i < len(s); i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			if digits == QuantityScale {
				if c != '0' {
					return 0, false // let the general parser report precision
				}
				continue
			}
			frac = frac*10 + uint64(c-'0')
			digits++
		}
		for ; digits < QuantityScale; digits++ {
			frac *= 10
		}
	}
	if whole > math.MaxInt64/nanosPerUnit {
		return 0, false
	}
	v := whole*nanosPerUnit + frac
	if v > math.MaxInt64 {
		return 0, false
	}
	return Quantity(v), true
}

// quantitySyntax is a plain decimal number with an optional exponent; no
// signs but a leading minus, no hexadecimal, no fractions.
var quantitySyntax = regexp.MustCompile(`^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

func parseGeneral(s string) (Quantity, error) {
	if !quantitySyntax.MatchString(s) {
		return 0, ErrQuantitySyntax
	}
	if strings.Contains(s, ".") && !strings.ContainsAny(s, "eE") {
		s = strings.TrimRight(s, "0") // "1.000…0" is 1, however many zeros
	}
	if len(s) > 64 {
		if i := strings.IndexByte(s, '.'); i >= 0 && i <= 40 {
			return 0, ErrQuantityPrecision // many significant fractional digits
		}
		return 0, ErrQuantityRange
	}
	// big.Rat accepts exponents exactly; bound the exponent before it allocates.
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || exp > 40 || exp < -40 {
			if err == nil && exp > 40 {
				return 0, ErrQuantityRange
			}
			if err == nil {
				return 0, ErrQuantityPrecision
			}
			return 0, ErrQuantitySyntax
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, ErrQuantitySyntax
	}
	if r.Sign() < 0 {
		return 0, ErrQuantityNegative
	}
	r.Mul(r, big.NewRat(nanosPerUnit, 1))
	if !r.IsInt() {
		return 0, ErrQuantityPrecision
	}
	n := r.Num()
	if !n.IsInt64() {
		return 0, ErrQuantityRange
	}
	return Quantity(n.Int64()), nil
}

// String renders q in plain decimal form without trailing zeros ("0.057865").
func (q Quantity) String() string {
	return formatNanos(uint64(q))
}

func formatNanos(v uint64) string {
	whole, frac := v/nanosPerUnit, v%nanosPerUnit
	s := strconv.FormatUint(whole, 10)
	if frac == 0 {
		return s
	}
	f := strconv.FormatUint(frac+nanosPerUnit, 10)[1:]
	return s + "." + strings.TrimRight(f, "0")
}

// Decimal returns q as an exact decimal.
func (q Quantity) Decimal() Decimal {
	return Decimal{udecimal.MustFromInt64(int64(q), QuantityScale)}
}
