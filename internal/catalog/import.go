package catalog

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Import formats.
const (
	// FormatRateCard is a RateCard response body, as Azure returns it.
	FormatRateCard = "ratecard"
	// FormatRetailPrices is items of the Azure Retail Prices API:
	// {"Items":[…]} pages (one or several, concatenated), a JSON array of
	// items, NDJSON of items, or an object of items keyed
	// "skuId|meterId|type|reservationTerm".
	FormatRetailPrices = "retail-prices"
)

// DefaultImportOffer is the offer of a retail-prices import that names
// none: pay-as-you-go, the prices the Retail Prices API lists.
const DefaultImportOffer = "MS-AZR-0003P"

// MaxImportItems bounds the items (meters, terms) of one import.
const MaxImportItems = 1_000_000

// ImportParams are the parameters of an import; see Service.Import.
type ImportParams struct {
	// OfferDurableID is the offer the prices are for. Required for a
	// RateCard; a retail-prices import defaults to DefaultImportOffer.
	OfferDurableID string `json:"offerDurableId"`
	// Currency is the currency of the prices; when empty it comes from the
	// body (RateCard "Currency", items' currencyCode), which must agree
	// with it when both are given.
	Currency string `json:"currency"`
	// Locale is the language of the names; default en-US (a RateCard's own
	// "Locale" when present). Names in another locale become MeterTexts.
	Locale string `json:"locale"`
	// RegionInfo, when given, is a country the offer becomes sold in.
	RegionInfo string `json:"regionInfo,omitempty"`
	// EffectiveDate is the effective date of retail items that have no
	// effectiveStartDate (some published extracts drop it).
	EffectiveDate time.Time `json:"effectiveDate,omitzero"`
}

// Counts says what an import did to one kind of object.
type Counts struct {
	Added     int `json:"added"`
	Changed   int `json:"changed"`
	Unchanged int `json:"unchanged"`
}

