package catalog

import (
	"errors"
	"strings"

	"github.com/reckon-billing/reckon/internal/money"
)

// Errors of ParseNumber.
var (
	errNumberSyntax = errors.New("not a JSON number")
	errNumberRange  = errors.New("too large or too precise")
)

// maxIntDigits bounds the integer digits of a catalog number.
const maxIntDigits = 20

// ParseNumber converts the literal text of a JSON number ("0.1016",
// "3.4e-05", "15168242.0", "-1") to an exact decimal, never through a
// float. Numbers with more than 20 integer digits, or more than 19
// significant fractional digits, are refused.
func ParseNumber(lit string) (money.Decimal, error) {
	s := lit
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	// Integer part: "0" or a non-zero digit followed by digits.
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[:i]
	if intPart == "" || len(intPart) > 1 && intPart[0] == '0' {
		return money.Decimal{}, errNumberSyntax
	}
	s = s[i:]
	fracPart := ""
	if strings.HasPrefix(s, ".") {
		j := 1
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j == 1 {
			return money.Decimal{}, errNumberSyntax
		}
		fracPart, s = s[1:j], s[j:]
	}
	exp := 0
	if s != "" {
		if s[0] != 'e' && s[0] != 'E' {
			return money.Decimal{}, errNumberSyntax
		}
		s = s[1:]
		eneg := false
		if s != "" && (s[0] == '+' || s[0] == '-') {
			eneg, s = s[0] == '-', s[1:]
		}
		if s == "" {
			return money.Decimal{}, errNumberSyntax
		}
		for k := 0; k < len(s); k++ {
			if !isDigit(s[k]) {
				return money.Decimal{}, errNumberSyntax
			}
			if exp = exp*10 + int(s[k]-'0'); exp > 1000 {
				return money.Decimal{}, errNumberRange
			}
		}
		if eneg {
			exp = -exp
		}
	}
	// digits × 10^(exp - len(fracPart)), as a plain decimal string.
	digits := strings.TrimLeft(intPart+fracPart, "0")
	point := len(digits) - len(fracPart) + exp // digits left of the point
	if digits == "" {
		return money.Zero, nil
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case point <= 0:
		frac := strings.TrimRight(strings.Repeat("0", -point)+digits, "0")
		if len(frac) > 19 {
			return money.Decimal{}, errNumberRange
		}
		b.WriteString("0.")
		b.WriteString(frac)
	case point >= len(digits):
		if point > maxIntDigits {
			return money.Decimal{}, errNumberRange
		}
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", point-len(digits)))
	default:
		if point > maxIntDigits {
			return money.Decimal{}, errNumberRange
		}
		frac := strings.TrimRight(digits[point:], "0")
		if len(frac) > 19 {
			return money.Decimal{}, errNumberRange
		}
		b.WriteString(digits[:point])
		if frac != "" {
			b.WriteByte('.')
			b.WriteString(frac)
		}
	}
	d, err := money.ParseDecimal(b.String())
	if err != nil {
		return money.Decimal{}, errNumberRange
	}
	return d, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
