package money

import (
	"errors"
	"fmt"
	"sort"
)

// Currency is an ISO 4217 currency that Reckon can bill in: its upper-case
// alphabetic code and its minor units (the number of fractional digits an
// amount in it is rounded to). The zero Currency is not a currency; obtain
// values from ParseCurrency or MustParseCurrency. Currencies compare with ==.
type Currency struct {
	code  string
	minor uint8
}

// Errors returned by ParseCurrency.
var (
	ErrCurrencySyntax  = errors.New("not a three-letter currency code")
	ErrCurrencyUnknown = errors.New("not an ISO 4217 currency")
)

// ParseCurrency returns the currency with ISO 4217 alphabetic code s, in any
// letter case ("usd", "Usd" and "USD" are USD). It rejects anything but three
// ASCII letters (ErrCurrencySyntax) and codes that are not in Reckon's table
// (ErrCurrencyUnknown), which is ISO 4217 List One without the codes that have
// no minor unit (see isoCurrencies).
func ParseCurrency(s string) (Currency, error) {
	if len(s) != 3 {
		return Currency{}, fmt.Errorf("currency %q: %w", s, ErrCurrencySyntax)
	}
	var key [3]byte
	for i := range 3 {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z':
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		default:
			return Currency{}, fmt.Errorf("currency %q: %w", s, ErrCurrencySyntax)
		}
		key[i] = c
	}
	code := string(key[:])
	i := sort.Search(len(isoCurrencies), func(i int) bool { return isoCurrencies[i].code >= code })
	if i == len(isoCurrencies) || isoCurrencies[i].code != code {
		return Currency{}, fmt.Errorf("currency %q: %w", s, ErrCurrencyUnknown)
	}
	return isoCurrencies[i], nil
}

// MustParseCurrency is ParseCurrency for constants known to be valid; it
// panics on an error.
func MustParseCurrency(s string) Currency {
	c, err := ParseCurrency(s)
	if err != nil {
		panic(err)
	}
	return c
}

// Currencies returns every currency ParseCurrency accepts, sorted by code.
// The caller may modify the returned slice.
func Currencies() []Currency {
	return append([]Currency(nil), isoCurrencies...)
}

// String returns the upper-case ISO 4217 code ("USD"), or "" for the zero
// Currency.
func (c Currency) String() string { return c.code }

// IsZero reports whether c is the zero Currency (no currency).
func (c Currency) IsZero() bool { return c.code == "" }

// MinorUnits returns the number of fractional digits of c's minor unit: 2 for
// USD, 0 for JPY, 3 for KWD, 4 for CLF.
func (c Currency) MinorUnits() uint8 { return c.minor }

// Round rounds d to c's minor unit, halves away from zero (DESIGN.md): in USD
// 0.125 → 0.13 and -0.125 → -0.13; in JPY 2.5 → 3.
func (c Currency) Round(d Decimal) Decimal { return d.RoundHalfAwayFromZero(c.minor) }

// FormatAmount rounds d to c's minor unit (see Round) and renders it with
// exactly that many fractional digits: "670.00" in USD, "3" in JPY, "0.038"
// in KWD. It is for display; amounts are stored and summed as Decimals.
func (c Currency) FormatAmount(d Decimal) string { return c.Round(d).StringFixed(c.minor) }

// MarshalText renders c as its ISO code. The zero Currency marshals as "".
func (c Currency) MarshalText() ([]byte, error) { return []byte(c.code), nil }

// UnmarshalText parses an ISO code as ParseCurrency does (any case).
func (c *Currency) UnmarshalText(b []byte) error {
	v, err := ParseCurrency(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// isoCurrencies is ISO 4217 List One as published by the maintenance agency
// (SIX) on 2026-01-01, sorted by code, each code once with its minor units.
//
// Left out on purpose, because they have no minor unit ("N.A." in the list)
// and cannot carry a billed amount: XAG, XAU, XPD, XPT (precious metals),
// XBA, XBB, XBC, XBD (bond-market units), XDR, XSU, XUA (units of account),
// XTS (testing) and XXX (no currency). Codes withdrawn before 2026-01-01
// (e.g. ANG, BGN, CUC, HRK, SLL, ZWL: ISO 4217 List Three) are not accepted.
//
// Why a typed table and not golang.org/x/text/currency: that package's table
// is generated from CLDR 32 (2017). It lacks codes introduced since (MRU, SLE,
// UYW, VED, VES, XAD, XCG, ZWG), holds about 120 withdrawn codes, and its
// "standard digits" are CLDR's display digits, which differ from ISO's minor
// units for 22 codes (e.g. IQD 0 instead of 3, LBP/IRR/RSD/… 0 instead of 2).
// currency_test.go cross-checks every entry against x/text, listing those
// differences exactly, so that a typing mistake here cannot pass unnoticed.
var isoCurrencies = []Currency{
	{"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"AOA", 2}, {"ARS", 2},
	{"AUD", 2}, {"AWG", 2}, {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2},
	{"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2}, {"BOB", 2}, {"BOV", 2},
	{"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2},
	{"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4},
	{"CLP", 0}, {"CNY", 2}, {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUP", 2},
	{"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2}, {"DOP", 2}, {"DZD", 2},
	{"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2},
	{"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0},
	{"GTQ", 2}, {"GYD", 2}, {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2},
	{"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3}, {"IRR", 2}, {"ISK", 0},
	{"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2},
	{"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2},
	{"LAK", 2}, {"LBP", 2}, {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3},
	{"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2}, {"MMK", 2}, {"MNT", 2},
	{"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2},
	{"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2},
	{"NOK", 2}, {"NPR", 2}, {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2},
	{"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2}, {"PYG", 0}, {"QAR", 2},
	{"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2},
	{"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2},
	{"SOS", 2}, {"SRD", 2}, {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2},
	{"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2}, {"TND", 3}, {"TOP", 2},
	{"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0},
	{"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2},
	{"VED", 2}, {"VES", 2}, {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAD", 2},
	{"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0}, {"XPF", 0}, {"YER", 2},
	{"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
}