// Rejection is an item of the import that was not applied, and why.
type Rejection struct {
	// Section is "Items" (retail prices), "Meters" or "OfferTerms" (RateCard).
	Section string `json:"section"`
	// Index is the item's position in its section, from 0.
	Index   int    `json:"index"`
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ImportResult reports an import. It is JSON-serialisable as is.
type ImportResult struct {
	Format         string `json:"format"`
	OfferDurableID string `json:"offerDurableId"`
	Currency       string `json:"currency"`
	Locale         string `json:"locale"`
	RegionInfo     string `json:"regionInfo,omitempty"`
	// Items is how many items the body held (meters and offer terms of a
	// RateCard; price items of retail prices).
	Items int `json:"items"`
	// OfferCreated is true when the import created the offer; OfferChanged
	// when it added the currency or the region to an existing one.
	OfferCreated bool   `json:"offerCreated"`
	OfferChanged bool   `json:"offerChanged"`
	Meters       Counts `json:"meters"`
	Rates        Counts `json:"rates"`
	Terms        Counts `json:"terms"`
	// Texts counts the meter names stored for a locale other than en-US.
	Texts    Counts      `json:"texts"`
	Rejected []Rejection `json:"rejected"`
	// Skipped counts items deliberately left out, by reason.
	Skipped        int            `json:"skipped"`
	SkippedReasons map[string]int `json:"skippedReasons"`
	// CatalogVersion is the catalog's version after the import.
	CatalogVersion int64 `json:"catalogVersion"`
}

// MeterImport is one meter of an import: its metadata (names in the
// import's locale) and its rate versions.
type MeterImport struct {
	Meter Meter
	// HasStatus and HasTags say whether the body stated MeterStatus and
	// MeterTags; when not, an existing meter keeps its own.
	HasStatus, HasTags bool
	// Rates are sorted by EffectiveDate, one per date.
	Rates []Rate
}

// ImportSet is a parsed import: what applying it writes.
type ImportSet struct {
	Format string
	// Params are normalized, with Currency and Locale resolved.
	Params   ImportParams
	Items    int
	Meters   []MeterImport // sorted by meter id
	Terms    []OfferTerm   // sorted by name and effective date
	Rejected []Rejection   // sorted by section and index
	Skipped  map[string]int
}

// ParseImport reads an import body of the given format. Parameters are
// checked first (a bad one is a KindInvalid error); then every item: an
// item that is not valid is rejected alone, the others make the set. A
// body that is not JSON of the format's shape is a KindInvalid error
// ("InvalidRequestContent"); an error of the reader is returned as is.
func ParseImport(format string, p ImportParams, r io.Reader) (*ImportSet, error) {
	p, err := normalizeParams(format, p)
	if err != nil {
		return nil, err
	}
	set := &ImportSet{Format: format, Params: p, Skipped: map[string]int{}}
	br := bufio.NewReaderSize(r, 64<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	dec := jsontext.NewDecoder(br, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(false))
	var b builder
	switch format {
	case FormatRateCard:
		err = parseRateCard(dec, set, &b)
	default:
		err = parseRetail(dec, set, &b)
	}
	if err != nil {
		return nil, malformed(err)
	}
	if set.Params.Currency == "" {
		if len(b.entries) > 0 || len(set.Terms) > 0 {
			return nil, billing.Invalid(CodeMissingProperty, "currency", "The currency of the prices is given neither as a parameter nor in the body.")
		}
	}
	b.finish(set)
	return set, nil
}

func normalizeParams(format string, p ImportParams) (ImportParams, error) {
	var err error
	switch format {
	case FormatRateCard:
		if p.OfferDurableID == "" {
			return p, billing.Invalid(CodeMissingProperty, "offerDurableId", "A RateCard import needs the offerDurableId it is the RateCard of.")
		}
	case FormatRetailPrices:
		if p.OfferDurableID == "" {
			p.OfferDurableID = DefaultImportOffer
		}
	default:
		return p, billing.Invalid(CodeInvalidProperty, "format", "The import format '%s' is not one of '%s', '%s'.", clipText(format), FormatRateCard, FormatRetailPrices)
	}
	if p.OfferDurableID, err = NormalizeOfferID(p.OfferDurableID); err != nil {
		return p, err
	}
	if p.Currency != "" {
		if p.Currency, err = NormalizeCurrency(p.Currency); err != nil {
			return p, err
		}
	}
	if p.Locale != "" {
		if p.Locale, err = NormalizeLocale(p.Locale); err != nil {
			return p, err
		}
	}
	if p.RegionInfo != "" {
		if p.RegionInfo, err = NormalizeRegion(p.RegionInfo); err != nil {
			return p, err
		}
	}
	if !p.EffectiveDate.IsZero() {
		if err := checkEffective(p.EffectiveDate); err != nil {
			return p, err
		}
		p.EffectiveDate = p.EffectiveDate.UTC()
	}
	return p, nil
}

// errTooManyItems ends a parse that exceeds MaxImportItems.
var errTooManyItems = fmt.Errorf("more than %d items", MaxImportItems)

func malformed(err error) error {
	var se *jsontext.SyntacticError
	switch {
	case billing.AsError(err) != nil:
		return err
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), err == io.EOF, errors.Is(err, errTooManyItems), errors.Is(err, errShape):
		return &billing.Error{Kind: billing.KindInvalid, Code: "InvalidRequestContent",
			Message: fmt.Sprintf("The import body is not valid: %v.", clipText(err.Error())), Err: err}
	}
	return err // the reader failed (size limit, connection)
}

// errShape is a body that is JSON but not of the format's shape.
var errShape = errors.New("unexpected JSON shape")

func shapeError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errShape, fmt.Sprintf(format, args...))
}

// entry is one priced item of either format: one meter's metadata and
// tiers at one effective date.
type entry struct {
	section   string
	index     int
	id        string // as given, for rejections
	meter     Meter
	hasStatus bool
	hasTags   bool
	primary   bool
	effective time.Time
	tiers     []Tier
	included  money.Decimal
}

// builder collects entries and rejections and groups them into meters.
type builder struct {
	entries  []entry
	rejected []Rejection
	// union merges the tiers of the entries of one (meter, date), as retail
	// items carry one tier each; otherwise entries must be identical.
	union bool
}

func (b *builder) reject(section string, index int, id string, err error) {
	code, msg := "InvalidItem", err.Error()
	if be := billing.AsError(err); be != nil {
		code, msg = be.Code, be.Message
	}
	b.rejected = append(b.rejected, Rejection{Section: section, Index: index, ID: clipText(id), Code: code, Message: msg})
}

