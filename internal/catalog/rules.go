package catalog

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/language"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Error codes of the catalog's validation, stable for callers.
const (
	CodeInvalidOffer       = "InvalidOffer"       // a malformed or unknown offer durable id
	CodeInvalidCurrency    = "InvalidCurrency"    // not an ISO 4217 currency Reckon bills in
	CodeInvalidLocale      = "InvalidLocale"      // not a BCP 47 language tag
	CodeInvalidRegionInfo  = "InvalidRegionInfo"  // not an ISO 3166-1 alpha-2 country
	CodeCurrencyNotOffered = "CurrencyNotOffered" // the offer is not sold in that currency
	CodeRegionNotOffered   = "RegionNotOffered"   // the offer is not sold in that country
	CodeCurrencyIsDerived  = "CurrencyIsDerived"  // prices were given for a derived currency
	CodeInvalidProperty    = "InvalidProperty"
	CodeMissingProperty    = "MissingProperty"
	CodeInvalidMeterID     = "InvalidMeterId"
	CodeInvalidOfferTerm   = "InvalidOfferTerm"
	CodeInvalidTiers       = "InvalidTiers"
	CodeInvalidPrice       = "InvalidPrice"
	CodeInvalidQuantity    = "InvalidQuantity"
	CodeInvalidDate        = "InvalidEffectiveDate"
)

// Precision limits. Rating multiplies a price (at most PriceDigits
// fractional digits) by a quantity (at most QuantityDigits, like
// money.Quantity) and stays exact within the decimal library's 19 digits;
// a derived currency multiplies a price by an exchange rate of at most
// ExchangeRateDigits and rounds to at most PriceDigits again.
const (
	PriceDigits        = 10
	QuantityDigits     = 9
	ExchangeRateDigits = 9
	PercentDigits      = 6
	// MaxRoundingDecimals bounds OfferCurrency.RoundingDecimals.
	MaxRoundingDecimals = PriceDigits
	// MaxTiers bounds the tiers of one rate and the steps of one discount.
	MaxTiers = 100
)

// offerIDPattern is the durable id syntax of the RateCard's filter (S1).
var offerIDPattern = regexp.MustCompile(`^MS-AZR-\d{4}P(-\d{4}P)*$`)

// NormalizeOfferID checks an offer durable id ("MS-AZR-0003P"), accepted in
// any letter case, and returns it in upper case.
func NormalizeOfferID(s string) (string, error) {
	up := strings.ToUpper(s)
	if !offerIDPattern.MatchString(up) {
		return "", billing.Invalid(CodeInvalidOffer, "offerDurableId",
			"The offer durable id '%s' is not valid: it is 'MS-AZR-' followed by the offer number, such as 'MS-AZR-0003P'.", clipText(s))
	}
	return up, nil
}

// NormalizeCurrency checks an ISO 4217 currency code (any letter case) and
// returns it in upper case.
func NormalizeCurrency(s string) (string, error) {
	return checkCurrency(s, "currency")
}

// checkCurrency is the one place that decides what a currency is.
func checkCurrency(s, target string) (string, error) {
	c, err := money.ParseCurrency(s)
	if err != nil {
		return "", billing.Invalid(CodeInvalidCurrency, target, "The currency '%s' is not an ISO 4217 currency code Reckon bills in.", clipText(s))
	}
	return c.String(), nil
}

// NormalizeLocale checks a BCP 47 language tag ("en-us", "de_DE") and
// returns its canonical form ("en-US", "de-DE").
func NormalizeLocale(s string) (string, error) {
	bad := billing.Invalid(CodeInvalidLocale, "locale", "The locale '%s' is not a BCP 47 language tag such as 'en-US'.", clipText(s))
	if s == "" || len(s) > 64 {
		return "", bad
	}
	tag, err := language.Parse(s)
	if err != nil {
		return "", bad
	}
	if _, conf := tag.Base(); conf != language.Exact {
		return "", bad // "und", or a private-use tag without a language
	}
	return tag.String(), nil
}

// notCountries are codes that x/text treats as countries but ISO 3166-1
// only reserves ("exceptionally reserved"), or that are groupings.
var notCountries = []string{"AC", "CP", "DG", "EA", "EU", "EZ", "FX", "IC", "SU", "TA", "UK", "UN"}

