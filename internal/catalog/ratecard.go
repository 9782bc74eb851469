package catalog

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// A RateCard body (azure-contract.md §2.3): PascalCase properties, matched
// here in any letter case. Each element of Meters is one meter's rate at
// its EffectiveDate (MeterRates keys are the tiers' lower bounds); the
// meter is created or updated with the names (in the body's locale), unit,
// region, MeterTags and MeterStatus it states. OfferTerms are the offer's
// terms in the import's currency, each at its EffectiveDate. Unknown
// properties are ignored; numbers are read exactly from their text.

func parseRateCard(dec *jsontext.Decoder, set *ImportSet, b *builder) error {
	if dec.PeekKind() != '{' {
		if dec.PeekKind() == 0 {
			if _, err := dec.ReadToken(); err != nil && err != io.EOF {
				return err
			}
			return shapeError("the body is empty; a RateCard body is a JSON object")
		}
		return shapeError("a RateCard body is a JSON object")
	}
	var bodyCurrency, bodyLocale string
	var taxIncluded bool
	meters, terms := 0, 0
	var rawTerms []termEntry
	_, err := readObject(dec, "RateCard", func(name string) error {
		var err error
		switch lower(name) {
		case "currency":
			bodyCurrency, _, err = readString(dec, name)
		case "locale":
			bodyLocale, _, err = readString(dec, name)
		case "istaxincluded":
			taxIncluded, _, err = readBool(dec, name)
		case "meters":
			_, err = readArray(dec, name, func() error {
				if meters >= MaxImportItems {
					return errTooManyItems
				}
				meters++
				return rateCardMeter(dec, set, b, meters-1)
			})
		case "offerterms":
			_, err = readArray(dec, name, func() error {
				if terms >= MaxImportItems {
					return errTooManyItems
				}
				terms++
				t, err := rateCardTerm(dec, set)
				if err != nil {
					if !isValueError(err) && billing.AsError(err) == nil {
						return err
					}
					b.reject("OfferTerms", terms-1, t.Name, itemError(err))
					return nil
				}
				rawTerms = append(rawTerms, termEntry{index: terms - 1, term: t})
				return nil
			})
		default:
			err = dec.SkipValue()
		}
		if err != nil && (isValueError(err) || billing.AsError(err) != nil) {
			return shapeError("%s", strings.TrimSuffix(err.Error(), "."))
		}
		return err
	})
	if err != nil {
		return err
	}
	if k := dec.PeekKind(); k != 0 {
		return shapeError("data after the RateCard object")
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err == nil {
			err = shapeError("data after the RateCard object")
		}
		return err
	}
	set.Items = meters + terms
	p := &set.Params
	if bodyCurrency != "" {
		cur, err := checkCurrency(bodyCurrency, "Currency")
		if err != nil {
			return err
		}
		if p.Currency != "" && p.Currency != cur {
			return billing.Invalid("CurrencyMismatch", "currency", "The RateCard body is in %s but the import names %s.", cur, p.Currency)
		}
		p.Currency = cur
	}
	if bodyLocale != "" {
		loc, err := NormalizeLocale(bodyLocale)
		if err != nil {
			return err
		}
		if p.Locale != "" && p.Locale != loc {
			return billing.Invalid("LocaleMismatch", "locale", "The RateCard body is in locale %s but the import names %s.", loc, p.Locale)
		}
		p.Locale = loc
	}
	if taxIncluded {
		return billing.Invalid(CodeInvalidProperty, "IsTaxIncluded", "The RateCard's rates include tax; Reckon's rates are pretax (IsTaxIncluded false).")
	}
	set.Terms = dedupeTerms(set, b, rawTerms)
	return nil
}

type termEntry struct {
	index int
	term  OfferTerm
}

// dedupeTerms keeps one version per (name, effective date): repeats are
// skipped, two different versions of one date are both rejected.
func dedupeTerms(set *ImportSet, b *builder, in []termEntry) []OfferTerm {
	slices.SortStableFunc(in, func(x, y termEntry) int {
		if c := strings.Compare(x.term.Name, y.term.Name); c != 0 {
			return c
		}
		return x.term.EffectiveDate.Compare(y.term.EffectiveDate)
	})
	out := []OfferTerm{}
	for lo := 0; lo < len(in); {
		hi := lo + 1
		for hi < len(in) && in[hi].term.Name == in[lo].term.Name && in[hi].term.EffectiveDate.Equal(in[lo].term.EffectiveDate) {
			hi++
		}
		group := in[lo:hi]
		lo = hi
		same := !slices.ContainsFunc(group[1:], func(e termEntry) bool { return !e.term.SameContent(group[0].term) })
		if !same {
			for _, e := range group {
				b.reject("OfferTerms", e.index, e.term.Name, billing.Invalid("ConflictingTerms", "OfferTerms",
					"The term '%s' is listed more than once for this effective date with different amounts.", e.term.Name))
			}
			continue
		}
		set.Skipped[skipDuplicate] += len(group) - 1
		t := group[0].term
		t.OfferDurableID, t.Currency = set.Params.OfferDurableID, set.Params.Currency
		out = append(out, t)
	}
	return out
}

