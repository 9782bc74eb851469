package invoicepdf

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/currency"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/number"

	"github.com/reckon-billing/reckon/internal/money"
)

// Format renders numbers and amounts of one currency the way a locale
// writes them: "1.234,56 €" in de-DE, "$1,234.56" in en-US, "￥1,235" in
// ja-JP, "₹12,34,567.00" in en-IN, "KWD 1,234.567" in en-US. It works on
// exact decimals only: amounts are rounded to the currency's minor unit
// (half away from zero, as money.Currency.Round does), never through a
// float.
//
// The separators and the grouping (3 digits, or 3 then 2 for Indian
// locales) come from CLDR through golang.org/x/text; the symbol is CLDR's
// for the locale, replaced by the ISO code when the embedded fonts cannot
// draw it or it is written right to left; the symbol's position follows a
// table of the languages that write it after the number. Negative amounts
// carry a leading hyphen-minus: "-1.234,56 €", "-$1,234.56".
type Format struct {
	locale    language.Tag
	cur       money.Currency
	decimal   string // decimal separator
	group     string // grouping separator; "" when the locale does not group
	secondary int    // size of the groups left of the first (3, or 2 in India)
	symbol    string
	suffix    bool // the symbol follows the number
	space     bool // a no-break space separates symbol and number
}

const nbsp = "\u00a0"

var formatCache sync.Map // formatKey → Format

type formatKey struct{ locale, currency string }

// NewFormat returns the format of cur in locale, a BCP 47 tag. A tag that
// does not parse falls back to en-US, so that an invoice always renders.
func NewFormat(locale string, cur money.Currency) Format {
	key := formatKey{locale, cur.String()}
	if f, ok := formatCache.Load(key); ok {
		return f.(Format)
	}
	f := newFormat(locale, cur)
	formatCache.Store(key, f)
	return f
}

func newFormat(locale string, cur money.Currency) Format {
	tag, err := language.Parse(locale)
	if err != nil || tag == language.Und {
		tag = language.AmericanEnglish
	}
	f := Format{locale: tag, cur: cur, decimal: ".", group: ",", secondary: 3}
	p := message.NewPrinter(tag)

	// Separators and grouping, probed with integers from CLDR's patterns.
	if d := p.Sprint(number.Decimal(int64(1), number.MinFractionDigits(1))); asciiDigitsAround(d) {
		f.decimal = d[1 : len(d)-1]
	}
	if g := p.Sprint(number.Decimal(int64(1234567890))); g != "" && g[0] == '1' && g[len(g)-1] == '0' {
		if digitsOnly(g) {
			f.group = "" // no grouping
		} else if groups := splitDigits(g); groups != nil {
			f.group = groups.sep
			f.secondary = groups.secondary
		}
	}

	// The symbol.
	f.symbol = cur.String()
	if u, err := currency.ParseISO(cur.String()); err == nil {
		if s := p.Sprint(currency.Symbol(u)); drawable(s) {
			f.symbol = s
		}
	}
	f.suffix, f.space = currencyPattern(tag)
	if !f.suffix && !f.space {
		// CLDR's currency spacing: a symbol ending in a letter ("KWD",
		// "CHF", "kr") is kept apart from the digits.
		r := []rune(f.symbol)
		if last := r[len(r)-1]; unicode.IsLetter(last) {
			f.space = true
		}
	}
	return f
}

// asciiDigitsAround reports whether s is "1<sep>0" with a non-empty
// separator.
func asciiDigitsAround(s string) bool {
	return len(s) >= 3 && s[0] == '1' && s[len(s)-1] == '0' && !digitsOnly(s[1:len(s)-1])
}

func digitsOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

type grouping struct {
	sep       string
	secondary int
}

// splitDigits reads the grouping of "1,234,567,890" or "1,23,45,67,890".
func splitDigits(s string) *grouping {
	var runs []string
	var seps []string
	i := 0
	for i < len(s) {
		j := i
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return nil
		}
		runs = append(runs, s[i:j])
		k := j
		for k < len(s) && (s[k] < '0' || s[k] > '9') {
			k++
		}
		if k > j {
			seps = append(seps, s[j:k])
		}
		i = k
	}
	if len(runs) < 3 || len(runs[len(runs)-1]) != 3 {
		return nil
	}
	for _, sep := range seps[1:] {
		if sep != seps[0] {
			return nil
		}
	}
	sec := len(runs[len(runs)-2])
	if sec != 2 && sec != 3 {
		return nil
	}
	return &grouping{sep: seps[0], secondary: sec}
}

// drawable reports whether the embedded fonts draw s left to right: every
// character has a glyph and none is Arabic, Hebrew or a format control.
func drawable(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if unicode.In(r, unicode.Arabic, unicode.Hebrew, unicode.Cf) {
			return false
		}
		if !fontRegular.covers(r) && !fontFallback.covers(r) {
			return false
		}
	}
	return true
}

