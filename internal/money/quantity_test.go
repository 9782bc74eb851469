package money

import (
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Quantity
		err  error
	}{
		{"zero", "0", 0, nil},
		{"integer", "12", 12_000_000_000, nil},
		{"fraction", "0.057865", 57_865_000, nil},
		{"one nanounit", "0.000000001", 1, nil},
		{"leading zeros", "00012.5", 12_500_000_000, nil},
		{"nine digits", "1.123456789", 1_123_456_789, nil},
		{"trailing zeros beyond nine digits", "1.5000000000000", 1_500_000_000, nil},
		{"trailing zeros long form", "2.000000000000000000000000000000000000", 2_000_000_000, nil},
		{"exponent", "1.5e3", 1_500_000_000_000, nil},
		{"upper-case exponent", "2E2", 200_000_000_000, nil},
		{"positive exponent sign", "1e+2", 100_000_000_000, nil},
		{"negative exponent", "1e-9", 1, nil},
		{"negative exponent fraction", "123.456e-3", 123_456_000, nil},
		{"exponent with trailing zeros", "1.0000000000e-9", 1, nil},
		{"zero with big exponent", "0e30", 0, nil},
		{"max", "9223372036.854775807", MaxQuantity, nil},
		{"max with trailing zeros", "9223372036.8547758070", MaxQuantity, nil},
		{"max as exponent", "9.223372036854775807e9", MaxQuantity, nil},

		{"one over max", "9223372036.854775808", 0, ErrQuantityRange},
		{"whole part over max", "9223372037", 0, ErrQuantityRange},
		{"far over max", "99999999999999999999", 0, ErrQuantityRange},
		{"exponent over max", "1e10", 0, ErrQuantityRange},
		{"huge exponent", "1e400", 0, ErrQuantityRange},
		{"ten fractional digits", "0.0000000001", 0, ErrQuantityPrecision},
		{"ten fractional digits non-zero last", "1.1234567891", 0, ErrQuantityPrecision},
		{"exponent below a nanounit", "1e-10", 0, ErrQuantityPrecision},
		{"tiny exponent", "1e-400", 0, ErrQuantityPrecision},
		{"negative", "-1", 0, ErrQuantityNegative},
		{"negative fraction", "-0.5", 0, ErrQuantityNegative},
		{"negative exponent value", "-1.5e3", 0, ErrQuantityNegative},

		{"empty", "", 0, ErrQuantitySyntax},
		{"junk", "abc", 0, ErrQuantitySyntax},
		{"trailing junk", "12abc", 0, ErrQuantitySyntax},
		{"NaN", "NaN", 0, ErrQuantitySyntax},
		{"nan lower", "nan", 0, ErrQuantitySyntax},
		{"Inf", "Inf", 0, ErrQuantitySyntax},
		{"+Inf", "+Inf", 0, ErrQuantitySyntax},
		{"Infinity", "Infinity", 0, ErrQuantitySyntax},
		{"space inside", "1 000", 0, ErrQuantitySyntax},
		{"leading space", " 1", 0, ErrQuantitySyntax},
		{"underscore", "1_000", 0, ErrQuantitySyntax},
		{"fraction syntax", "1/2", 0, ErrQuantitySyntax},
		{"two dots", "1.2.3", 0, ErrQuantitySyntax},
		{"bare exponent", "e5", 0, ErrQuantitySyntax},
		{"exponent without digits", "1e", 0, ErrQuantitySyntax},
		{"comma decimal", "1,5", 0, ErrQuantitySyntax},
		// A quantity is a decimal number: the non-decimal forms that
		// math/big also understands must not be accepted.
		{"hexadecimal", "0x10", 0, ErrQuantitySyntax},
		{"binary", "0b101", 0, ErrQuantitySyntax},
		{"octal", "0o7", 0, ErrQuantitySyntax},
		{"binary exponent", "1p3", 0, ErrQuantitySyntax},
		{"hexadecimal float", "0x1.8p1", 0, ErrQuantitySyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQuantity(tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("ParseQuantity(%q) = %d, %v; want error %v", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseQuantity(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestQuantityString(t *testing.T) {
	tests := []struct {
		q    Quantity
		want string
	}{
		{0, "0"},
		{1, "0.000000001"},
		{10, "0.00000001"},
		{57_865_000, "0.057865"},
		{1_000_000_000, "1"},
		{1_500_000_000, "1.5"},
		{12_000_000_001, "12.000000001"},
		{MaxQuantity, "9223372036.854775807"},
	}
	for _, tt := range tests {
		if got := tt.q.String(); got != tt.want {
			t.Errorf("Quantity(%d).String() = %q, want %q", int64(tt.q), got, tt.want)
		}
		back, err := ParseQuantity(tt.want)
		if err != nil || back != tt.q {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d", tt.want, back, err, tt.q)
		}
		if got := tt.q.Decimal().String(); got != tt.want {
			t.Errorf("Quantity(%d).Decimal() = %s, want %s", int64(tt.q), got, tt.want)
		}
	}
}

// TestQuantityStringRoundTrip checks String and ParseQuantity are inverse
// over a spread of values, including every power of ten and its neighbours.
func TestQuantityStringRoundTrip(t *testing.T) {
	var vals []Quantity
	for p := Quantity(1); p > 0 && p <= MaxQuantity/10; p *= 10 {
		vals = append(vals, p-1, p, p+1, p*7+3)
	}
	vals = append(vals, MaxQuantity, MaxQuantity-1)
	for _, q := range vals {
		s := q.String()
		back, err := ParseQuantity(s)
		if err != nil || back != q {
			t.Errorf("round trip of %d via %q = %d, %v", int64(q), s, back, err)
		}
		if strings.HasSuffix(s, "0") && strings.Contains(s, ".") {
			t.Errorf("String of %d = %q has trailing zeros", int64(q), s)
		}
	}
}

func TestQuantitySum(t *testing.T) {
	var empty QuantitySum
	if got := empty.String(); got != "0" {
		t.Errorf("empty sum = %q, want 0", got)
	}
	if !empty.Decimal().IsZero() {
		t.Errorf("empty sum Decimal = %s, want 0", empty.Decimal())
	}

	// 0.1 + 0.2 is exactly 0.3.
	var s QuantitySum
	s.Add(mustQ(t, "0.1"))
	s.Add(mustQ(t, "0.2"))
	if got := s.String(); got != "0.3" {
		t.Errorf("0.1 + 0.2 = %s, want 0.3", got)
	}

	// Exactly MaxQuantity stays on the fast path.
	var m QuantitySum
	m.Add(MaxQuantity - 1)
	m.Add(1)
	if got, want := m.String(), "9223372036.854775807"; got != want {
		t.Errorf("sum to MaxQuantity = %s, want %s", got, want)
	}
	m.Add(1) // one nanounit over: spills to Decimal
	if got, want := m.String(), "9223372036.854775808"; got != want {
		t.Errorf("sum over MaxQuantity = %s, want %s", got, want)
	}
	if got, want := m.Decimal().String(), "9223372036.854775808"; got != want {
		t.Errorf("sum over MaxQuantity as Decimal = %s, want %s", got, want)
	}
}

// TestQuantitySumOverflow adds many MaxQuantity values, far past int64, and
// compares with exact big-integer arithmetic.
func TestQuantitySumOverflow(t *testing.T) {
	for _, n := range []int{1, 2, 3, 1000, 100_000} {
		var s QuantitySum
		want := new(big.Int)
		for i := 0; i < n; i++ {
			q := MaxQuantity
			if i%3 == 1 {
				q = Quantity(i) // mix in small values after the spill
			}
			s.Add(q)
			want.Add(want, big.NewInt(int64(q)))
		}
		ws := nanosString(want)
		if got := s.String(); got != ws {
			t.Errorf("n=%d: String = %s, want %s", n, got, ws)
		}
		if got := s.Decimal().String(); got != ws {
			t.Errorf("n=%d: Decimal = %s, want %s", n, got, ws)
		}
		wd, err := ParseDecimal(ws)
		if err != nil {
			t.Fatal(err)
		}
		if s.Decimal().Cmp(wd) != 0 {
			t.Errorf("n=%d: Decimal().Cmp(%s) != 0", n, ws)
		}
	}
}

// nanosString renders a non-negative count of nanounits as a plain decimal.
func nanosString(n *big.Int) string {
	s := n.String()
	if len(s) <= QuantityScale {
		s = strings.Repeat("0", QuantityScale-len(s)+1) + s
	}
	whole, frac := s[:len(s)-QuantityScale], strings.TrimRight(s[len(s)-QuantityScale:], "0")
	if frac == "" {
		return whole
	}
	return whole + "." + frac
}

func mustQ(t *testing.T, s string) Quantity {
	t.Helper()
	q, err := ParseQuantity(s)
	if err != nil {
		t.Fatalf("ParseQuantity(%q): %v", s, err)
	}
	return q
}

func TestDecimalArithmetic(t *testing.T) {
	a, err := ParseDecimal("0.1")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseDecimal("0.2")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Add(b).String(); got != "0.3" {
		t.Errorf("0.1+0.2 = %s", got)
	}
	if got := b.Sub(a).String(); got != "0.1" {
		t.Errorf("0.2-0.1 = %s", got)
	}
	if got := a.Mul(b).String(); got != "0.02" {
		t.Errorf("0.1*0.2 = %s", got)
	}
	half, _ := ParseDecimal("2.345")
	if got := half.RoundHalfAwayFromZero(2).String(); got != "2.35" {
		t.Errorf("round(2.345, 2) = %s, want 2.35", got)
	}
	neg, _ := ParseDecimal("-2.345")
	if got := neg.RoundHalfAwayFromZero(2).String(); got != "-2.35" {
		t.Errorf("round(-2.345, 2) = %s, want -2.35", got)
	}
	if !Zero.IsZero() || a.IsZero() {
		t.Error("IsZero wrong")
	}
	if a.Cmp(b) != -1 || b.Cmp(a) != 1 || a.Cmp(a) != 0 {
		t.Error("Cmp wrong")
	}
	if _, err := ParseDecimal("x"); err == nil {
		t.Error("ParseDecimal(x) succeeded")
	}
}

// decimalSyntax is what a decimal number looks like; ParseQuantity may
// accept no other form.
var decimalSyntax = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

func FuzzParseQuantity(f *testing.F) {
	for _, s := range []string{"0", "12", "0.057865", "1.5e3", "1e-9", "9223372036.854775807", "9223372036.854775808",
		"0.0000000001", "1.0000000000", "-1", "NaN", "Inf", "", "0x10", "1p3", "1e-40", "1e40", ".5", "1.", "+1", "00012"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseQuantity(s)
		if err != nil {
			if q != 0 {
				t.Fatalf("ParseQuantity(%q) returned %d with error %v", s, q, err)
			}
			return
		}
		if q < 0 {
			t.Fatalf("ParseQuantity(%q) = %d, negative", s, q)
		}
		str := q.String()
		back, err := ParseQuantity(str)
		if err != nil || back != q {
			t.Fatalf("ParseQuantity(%q) = %d; String %q re-parses to %d, %v", s, q, str, back, err)
		}
		if !decimalSyntax.MatchString(s) {
			t.Fatalf("ParseQuantity accepted %q, which is not a decimal number", s)
		}
		// The value must be exactly the decimal that was written.
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("ParseQuantity accepted %q, which is not a number", s)
		}
		if r.Cmp(new(big.Rat).SetFrac(big.NewInt(int64(q)), big.NewInt(nanosPerUnit))) != 0 {
			t.Fatalf("ParseQuantity(%q) = %s, not the exact value %s", s, str, r.FloatString(12))
		}
	})
}

func TestParseQuantityLongStrings(t *testing.T) {
	one := "1." + strings.Repeat("0", 70)
	if q, err := ParseQuantity(one); err != nil || q.String() != "1" {
		t.Errorf("ParseQuantity(1.000…0) = %v, %v; want 1", q, err)
	}
	if _, err := ParseQuantity("1." + strings.Repeat("0", 70) + "1"); !errors.Is(err, ErrQuantityPrecision) {
		t.Errorf("a 71st fractional digit: err = %v, want ErrQuantityPrecision", err)
	}
	if _, err := ParseQuantity(strings.Repeat("9", 70)); !errors.Is(err, ErrQuantityRange) {
		t.Errorf("70 integer digits: err = %v, want ErrQuantityRange", err)
	}
}
