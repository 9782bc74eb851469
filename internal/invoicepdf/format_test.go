package invoicepdf

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/reckon-billing/reckon/internal/money"
)

func dec(t testing.TB, s string) money.Decimal {
	t.Helper()
	d, err := money.ParseDecimal(s)
	if err != nil {
		t.Fatalf("ParseDecimal(%q): %v", s, err)
	}
	return d
}

// visible shows no-break spaces as "_" so that expectations say where they
// are.
func visible(s string) string {
	return strings.NewReplacer("\u00a0", "_", "\u202f", "_").Replace(s)
}

func TestFormatAmount(t *testing.T) {
	cases := []struct {
		locale, currency, amount, want string
	}{
		// The brief's examples.
		{"en-US", "USD", "1234.56", "$1,234.56"},
		{"de-DE", "EUR", "1234.56", "1.234,56_€"},
		{"ja-JP", "JPY", "1234.56", "￥1,235"}, // rounded to 0 decimals, half away from zero
		// Rounding to the minor unit, half away from zero.
		{"en-US", "USD", "0.125", "$0.13"},
		{"en-US", "USD", "-0.125", "-$0.13"},
		{"en-US", "USD", "0.124999", "$0.12"},
		{"ja-JP", "JPY", "2.5", "￥3"},
		{"ja-JP", "JPY", "-2.5", "-￥3"},
		// Zero and negatives.
		{"en-US", "USD", "0", "$0.00"},
		{"de-DE", "EUR", "-1234567.891", "-1.234.567,89_€"},
		// French: no-break space groups, symbol after.
		{"fr-FR", "EUR", "1234567.5", "1_234_567,50_€"},
		{"fr-FR", "EUR", "999.99", "999,99_€"},
		// Indian grouping (lakh, crore) with ₹.
		{"en-IN", "INR", "1234567.5", "₹12,34,567.50"},
		{"en-IN", "INR", "123456789012", "₹1,23,45,67,89,012.00"},
		{"hi-IN", "INR", "100000", "₹1,00,000.00"},
		{"en-IN", "INR", "999", "₹999.00"},
		// Three decimals; an alphabetic symbol keeps its distance.
		{"en-US", "KWD", "1234.5675", "KWD_1,234.568"},
		{"en-US", "KWD", "0.001", "KWD_0.001"},
		{"ar-KW", "KWD", "1234.5", "KWD_1,234.500"}, // Arabic symbol: ISO code (no bidi in the PDF)
		{"en-US", "CLF", "1.23456", "CLF_1.2346"},   // four decimals
		// Other locales.
		{"de-CH", "CHF", "1234567.5", "CHF_1’234’567.50"},
		{"de-AT", "EUR", "1234.5", "€_1_234,50"},
		{"nl-NL", "EUR", "1234.5", "€_1.234,50"},
		{"pt-BR", "BRL", "1234.5", "R$_1.234,50"},
		{"es-ES", "EUR", "1234.5", "1.234,50_€"},
		{"es-MX", "MXN", "1234.5", "$1,234.50"},
		{"it-IT", "EUR", "1234.5", "1.234,50_€"},
		{"sv-SE", "SEK", "1234.5", "1_234,50_kr"},
		{"en-GB", "GBP", "1234.5", "£1,234.50"},
		{"en-GB", "USD", "1234.5", "US$1,234.50"},
		{"de-DE", "USD", "1234.5", "1.234,50_$"},
		{"ko-KR", "KRW", "1234.5", "₩1,235"},
		{"zh-CN", "CNY", "1234.5", "￥1,234.50"},
		{"en-US", "EUR", "1234.5", "€1,234.50"},
		{"en-US", "ZWG", "5", "ZWG_5.00"}, // unknown to CLDR 32: ISO code
		// A locale that does not parse falls back to en-US.
		{"not a locale", "EUR", "1234.5", "€1,234.50"},
		{"", "USD", "1234.5", "$1,234.50"},
	}
	for _, c := range cases {
		t.Run(c.locale+"/"+c.currency+"/"+c.amount, func(t *testing.T) {
			cur := money.MustParseCurrency(c.currency)
			f := NewFormat(c.locale, cur)
			got := f.Amount(dec(t, c.amount))
			if visible(got) != c.want {
				t.Fatalf("Amount(%s) in %s = %q, want %q", c.amount, c.locale, visible(got), c.want)
			}
			back, err := f.ParseAmount(got)
			if err != nil {
				t.Fatalf("ParseAmount(%q): %v", got, err)
			}
			if want := cur.Round(dec(t, c.amount)); back.Cmp(want) != 0 {
				t.Fatalf("ParseAmount(%q) = %s, want %s", got, back, want)
			}
		})
	}
}

