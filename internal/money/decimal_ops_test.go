package money

import "testing"

func mustParseDecimal(t *testing.T, s string) Decimal {
	t.Helper()
	d, err := ParseDecimal(s)
	if err != nil {
		t.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

func TestDecimalScale(t *testing.T) {
	for in, want := range map[string]int{
		"0": 0, "12": 0, "12.000": 0, "0.125": 3, "0.1250": 3, "-0.5": 1,
		"0.0000000001": 10, "1.0000000000000000001": 19, "123456789012345678901234567890.5": 1,
	} {
		if got := mustParseDecimal(t, in).Scale(); got != want {
			t.Errorf("Scale(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestMulExact(t *testing.T) {
	tests := []struct {
		a, b, want string
		exact      bool
	}{
		{"2", "3", "6", true},
		{"0.000000001", "0.0000000001", "0.0000000000000000001", true}, // 9 + 10 digits
		// 10 + 10 digits: 1e-20 does not fit; udecimal would truncate to 0.
		{"0.0000000001", "0.0000000001", "", false},
		// Stored digits beyond 19 that are trailing zeros do not count.
		{"1.0000000000000", "0.0000000001000", "0.0000000001", true},
		{"123.456789", "0.0001", "0.0123456789", true},
		{"-1.5", "0.5", "-0.75", true},
	}
	for _, tt := range tests {
		got, ok := mustParseDecimal(t, tt.a).MulExact(mustParseDecimal(t, tt.b))
		if ok != tt.exact || (ok && got.String() != tt.want) {
			t.Errorf("%s × %s = %s, %v; want %s, %v", tt.a, tt.b, got, ok, tt.want, tt.exact)
		}
	}
}

func TestMinMaxAbs(t *testing.T) {
	a, b := mustParseDecimal(t, "-1.5"), mustParseDecimal(t, "0.25")
	if MinDecimal(a, b) != a || MinDecimal(b, a) != a || MaxDecimal(a, b) != b || MaxDecimal(b, a) != b {
		t.Error("MinDecimal/MaxDecimal")
	}
	if a.Abs().String() != "1.5" || b.Abs().String() != "0.25" {
		t.Errorf("Abs: %s %s", a.Abs(), b.Abs())
	}
}
