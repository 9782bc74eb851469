package catalog

import (
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// The Retail Prices API (prices.azure.com/api/retail/prices) lists one item
// per price: meter, product, SKU, region, type (Consumption, Reservation,
// DevTestConsumption…) and, for a graduated price, one item per tier
// (tierMinimumUnits). How its items become the catalog:
//
//   - Only type Consumption is kept (an item without a type counts as one);
//     the others are skipped and counted by type.
//   - Items are grouped by meterId and effectiveStartDate: each group is one
//     rate version, its items' tierMinimumUnits the tiers' lower bounds and
//     unitPrice (retailPrice when absent) their prices. A group must have a
//     tier from 0. Zero prices are prices (free tiers, free meters).
//   - One meter appears under several products, SKUs or regions with the
//     same price: repeats of a (tier, price) are skipped as duplicates. Two
//     different prices for one tier reject the whole group (ConflictingPrices).
//   - A meter priced in its primary region (isPrimaryMeterRegion) and in
//     others: the primary items make the price and the metadata; the others
//     are skipped. A meter listed only outside its primary region is kept.
//   - Meter metadata: meterName → MeterName, serviceName → MeterCategory,
//     productName → MeterSubCategory, location → MeterRegion, unitOfMeasure
//     → Unit, verbatim ("10K", "1/Month": prices and usage quantities are
//     both per that unit). Extracts that drop fields fall back to skuName,
//     serviceFamily or productName, and armRegionName. The newest effective
//     date's first item describes the meter.
//   - effectiveEndDate is ignored: a rate is in force until the next version
//     (a later effectiveStartDate) replaces it.
//   - The currency is currencyCode; every kept item must have the import's
//     currency.

// retailItem is the part of a Retail Prices API item the import reads.
type retailItem struct {
	meterID, meterName, productName, skuName string
	serviceName, serviceFamily               string
	location, armRegion, unit, typ, currency string
	effectiveStart                           string
	tierMin, unitPrice, retailPrice          money.Decimal
	hasTierMin, hasUnitPrice, hasRetailPrice bool
	primary, hasPrimary, hasEffective        bool
}

// pageKeys are the properties of a Retail Prices API page.
func isPageKey(name string) bool {
	switch lower(name) {
	case "items", "nextpagelink", "count", "billingcurrency", "customerentityid", "customerentitytype":
		return true
	}
	return false
}

func parseRetail(dec *jsontext.Decoder, set *ImportSet, b *builder) error {
	b.union = true
	p := &retailParser{dec: dec, set: set, b: b}
	for {
		switch dec.PeekKind() {
		case 0:
			_, err := dec.ReadToken()
			if err == io.EOF {
				return nil
			}
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return err
		case '[':
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			for dec.PeekKind() != ']' {
				if err := p.item(""); err != nil {
					return err
				}
			}
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
		case '{':
			if err := p.object(); err != nil {
				return err
			}
		default:
			return shapeError("expected Retail Prices API pages ({\"Items\":[…]}), an array of items or NDJSON items")
		}
	}
}

type retailParser struct {
	dec   *jsontext.Decoder
	set   *ImportSet
	b     *builder
	index int
}

// object reads a top-level object: a page, an object of keyed items, or an
// item (NDJSON).
func (p *retailParser) object() error {
	dec := p.dec
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	if dec.PeekKind() == '}' {
		_, err := dec.ReadToken()
		return err
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	first := tok.String()
	switch {
	case isPageKey(first):
		for name := first; ; {
			if lower(name) == "items" {
				if _, err := readArray(dec, "Items", func() error { return p.item("") }); err != nil {
					return shapeOrSyntax(err, "the Items of a page must be an array of items")
				}
			} else if err := dec.SkipValue(); err != nil {
				return err
			}
			if dec.PeekKind() == '}' {
				_, err := dec.ReadToken()
				return err
			}
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			name = tok.String()
		}
	case dec.PeekKind() == '{':
		// {"skuId|meterId|type|reservationTerm": {item}, …}
		for key := first; ; {
			if err := p.item(key); err != nil {
				return err
			}
			if dec.PeekKind() == '}' {
				_, err := dec.ReadToken()
				return err
			}
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			key = tok.String()
		}
	default:
		return p.itemFields(first)
	}
}

// shapeOrSyntax reports a value of the wrong kind where the shape needs
// one; syntax and reader errors pass through.
func shapeOrSyntax(err error, msg string) error {
	if be := billing.AsError(err); be != nil || isValueError(err) {
		return shapeError("%s", msg)
	}
	return err
}

func isValueError(err error) bool {
	_, ok := err.(*valueError)
	return ok
}

// item reads one item value; key is its key in a keyed object ("" for none).
func (p *retailParser) item(key string) error {
	if p.index >= MaxImportItems {
		return errTooManyItems
	}
	var it retailItem
	var rej error
	if p.dec.PeekKind() != '{' {
		if err := p.dec.SkipValue(); err != nil {
			return err
		}
		rej = billing.Invalid("InvalidItem", "", "An item must be a JSON object.")
	} else {
		_, err := readObject(p.dec, "item", func(name string) error { return it.field(p.dec, name) })
		if err != nil && !isValueError(err) && billing.AsError(err) == nil {
			return err
		}
		rej = err
	}
	p.add(key, &it, rej)
	return nil
}

// itemFields reads the rest of a top-level item whose first property,
// first, has been read.
func (p *retailParser) itemFields(first string) error {
	if p.index >= MaxImportItems {
		return errTooManyItems
	}
	var it retailItem
	var rej error
	note := func(err error) error {
		if err != nil && !isValueError(err) && billing.AsError(err) == nil {
			return err
		}
		if rej == nil {
			rej = err
		}
		return nil
	}
	if err := note(it.field(p.dec, first)); err != nil {
		return err
	}
	for p.dec.PeekKind() != '}' {
		tok, err := p.dec.ReadToken()
		if err != nil {
			return err
		}
		if err := note(it.field(p.dec, tok.String())); err != nil {
			return err
		}
	}
	if _, err := p.dec.ReadToken(); err != nil {
		return err
	}
	p.add("", &it, rej)
	return nil
}

// field reads the value of the item property name.
func (it *retailItem) field(dec *jsontext.Decoder, name string) error {
	var str *string
	switch lower(name) {
	case "meterid":
		str = &it.meterID
	case "metername":
		str = &it.meterName
	case "productname":
		str = &it.productName
	case "skuname":
		str = &it.skuName
	case "servicename":
		str = &it.serviceName
	case "servicefamily":
		str = &it.serviceFamily
	case "location":
		str = &it.location
	case "armregionname":
		str = &it.armRegion
	case "unitofmeasure":
		str = &it.unit
	case "type":
		str = &it.typ
	case "currencycode":
		str = &it.currency
	case "effectivestartdate":
		v, ok, err := readString(dec, name)
		it.effectiveStart, it.hasEffective = v, ok
		return err
	case "tierminimumunits":
		v, ok, err := readNumber(dec, name)
		it.tierMin, it.hasTierMin = v, ok
		return err
	case "unitprice":
		v, ok, err := readNumber(dec, name)
		it.unitPrice, it.hasUnitPrice = v, ok
		return err
	case "retailprice":
		v, ok, err := readNumber(dec, name)
		it.retailPrice, it.hasRetailPrice = v, ok
		return err
	case "isprimarymeterregion":
		v, ok, err := readBool(dec, name)
		it.primary, it.hasPrimary = v, ok
		return err
	default:
		// Other fields (skuId, productId, armSkuName, reservationTerm,
		// savingsPlan, effectiveEndDate…) do not make the catalog.
		return dec.SkipValue()
	}
	v, _, err := readString(dec, name)
	*str = v
	return err
}

// add turns a read item into an entry, a skip or a rejection.
func (p *retailParser) add(key string, it *retailItem, rej error) {
	index := p.index
	p.index++
	p.set.Items = p.index
	// A keyed extract: "skuId|meterId|type|reservationTerm".
	if parts := strings.Split(key, "|"); len(parts) >= 3 {
		if it.meterID == "" {
			it.meterID = parts[1]
		}
		if it.typ == "" {
			it.typ = parts[2]
		}
	}
	id := it.meterID
	if id == "" {
		id = key
	}
	if rej != nil {
		p.b.reject("Items", index, id, itemError(rej))
		return
	}
	if it.typ != "" && !strings.EqualFold(it.typ, "Consumption") {
		p.set.Skipped["type "+clipText(it.typ)]++
		return
	}
	if e, err := p.entry(it); err != nil {
		p.b.reject("Items", index, id, err)
	} else {
		e.index, e.id = index, id
		p.b.entries = append(p.b.entries, e)
	}
}

func (p *retailParser) entry(it *retailItem) (entry, error) {
	if it.meterID == "" {
		return entry{}, billing.Invalid(CodeMissingProperty, "meterId", "The item has no meterId.")
	}
	guid, ok := billing.ParseGUID(it.meterID)
	if !ok {
		return entry{}, billing.Invalid(CodeInvalidMeterID, "meterId", "The meterId '%s' is not a GUID.", clipText(it.meterID))
	}
	if it.currency != "" {
		cur, err := checkCurrency(it.currency, "currencyCode")
		if err != nil {
			return entry{}, err
		}
		switch {
		case p.set.Params.Currency == "":
			p.set.Params.Currency = cur
		case p.set.Params.Currency != cur:
			return entry{}, billing.Invalid("CurrencyMismatch", "currencyCode",
				"The item is priced in %s; the import is in %s.", cur, p.set.Params.Currency)
		}
	}
	price, hasPrice := it.unitPrice, it.hasUnitPrice
	if !hasPrice {
		price, hasPrice = it.retailPrice, it.hasRetailPrice
	}
	if !hasPrice {
		return entry{}, billing.Invalid(CodeMissingProperty, "unitPrice", "The item has no unitPrice (nor retailPrice).")
	}
	if err := checkAmount(CodeInvalidPrice, "unitPrice", "price", price, PriceDigits); err != nil {
		return entry{}, err
	}
	if err := checkAmount(CodeInvalidTiers, "tierMinimumUnits", "tierMinimumUnits", it.tierMin, QuantityDigits); err != nil {
		return entry{}, err
	}
	effective := p.set.Params.EffectiveDate
	if it.hasEffective {
		t, err := parseDate(it.effectiveStart)
		if err != nil {
			return entry{}, err
		}
		effective = t
	}
	if effective.IsZero() {
		return entry{}, billing.Invalid(CodeMissingProperty, "effectiveStartDate",
			"The item has no effectiveStartDate, and the import gives no effectiveDate for such items.")
	}
	m := Meter{
		MeterName:        firstOf(it.meterName, it.skuName),
		MeterCategory:    firstOf(it.serviceName, it.serviceFamily, it.productName),
		MeterSubCategory: it.productName,
		MeterRegion:      firstOf(it.location, it.armRegion),
		Unit:             it.unit,
	}
	if err := m.Normalize(guid); err != nil {
		return entry{}, err
	}
	return entry{
		section: "Items", meter: m, primary: !it.hasPrimary || it.primary, effective: effective,
		tiers: []Tier{{Min: it.tierMin, Price: price}},
	}, nil
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