// rateCardMeter reads one element of Meters into an entry or a rejection.
func rateCardMeter(dec *jsontext.Decoder, set *ImportSet, b *builder, index int) error {
	var m Meter
	var tiers []Tier
	var included money.Decimal
	var effective string
	var hasTags, hasStatus, hasEffective bool
	var rej error
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return err
		}
		b.reject("Meters", index, "", billing.Invalid("InvalidItem", "", "A meter must be a JSON object."))
		return nil
	}
	_, err := readObject(dec, "meter", func(name string) error {
		var str *string
		switch lower(name) {
		case "meterid":
			str = &m.MeterID
		case "metername":
			str = &m.MeterName
		case "metercategory":
			str = &m.MeterCategory
		case "metersubcategory":
			str = &m.MeterSubCategory
		case "meterregion":
			str = &m.MeterRegion
		case "unit":
			str = &m.Unit
		case "meterstatus":
			v, ok, err := readString(dec, name)
			m.MeterStatus, hasStatus = v, ok
			return err
		case "effectivedate":
			v, ok, err := readString(dec, name)
			effective, hasEffective = v, ok
			return err
		case "includedquantity":
			v, _, err := readNumber(dec, name)
			included = v
			return err
		case "metertags":
			m.MeterTags = []string{}
			ok, err := readArray(dec, name, func() error {
				v, ok, err := readString(dec, name)
				if ok {
					m.MeterTags = append(m.MeterTags, v)
				}
				return err
			})
			hasTags = ok
			return err
		case "meterrates":
			_, err := readObject(dec, name, func(key string) error {
				lo, kerr := ParseNumber(strings.TrimSpace(key))
				price, _, err := readNumber(dec, "MeterRates."+key)
				if err != nil {
					return err
				}
				if kerr != nil {
					return &valueError{fmt.Sprintf("The MeterRates key '%s' is not a quantity.", clipText(key))}
				}
				tiers = append(tiers, Tier{Min: lo, Price: price})
				return nil
			})
			return err
		default:
			return dec.SkipValue()
		}
		v, _, err := readString(dec, name)
		*str = v
		return err
	})
	if err != nil {
		if !isValueError(err) && billing.AsError(err) == nil {
			return err
		}
		rej = itemError(err)
	}
	id := m.MeterID
	if rej == nil {
		rej = func() error {
			if m.MeterID == "" {
				return billing.Invalid(CodeMissingProperty, "MeterId", "The meter has no MeterId.")
			}
			if err := m.Normalize(m.MeterID); err != nil {
				return err
			}
			t := set.Params.EffectiveDate
			if hasEffective {
				var err error
				if t, err = parseDate(effective); err != nil {
					return err
				}
			}
			if t.IsZero() {
				return billing.Invalid(CodeMissingProperty, "EffectiveDate", "The meter has no EffectiveDate.")
			}
			r := Rate{MeterID: m.MeterID, EffectiveDate: t, Tiers: tiers, IncludedQuantity: included}
			if err := r.Normalize(); err != nil {
				return err
			}
			b.entries = append(b.entries, entry{section: "Meters", index: index, id: id, meter: m, hasStatus: hasStatus, hasTags: hasTags,
				primary: true, effective: t, tiers: r.Tiers, included: r.IncludedQuantity})
			return nil
		}()
	}
	if rej != nil {
		b.reject("Meters", index, id, rej)
	}
	return nil
}

// rateCardTerm reads one element of OfferTerms.
func rateCardTerm(dec *jsontext.Decoder, set *ImportSet) (OfferTerm, error) {
	var t OfferTerm
	var effective string
	var hasEffective bool
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return t, err
		}
		return t, billing.Invalid("InvalidItem", "", "An offer term must be a JSON object.")
	}
	_, err := readObject(dec, "offer term", func(name string) error {
		switch lower(name) {
		case "name":
			v, _, err := readString(dec, name)
			t.Name = v
			return err
		case "effectivedate":
			v, ok, err := readString(dec, name)
			effective, hasEffective = v, ok
			return err
		case "credit":
			v, _, err := readNumber(dec, name)
			t.Credit = v
			return err
		case "recurringcharge":
			v, _, err := readNumber(dec, name)
			t.RecurringCharge = v
			return err
		case "excludedmeterids":
			_, err := readArray(dec, name, func() error {
				v, ok, err := readString(dec, name)
				if ok {
					t.ExcludedMeterIDs = append(t.ExcludedMeterIDs, v)
				}
				return err
			})
			return err
		case "tiereddiscount":
			_, err := readObject(dec, name, func(key string) error {
				lo, kerr := ParseNumber(strings.TrimSpace(key))
				pct, _, err := readNumber(dec, "TieredDiscount."+key)
				if err != nil {
					return err
				}
				if kerr != nil {
					return &valueError{fmt.Sprintf("The TieredDiscount key '%s' is not an amount.", clipText(key))}
				}
				t.TieredDiscount = append(t.TieredDiscount, DiscountTier{Min: lo, Percent: pct})
				return nil
			})
			return err
		}
		return dec.SkipValue()
	})
	if err != nil {
		return t, err
	}
	if hasEffective {
		if t.EffectiveDate, err = parseDate(effective); err != nil {
			return t, err
		}
	} else {
		t.EffectiveDate = set.Params.EffectiveDate
	}
	t.OfferDurableID = set.Params.OfferDurableID
	return t, t.Normalize()
}