// finish groups the entries by (meter, effective date) into rate versions
// and meters, and fills set.
func (b *builder) finish(set *ImportSet) {
	p := set.Params
	// Sort positions, not the (large) entries; entries are in input order.
	order := make([]int, len(b.entries))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		x, y := &b.entries[i], &b.entries[j]
		if c := strings.Compare(x.meter.MeterID, y.meter.MeterID); c != 0 {
			return c
		}
		if c := x.effective.Compare(y.effective); c != 0 {
			return c
		}
		return cmp.Compare(i, j)
	})
	var cur *MeterImport
	group := make([]entry, 0, 8)
	for lo := 0; lo < len(order); {
		e0 := &b.entries[order[lo]]
		group = append(group[:0], *e0)
		hi := lo + 1
		for ; hi < len(order); hi++ {
			e := &b.entries[order[hi]]
			if e.meter.MeterID != e0.meter.MeterID || !e.effective.Equal(e0.effective) {
				break
			}
			group = append(group, *e)
		}
		lo = hi
		rate, lead, ok := b.merge(set, group)
		if !ok {
			continue
		}
		rate.OfferDurableID, rate.Currency = p.OfferDurableID, p.Currency
		if cur == nil || cur.Meter.MeterID != lead.meter.MeterID {
			set.Meters = append(set.Meters, MeterImport{})
			cur = &set.Meters[len(set.Meters)-1]
		}
		// The entries of the latest date describe the meter.
		cur.Meter, cur.HasStatus, cur.HasTags = lead.meter, lead.hasStatus, lead.hasTags
		cur.Rates = append(cur.Rates, rate)
	}
	b.entries = nil
	slices.SortFunc(b.rejected, func(x, y Rejection) int {
		if c := strings.Compare(x.Section, y.Section); c != 0 {
			return c
		}
		return cmp.Compare(x.Index, y.Index)
	})
	set.Rejected = b.rejected
	if set.Rejected == nil {
		set.Rejected = []Rejection{}
	}
}

// Skip reasons.
const (
	skipDuplicate  = "duplicate item"
	skipNonPrimary = "non-primary region of a meter priced in its primary region"
)

// merge turns the entries of one (meter, date) into one rate version. It
// returns the entry whose metadata describes the meter.
func (b *builder) merge(set *ImportSet, group []entry) (Rate, entry, bool) {
	// A meter listed in its primary region and in others: the primary
	// items are the price; the others are repeats.
	if slices.ContainsFunc(group, func(e entry) bool { return e.primary }) && slices.ContainsFunc(group, func(e entry) bool { return !e.primary }) {
		kept := group[:0:0]
		for _, e := range group {
			if e.primary {
				kept = append(kept, e)
			} else {
				set.Skipped[skipNonPrimary]++
			}
		}
		group = kept
	}
	lead := group[0]
	rate := Rate{MeterID: lead.meter.MeterID, EffectiveDate: lead.effective, Tiers: slices.Clone(lead.tiers), IncludedQuantity: lead.included}
	conflict, dups := "", 0
	for _, e := range group[1:] {
		if !b.union {
			if !(Rate{Tiers: e.tiers, IncludedQuantity: e.included}).SameContent(Rate{Tiers: lead.tiers, IncludedQuantity: lead.included}) {
				conflict = "The meter is listed more than once for this effective date with different rates."
				break
			}
			dups++
			continue
		}
		dup := true
		for _, t := range e.tiers {
			i := slices.IndexFunc(rate.Tiers, func(x Tier) bool { return x.Min.Cmp(t.Min) == 0 })
			switch {
			case i < 0:
				rate.Tiers = append(rate.Tiers, t)
				dup = false
			case rate.Tiers[i].Price.Cmp(t.Price) != 0:
				conflict = fmt.Sprintf("The meter has two different prices (%s and %s) for the tier from %s at this effective date.", rate.Tiers[i].Price, t.Price, t.Min)
			}
		}
		if conflict != "" {
			break
		}
		if dup {
			dups++
		}
	}
	var err error
	if conflict != "" {
		err = billing.Invalid("ConflictingPrices", "meterRates", "%s", conflict)
	} else {
		err = rate.Normalize()
	}
	if err != nil {
		for _, e := range group {
			b.reject(e.section, e.index, e.id, err)
		}
		return Rate{}, entry{}, false
	}
	if dups > 0 {
		set.Skipped[skipDuplicate] += dups
	}
	return rate, lead, true
}

// dateLayouts are the forms of an effective date accepted in bodies.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly}