// currencyPattern says where a locale writes the currency symbol (CLDR's
// standard currency pattern, simplified to: before or after the number,
// with or without a space).
func currencyPattern(tag language.Tag) (suffix, space bool) {
	base, _ := tag.Base()
	region, _ := tag.Region()
	r := region.String()
	switch base.String() {
	case "de":
		if r == "AT" || r == "CH" || r == "LI" {
			return false, true // "€ 1.234,56", "CHF 1’234.56"
		}
		return true, true
	case "it":
		if r == "CH" {
			return false, true
		}
		return true, true
	case "es":
		if r == "ES" || r == "EA" || r == "IC" || r == "GQ" {
			return true, true // "1.234,56 €"
		}
		return false, false // Latin America: "$1,234.56"
	case "pt":
		if r == "BR" {
			return false, true // "R$ 1.234,56"
		}
		return true, true // "1 234,56 €"
	case "nl":
		return false, true // "€ 1.234,56"
	case "fr", "sv", "nb", "nn", "no", "da", "fi", "pl", "cs", "sk", "sl",
		"hr", "ro", "hu", "bg", "el", "uk", "ru", "be", "lt", "lv", "et",
		"ca", "eu", "gl", "is", "vi", "sr", "mk", "bs", "sq", "lb", "az",
		"hy", "ka", "kk", "ky", "uz", "tk", "tt":
		return true, true
	}
	return false, false // "$1,234.56", "￥1,235", "₹1,234.00"
}

// Locale returns the locale the format uses (en-US when the one asked for
// did not parse).
func (f Format) Locale() string { return f.locale.String() }

// Symbol returns the currency symbol printed with amounts.
func (f Format) Symbol() string { return f.symbol }

// Amount renders d rounded to the currency's minor unit, with the symbol:
// "1.234,56 €".
func (f Format) Amount(d money.Decimal) string {
	num := f.cur.FormatAmount(d)
	neg := strings.HasPrefix(num, "-")
	num = f.localize(strings.TrimPrefix(num, "-"))
	sep := ""
	if f.space {
		sep = nbsp
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	if f.suffix {
		b.WriteString(num)
		b.WriteString(sep)
		b.WriteString(f.symbol)
	} else {
		b.WriteString(f.symbol)
		b.WriteString(sep)
		b.WriteString(num)
	}
	return b.String()
}

// Number renders d exactly, without the symbol and without trailing zeros:
// "1.234,5" in de-DE.
func (f Format) Number(d money.Decimal) string {
	return f.signed(d.String())
}

// Price renders a unit price exactly, without the symbol, with at least
// the currency's minor digits: "0,05" and "0,000016" in de-DE for EUR.
func (f Format) Price(d money.Decimal) string {
	return f.signed(d.StringFixed(f.cur.MinorUnits()))
}

func (f Format) signed(plain string) string {
	if rest, ok := strings.CutPrefix(plain, "-"); ok {
		return "-" + f.localize(rest)
	}
	return f.localize(plain)
}

// localize rewrites a plain unsigned decimal ("1234567.25") with the
// locale's grouping and decimal separator.
func (f Format) localize(plain string) string {
	intPart, frac, hasFrac := strings.Cut(plain, ".")
	var b strings.Builder
	b.Grow(len(plain) + 8)
	if f.group == "" || len(intPart) <= 3 {
		b.WriteString(intPart)
	} else {
		head, tail := intPart[:len(intPart)-3], intPart[len(intPart)-3:]
		first := len(head) % f.secondary
		if first == 0 {
			first = f.secondary
		}
		b.WriteString(head[:first])
		for i := first; i < len(head); i += f.secondary {
			b.WriteString(f.group)
			b.WriteString(head[i : i+f.secondary])
		}
		b.WriteString(f.group)
		b.WriteString(tail)
	}
	if hasFrac {
		b.WriteString(f.decimal)
		b.WriteString(frac)
	}
	return b.String()
}

// ErrAmountSyntax is returned by ParseAmount for text that is not an amount
// in the format.
var ErrAmountSyntax = errors.New("invoicepdf: not an amount in this format")

// ParseAmount reads back an amount or number written by Amount, Number or
// Price, with or without the symbol, as text extracted from a PDF gives it
// (any kind of space may stand for the no-break spaces). It is exact.
func (f Format) ParseAmount(s string) (money.Decimal, error) {
	norm := func(v string) string {
		return strings.Map(func(r rune) rune {
			if unicode.IsSpace(r) || r == '\u202f' {
				return ' '
			}
			return r
		}, v)
	}
	t := strings.TrimSpace(norm(s))
	neg := false
	if rest, ok := strings.CutPrefix(t, "-"); ok {
		neg, t = true, rest
	} else if rest, ok := strings.CutPrefix(t, "\u2212"); ok {
		neg, t = true, rest
	}
	sym := norm(f.symbol)
	if rest, ok := strings.CutPrefix(t, sym); ok {
		t = rest
	} else if rest, ok := strings.CutSuffix(t, sym); ok {
		t = rest
	}
	t = strings.TrimSpace(t)
	grouped := strings.ReplaceAll(t, " ", "")
	if g := norm(f.group); g != "" {
		t = strings.ReplaceAll(t, g, "")
	}
	t = strings.ReplaceAll(t, " ", "")
	if f.decimal != "." {
		if strings.Contains(t, ".") {
			return money.Decimal{}, fmt.Errorf("%w: %q", ErrAmountSyntax, s)
		}
		t = strings.Replace(t, norm(f.decimal), ".", 1)
	}
	if t == "" || strings.Count(t, ".") > 1 || !digitsOnly(strings.Replace(t, ".", "", 1)) {
		return money.Decimal{}, fmt.Errorf("%w: %q", ErrAmountSyntax, s)
	}
	d, err := money.ParseDecimal(t)
	if err != nil {
		return money.Decimal{}, fmt.Errorf("%w: %q", ErrAmountSyntax, s)
	}
	// The separators must stand where the format puts them.
	if strings.ReplaceAll(norm(f.localize(t)), " ", "") != grouped {
		return money.Decimal{}, fmt.Errorf("%w: %q", ErrAmountSyntax, s)
	}
	if neg {
		d = d.Neg()
	}
	return d, nil
}