// NormalizeRegion checks an ISO 3166-1 alpha-2 country code (the RateCard's
// RegionInfo, any letter case) and returns it in upper case.
func NormalizeRegion(s string) (string, error) {
	bad := billing.Invalid(CodeInvalidRegionInfo, "regionInfo", "The regionInfo '%s' is not an ISO 3166-1 two-letter country code such as 'US'.", clipText(s))
	if len(s) != 2 || !isASCIILetter(s[0]) || !isASCIILetter(s[1]) {
		return "", bad
	}
	up := strings.ToUpper(s)
	r, err := language.ParseRegion(up)
	if err != nil || !r.IsCountry() || r.String() != up || slices.Contains(notCountries, up) {
		return "", bad
	}
	return up, nil
}

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

// fracDigits is the number of significant fractional digits of d.
func fracDigits(d money.Decimal) int {
	s := d.String()
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// checkAmount checks a non-negative decimal with at most digits fractional
// digits; what names it in the message.
func checkAmount(code, target, what string, d money.Decimal, digits int) error {
	if d.Sign() < 0 {
		return billing.Invalid(code, target, "The %s must not be negative (got %s).", what, d)
	}
	if fracDigits(d) > digits {
		return billing.Invalid(code, target, "The %s has more than %d fractional digits (got %s).", what, digits, d)
	}
	return nil
}

// Normalize checks an offer and puts it in canonical form: upper-case
// durable id (given by id, which wins over the body's), a name (the durable
// id when empty), currencies sorted by code with their derivation rules
// checked, regions upper case, sorted and unique.
func (o *Offer) Normalize(id string) error {
	oid, err := NormalizeOfferID(id)
	if err != nil {
		return err
	}
	if o.DurableID != "" {
		if body, err := NormalizeOfferID(o.DurableID); err != nil || body != oid {
			return billing.Invalid(CodeInvalidProperty, "offerDurableId", "The offerDurableId in the body does not match the path.")
		}
	}
	o.DurableID = oid
	if o.Name == "" {
		o.Name = oid
	}
	if err := CheckText("name", o.Name, true, 256); err != nil {
		return err
	}
	if len(o.Currencies) == 0 {
		return billing.Invalid(CodeMissingProperty, "currencies", "An offer is sold in at least one currency.")
	}
	cur := make([]OfferCurrency, len(o.Currencies))
	for i, c := range o.Currencies {
		if c.Currency, err = checkCurrency(c.Currency, "currencies"); err != nil {
			return err
		}
		if c.BaseCurrency != "" {
			if c.BaseCurrency, err = checkCurrency(c.BaseCurrency, "currencies.baseCurrency"); err != nil {
				return err
			}
		}
		cur[i] = c
	}
	slices.SortFunc(cur, func(a, b OfferCurrency) int { return strings.Compare(a.Currency, b.Currency) })
	for i, c := range cur {
		if i > 0 && cur[i-1].Currency == c.Currency {
			return billing.Invalid(CodeInvalidProperty, "currencies", "The currency %s is listed twice.", c.Currency)
		}
		if err := c.check(cur); err != nil {
			return err
		}
	}
	o.Currencies = cur
	regions := make([]string, 0, len(o.Regions))
	for _, r := range o.Regions {
		n, err := NormalizeRegion(r)
		if err != nil {
			return err
		}
		if !slices.Contains(regions, n) {
			regions = append(regions, n)
		}
	}
	slices.Sort(regions)
	o.Regions = regions
	return nil
}

// check validates one currency of an offer against all of them (sorted).
func (c OfferCurrency) check(all []OfferCurrency) error {
	const target = "currencies"
	if c.BaseCurrency == "" {
		if !c.ExchangeRate.IsZero() || c.RoundingDecimals != 0 {
			return billing.Invalid(CodeInvalidProperty, target,
				"The currency %s has its own price list: it takes no exchangeRate or roundingDecimals (name a baseCurrency to derive it).", c.Currency)
		}
		return nil
	}
	if c.BaseCurrency == c.Currency {
		return billing.Invalid(CodeInvalidProperty, target, "The currency %s cannot be derived from itself.", c.Currency)
	}
	i := slices.IndexFunc(all, func(b OfferCurrency) bool { return b.Currency == c.BaseCurrency })
	if i < 0 {
		return billing.Invalid(CodeInvalidProperty, target, "The currency %s is derived from %s, which the offer is not sold in.", c.Currency, c.BaseCurrency)
	}
	if all[i].BaseCurrency != "" {
		return billing.Invalid(CodeInvalidProperty, target,
			"The currency %s is derived from %s, which is itself derived: a base currency has its own price list.", c.Currency, c.BaseCurrency)
	}
	if c.ExchangeRate.Sign() <= 0 {
		return billing.Invalid(CodeInvalidProperty, target, "The exchangeRate of %s must be greater than 0.", c.Currency)
	}
	if fracDigits(c.ExchangeRate) > ExchangeRateDigits {
		return billing.Invalid(CodeInvalidProperty, target, "The exchangeRate of %s has more than %d fractional digits.", c.Currency, ExchangeRateDigits)
	}
	if c.RoundingDecimals < 0 || c.RoundingDecimals > MaxRoundingDecimals {
		return billing.Invalid(CodeInvalidProperty, target, "The roundingDecimals of %s must be between 0 and %d.", c.Currency, MaxRoundingDecimals)
	}
	return nil
}

// Currency returns the offer's currency code cur (upper case), if sold.
func (o *Offer) Currency(cur string) (OfferCurrency, bool) {
	for _, c := range o.Currencies {
		if c.Currency == cur {
			return c, true
		}
	}
	return OfferCurrency{}, false
}

// Derived reports whether c takes its prices from another currency.
func (c OfferCurrency) Derived() bool { return c.BaseCurrency != "" }

// Convert returns the amount d of the base currency in c: d × ExchangeRate
// rounded half away from zero to RoundingDecimals. For a currency with its
// own list it returns d.
func (c OfferCurrency) Convert(d money.Decimal) money.Decimal {
	if !c.Derived() {
		return d
	}
	return d.Mul(c.ExchangeRate).RoundHalfAwayFromZero(uint8(c.RoundingDecimals))
}

// ConvertRate returns r priced in c (see Convert); the tier bounds and the
// included quantity are quantities and do not change.
func (c OfferCurrency) ConvertRate(r Rate) Rate {
	if !c.Derived() {
		return r
	}
	tiers := make([]Tier, len(r.Tiers))
	for i, t := range r.Tiers {
		tiers[i] = Tier{Min: t.Min, Price: c.Convert(t.Price)}
	}
	r.Tiers, r.Currency = tiers, c.Currency
	return r
}

// ConvertTerm returns t in c: credit, recurring charge and the spend bounds
// of a tiered discount are amounts; the percentages do not change.
func (c OfferCurrency) ConvertTerm(t OfferTerm) OfferTerm {
	if !c.Derived() {
		return t
	}
	t.Currency = c.Currency
	t.Credit = c.Convert(t.Credit)
	t.RecurringCharge = c.Convert(t.RecurringCharge)
	if t.TieredDiscount != nil {
		td := make([]DiscountTier, len(t.TieredDiscount))
		for i, d := range t.TieredDiscount {
			td[i] = DiscountTier{Min: c.Convert(d.Min), Percent: d.Percent}
		}
		t.TieredDiscount = td
	}
	return t
}

// NormalizeTermName returns the wire name of an offer term given in any
// letter case.
func NormalizeTermName(s string) (string, bool) {
	for _, n := range []string{TermMonetaryCredit, TermMonetaryCommitment, TermRecurringCharge} {
		if strings.EqualFold(s, n) {
			return n, true
		}
	}
	return "", false
}

// Normalize checks an offer term: its name (one of the three wire names),
// an effective date, the amounts its kind takes (non-negative, at most
// PriceDigits fractional digits) and none of the others. Excluded meter
// ids become lower-case GUIDs, sorted and unique; discount steps are sorted
// by Min, the first at 0, with percentages from 0 to 100.
func (t *OfferTerm) Normalize() error {
	name, ok := NormalizeTermName(t.Name)
	if !ok {
		return billing.Invalid(CodeInvalidOfferTerm, "name",
			"The offer term name '%s' is not one of 'Monetary Credit', 'Monetary Commitment', 'Recurring Charge'.", clipText(t.Name))
	}
	t.Name = name
	if err := checkEffective(t.EffectiveDate); err != nil {
		return err
	}
	t.EffectiveDate = t.EffectiveDate.UTC()
	bad := func(field string) error {
		return billing.Invalid(CodeInvalidOfferTerm, field, "A '%s' term has no %s.", name, field)
	}
	switch name {
	case TermMonetaryCredit:
		if err := checkAmount(CodeInvalidOfferTerm, "credit", "credit", t.Credit, PriceDigits); err != nil {
			return err
		}
		if len(t.TieredDiscount) > 0 {
			return bad("tieredDiscount")
		}
		if !t.RecurringCharge.IsZero() {
			return bad("recurringCharge")
		}
	case TermMonetaryCommitment:
		if !t.Credit.IsZero() {
			return bad("credit")
		}
		if !t.RecurringCharge.IsZero() {
			return bad("recurringCharge")
		}
		if err := normalizeDiscount(t); err != nil {
			return err
		}
	case TermRecurringCharge:
		if err := checkAmount(CodeInvalidOfferTerm, "recurringCharge", "recurring charge", t.RecurringCharge, PriceDigits); err != nil {
			return err
		}
		if !t.Credit.IsZero() {
			return bad("credit")
		}
		if len(t.TieredDiscount) > 0 {
			return bad("tieredDiscount")
		}
		if len(t.ExcludedMeterIDs) > 0 {
			return bad("excludedMeterIds")
		}
	}
	ids := make([]string, 0, len(t.ExcludedMeterIDs))
	for _, id := range t.ExcludedMeterIDs {
		g, ok := billing.ParseGUID(id)
		if !ok {
			return billing.Invalid(CodeInvalidOfferTerm, "excludedMeterIds", "The excluded meter id '%s' is not a GUID.", clipText(id))
		}
		ids = append(ids, g)
	}
	slices.Sort(ids)
	t.ExcludedMeterIDs = slices.Compact(ids)
	if len(t.ExcludedMeterIDs) == 0 {
		t.ExcludedMeterIDs = nil
	}
	return nil
}

var hundred = money.DecimalFromInt(100)

func normalizeDiscount(t *OfferTerm) error {
	const target = "tieredDiscount"
	if len(t.TieredDiscount) == 0 {
		return billing.Invalid(CodeInvalidOfferTerm, target, "A 'Monetary Commitment' term has at least one discount step (from 0).")
	}
	if len(t.TieredDiscount) > MaxTiers {
		return billing.Invalid(CodeInvalidOfferTerm, target, "A discount has at most %d steps.", MaxTiers)
	}
	td := slices.Clone(t.TieredDiscount)
	slices.SortStableFunc(td, func(a, b DiscountTier) int { return a.Min.Cmp(b.Min) })
	for i, d := range td {
		if err := checkAmount(CodeInvalidOfferTerm, target, "discount step's lower bound", d.Min, PriceDigits); err != nil {
			return err
		}
		if err := checkAmount(CodeInvalidOfferTerm, target, "discount percentage", d.Percent, PercentDigits); err != nil {
			return err
		}
		if d.Percent.Cmp(hundred) > 0 {
			return billing.Invalid(CodeInvalidOfferTerm, target, "A discount percentage is at most 100 (got %s).", d.Percent)
		}
		if i > 0 && td[i-1].Min.Cmp(d.Min) == 0 {
			return billing.Invalid(CodeInvalidOfferTerm, target, "The discount step from %s is given twice.", d.Min)
		}
	}
	if !td[0].Min.IsZero() {
		return billing.Invalid(CodeInvalidOfferTerm, target, "The first discount step starts at 0 (got %s).", td[0].Min)
	}
	t.TieredDiscount = td
	return nil
}

// minEffective and maxEffective bound effective dates to what every store
// and client represents.
var (
	minEffective = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxEffective = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
)

func checkEffective(t time.Time) error {
	if t.IsZero() {
		return billing.Invalid(CodeInvalidDate, "effectiveDate", "The effective date is required.")
	}
	if t.Before(minEffective) || t.After(maxEffective) {
		return billing.Invalid(CodeInvalidDate, "effectiveDate", "The effective date %s is out of range (1970 to 9999).", t.UTC().Format(time.RFC3339))
	}
	if t.Truncate(time.Microsecond) != t {
		return billing.Invalid(CodeInvalidDate, "effectiveDate", "The effective date %s is finer than a microsecond.", t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

// Normalize checks a rate: a GUID meter, an effective date, at least one
// tier, tiers sorted by Min with the first at 0 and no Min twice, each Min a
// quantity (non-negative, at most QuantityDigits fractional digits), each
// price non-negative with at most PriceDigits fractional digits (rating
// relies on that), and a non-negative included quantity. The offer and
// currency are the caller's to check.
func (r *Rate) Normalize() error {
	id, ok := billing.ParseGUID(r.MeterID)
	if !ok {
		return billing.Invalid(CodeInvalidMeterID, "meterId", "The meter id '%s' is not a GUID.", clipText(r.MeterID))
	}
	r.MeterID = id
	if err := checkEffective(r.EffectiveDate); err != nil {
		return err
	}
	r.EffectiveDate = r.EffectiveDate.UTC()
	if len(r.Tiers) == 0 {
		return billing.Invalid(CodeInvalidTiers, "meterRates", "A rate has at least one tier (from 0).")
	}
	if len(r.Tiers) > MaxTiers {
		return billing.Invalid(CodeInvalidTiers, "meterRates", "A rate has at most %d tiers.", MaxTiers)
	}
	tiers := slices.Clone(r.Tiers)
	slices.SortStableFunc(tiers, func(a, b Tier) int { return a.Min.Cmp(b.Min) })
	for i, t := range tiers {
		if err := checkAmount(CodeInvalidTiers, "meterRates", "tier's lower bound", t.Min, QuantityDigits); err != nil {
			return err
		}
		if err := checkAmount(CodeInvalidPrice, "meterRates", "price", t.Price, PriceDigits); err != nil {
			return err
		}
		if i > 0 && tiers[i-1].Min.Cmp(t.Min) == 0 {
			return billing.Invalid(CodeInvalidTiers, "meterRates", "The tier from %s is given twice.", t.Min)
		}
	}
	if !tiers[0].Min.IsZero() {
		return billing.Invalid(CodeInvalidTiers, "meterRates", "The first tier starts at 0 (got %s).", tiers[0].Min)
	}
	r.Tiers = tiers
	return checkAmount(CodeInvalidQuantity, "includedQuantity", "included quantity", r.IncludedQuantity, QuantityDigits)
}

// SameContent reports whether two rates of one key price alike.
func (r Rate) SameContent(o Rate) bool {
	if len(r.Tiers) != len(o.Tiers) || r.IncludedQuantity.Cmp(o.IncludedQuantity) != 0 {
		return false
	}
	for i := range r.Tiers {
		if r.Tiers[i].Min.Cmp(o.Tiers[i].Min) != 0 || r.Tiers[i].Price.Cmp(o.Tiers[i].Price) != 0 {
			return false
		}
	}
	return true
}

// SameContent reports whether two versions of one term say the same.
func (t OfferTerm) SameContent(o OfferTerm) bool {
	if t.Name != o.Name || t.Credit.Cmp(o.Credit) != 0 || t.RecurringCharge.Cmp(o.RecurringCharge) != 0 ||
		!slices.Equal(t.ExcludedMeterIDs, o.ExcludedMeterIDs) || len(t.TieredDiscount) != len(o.TieredDiscount) {
		return false
	}
	for i := range t.TieredDiscount {
		if t.TieredDiscount[i].Min.Cmp(o.TieredDiscount[i].Min) != 0 || t.TieredDiscount[i].Percent.Cmp(o.TieredDiscount[i].Percent) != 0 {
			return false
		}
	}
	return true
}

// Normalize checks a meter's names in one locale (canonicalized; en-US
// names live on the Meter itself, so en-US is refused here).
func (t *MeterText) Normalize() error {
	id, ok := billing.ParseGUID(t.MeterID)
	if !ok {
		return billing.Invalid(CodeInvalidMeterID, "meterId", "The meter id '%s' is not a GUID.", clipText(t.MeterID))
	}
	t.MeterID = id
	loc, err := NormalizeLocale(t.Locale)
	if err != nil {
		return err
	}
	if loc == DefaultLocale {
		return billing.Invalid(CodeInvalidLocale, "locale", "The en-US names of a meter are the meter's own names.")
	}
	t.Locale = loc
	if err := CheckText("meterName", t.MeterName, true, 256); err != nil {
		return err
	}
	if err := CheckText("meterCategory", t.MeterCategory, true, 256); err != nil {
		return err
	}
	return CheckText("meterSubCategory", t.MeterSubCategory, false, 256)
}

// DefaultLocale is the locale of a Meter's own names, and the fallback of
// every other locale.
const DefaultLocale = "en-US"