func parseDate(s string) (time.Time, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			if err := checkEffective(t); err != nil {
				return time.Time{}, err
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, billing.Invalid(CodeInvalidDate, "effectiveDate", "The effective date '%s' is not an RFC 3339 date-time.", clipText(s))
}

// value reading helpers: each reads one JSON value of the expected kind,
// treating null as absent (ok false), and returns a descriptive error
// (wrapped in errValue) for another kind, after consuming the value.

var errValue = errors.New("wrong value")

type valueError struct{ msg string }

func (e *valueError) Error() string { return e.msg }
func (e *valueError) Unwrap() error { return errValue }

func wrongKind(name, want string) error {
	return &valueError{fmt.Sprintf("The property '%s' must be %s.", name, want)}
}

func readString(dec *jsontext.Decoder, name string) (string, bool, error) {
	switch dec.PeekKind() {
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return "", false, err
		}
		return tok.String(), true, nil
	case 'n':
		_, err := dec.ReadToken()
		return "", false, err
	}
	if err := dec.SkipValue(); err != nil {
		return "", false, err
	}
	return "", false, wrongKind(name, "a string")
}

func readBool(dec *jsontext.Decoder, name string) (bool, bool, error) {
	switch dec.PeekKind() {
	case 't', 'f':
		tok, err := dec.ReadToken()
		if err != nil {
			return false, false, err
		}
		return tok.Bool(), true, nil
	case 'n':
		_, err := dec.ReadToken()
		return false, false, err
	}
	if err := dec.SkipValue(); err != nil {
		return false, false, err
	}
	return false, false, wrongKind(name, "true or false")
}

// readNumber reads a JSON number (or a string holding one) exactly.
func readNumber(dec *jsontext.Decoder, name string) (money.Decimal, bool, error) {
	var lit string
	switch dec.PeekKind() {
	case '0':
		v, err := dec.ReadValue()
		if err != nil {
			return money.Decimal{}, false, err
		}
		lit = string(v)
	case '"':
		tok, err := dec.ReadToken()
		if err != nil {
			return money.Decimal{}, false, err
		}
		lit = strings.TrimSpace(tok.String())
	case 'n':
		_, err := dec.ReadToken()
		return money.Decimal{}, false, err
	default:
		if err := dec.SkipValue(); err != nil {
			return money.Decimal{}, false, err
		}
		return money.Decimal{}, false, wrongKind(name, "a number")
	}
	d, err := ParseNumber(lit)
	if err != nil {
		return money.Decimal{}, false, &valueError{fmt.Sprintf("The property '%s' is not a usable number (%s): %s.", name, clipText(lit), err)}
	}
	return d, true, nil
}

// readObject calls fn for each member of an object value (null: none).
func readObject(dec *jsontext.Decoder, name string, fn func(key string) error) (bool, error) {
	switch dec.PeekKind() {
	case '{':
	case 'n':
		_, err := dec.ReadToken()
		return false, err
	default:
		if err := dec.SkipValue(); err != nil {
			return false, err
		}
		return false, wrongKind(name, "an object")
	}
	if _, err := dec.ReadToken(); err != nil {
		return false, err
	}
	var first error
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return false, err
		}
		if err := fn(tok.String()); err != nil {
			if !errors.Is(err, errValue) && billing.AsError(err) == nil {
				return false, err
			}
			if first == nil {
				first = err
			}
		}
	}
	_, err := dec.ReadToken()
	if err != nil {
		return false, err
	}
	return true, first
}

// readArray calls fn for each element of an array value (null: none).
func readArray(dec *jsontext.Decoder, name string, fn func() error) (bool, error) {
	switch dec.PeekKind() {
	case '[':
	case 'n':
		_, err := dec.ReadToken()
		return false, err
	default:
		if err := dec.SkipValue(); err != nil {
			return false, err
		}
		return false, wrongKind(name, "an array")
	}
	if _, err := dec.ReadToken(); err != nil {
		return false, err
	}
	var first error
	for dec.PeekKind() != ']' {
		if dec.PeekKind() == 0 {
			_, err := dec.ReadToken()
			if err == nil {
				err = io.ErrUnexpectedEOF
			}
			return false, err
		}
		if err := fn(); err != nil {
			if !errors.Is(err, errValue) && billing.AsError(err) == nil {
				return false, err
			}
			if first == nil {
				first = err
			}
		}
	}
	_, err := dec.ReadToken()
	if err != nil {
		return false, err
	}
	return true, first
}

// itemError turns a value problem into the error of a rejection.
func itemError(err error) error {
	var ve *valueError
	if errors.As(err, &ve) {
		return billing.Invalid("InvalidItem", "", "%s", ve.msg)
	}
	return err
}

// lower returns s in ASCII lower case, for case-insensitive property names.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}