func TestFormatNumberAndPrice(t *testing.T) {
	cases := []struct {
		locale, currency, value, number, price string
	}{
		{"en-US", "USD", "1234.5", "1,234.5", "1,234.50"},
		{"en-US", "USD", "0.000016", "0.000016", "0.000016"},
		{"de-DE", "EUR", "1234567.125", "1.234.567,125", "1.234.567,125"},
		{"de-DE", "EUR", "-0.5", "-0,5", "-0,50"},
		{"fr-FR", "EUR", "12345.678901234", "12_345,678901234", "12_345,678901234"},
		{"ja-JP", "JPY", "1234.5", "1,234.5", "1,234.5"},
		{"ja-JP", "JPY", "1234", "1,234", "1,234"},
		{"en-IN", "INR", "12345678", "1,23,45,678", "1,23,45,678.00"},
		{"en-US", "KWD", "2", "2", "2.000"},
		{"en-US", "USD", "0", "0", "0.00"},
		{"en-US", "USD", "999", "999", "999.00"},
		{"en-US", "USD", "1000", "1,000", "1,000.00"},
	}
	for _, c := range cases {
		f := NewFormat(c.locale, money.MustParseCurrency(c.currency))
		d := dec(t, c.value)
		if got := visible(f.Number(d)); got != c.number {
			t.Errorf("%s Number(%s) = %q, want %q", c.locale, c.value, got, c.number)
		}
		if got := visible(f.Price(d)); got != c.price {
			t.Errorf("%s %s Price(%s) = %q, want %q", c.locale, c.currency, c.value, got, c.price)
		}
		for _, s := range []string{f.Number(d), f.Price(d)} {
			back, err := f.ParseAmount(s)
			if err != nil || back.Cmp(d) != 0 {
				t.Errorf("%s ParseAmount(%q) = %s, %v; want %s", c.locale, s, back, err, d)
			}
		}
	}
}

func TestParseAmountRejects(t *testing.T) {
	de := NewFormat("de-DE", money.MustParseCurrency("EUR"))
	us := NewFormat("en-US", money.MustParseCurrency("USD"))
	for _, c := range []struct {
		f Format
		s string
	}{
		{de, ""}, {de, "€"}, {de, "1.234.56 €"}, {de, "12a,00 €"}, {de, "1,2,3 €"},
		{us, "$"}, {us, "1.2.3"}, {us, "$1e5"}, {us, "--1"}, {us, "$ 1,234.56 extra"},
	} {
		if d, err := c.f.ParseAmount(c.s); !errors.Is(err, ErrAmountSyntax) {
			t.Errorf("%s ParseAmount(%q) = %s, %v; want ErrAmountSyntax", c.f.Locale(), c.s, d, err)
		}
	}
	// Text extracted from a PDF: no-break spaces turned into spaces.
	fr := NewFormat("fr-FR", money.MustParseCurrency("EUR"))
	if d, err := fr.ParseAmount("-1 234 567,89 €"); err != nil || d.Cmp(dec(t, "-1234567.89")) != 0 {
		t.Errorf("fr-FR ParseAmount = %s, %v", d, err)
	}
}

// TestFormatRoundTrip: for any amount and locale, ParseAmount(Amount(d))
// is d rounded to the minor unit, and Number is exact.
func TestFormatRoundTrip(t *testing.T) {
	locales := []string{"en-US", "de-DE", "fr-FR", "ja-JP", "en-IN", "de-CH", "nl-NL", "pt-BR", "sv-SE", "ar-KW"}
	currencies := []string{"USD", "EUR", "JPY", "INR", "KWD", "CHF", "CLF"}
	rapid.Check(t, func(t *rapid.T) {
		f := NewFormat(rapid.SampledFrom(locales).Draw(t, "locale"), money.MustParseCurrency(rapid.SampledFrom(currencies).Draw(t, "currency")))
		units := rapid.Int64Range(-1e15, 1e15).Draw(t, "units")
		frac := rapid.IntRange(0, 999999).Draw(t, "frac")
		d, err := money.ParseDecimal(fmt.Sprintf("%d.%06d", units, frac))
		if err != nil {
			t.Fatal(err)
		}
		if units == 0 && rapid.Bool().Draw(t, "negative") {
			d = d.Neg()
		}
		s := f.Amount(d)
		back, err := f.ParseAmount(s)
		if err != nil {
			t.Fatalf("ParseAmount(%q): %v", s, err)
		}
		if want := f.cur.Round(d); back.Cmp(want) != 0 {
			t.Fatalf("ParseAmount(%q) = %s, want %s", s, back, want)
		}
		n := f.Number(d)
		if back, err := f.ParseAmount(n); err != nil || back.Cmp(d) != 0 {
			t.Fatalf("ParseAmount(Number %q) = %s, %v; want %s", n, back, err, d)
		}
	})
}

func TestFontCoverage(t *testing.T) {
	for _, r := range "€£¥₹₩₽₺₪$üßéøåçœŁŽČΩЖ–·’\u00a0" {
		if !fontRegular.covers(r) {
			t.Errorf("DejaVu Sans lacks %q (U+%04X)", r, r)
		}
		if !fontBold.covers(r) {
			t.Errorf("DejaVu Sans Bold lacks %q (U+%04X)", r, r)
		}
	}
	for _, r := range "日本語データ転送中文仮想￥" {
		if fontRegular.covers(r) {
			t.Errorf("DejaVu Sans unexpectedly has %q: the fallback would never be used", r)
		}
		if !fontFallback.covers(r) {
			t.Errorf("Droid Sans Fallback lacks %q (U+%04X)", r, r)
		}
	}
	// Documented gaps: most Hangul syllables and ₿ have no glyph in either font.
	for _, r := range "한₿" {
		if fontRegular.covers(r) || fontFallback.covers(r) {
			t.Errorf("%q is covered now: update the package documentation", r)
		}
	}
	if _, err := parseCoverage([]byte("not a font")); err == nil {
		t.Error("parseCoverage accepted garbage")
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"tab\tnew\nline":   "tab new line",
		"emoji 😀 here":     "emoji \uFFFD here",
		"del\x7f c1\u0085": "del  c1 ",
		"Größe ￥ 日本":       "Größe ￥ 日本",
	} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
}
