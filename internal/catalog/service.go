package catalog

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Repository stores the catalog. Every write goes through UpdateCatalog, in
// one transaction; reads see committed data.
type Repository interface {
	// UpdateCatalog runs fn in one write transaction and commits what it
	// wrote, or nothing when fn or the commit fails. When fn wrote anything,
	// the catalog version is incremented in the same transaction. It returns
	// the catalog version after the transaction.
	UpdateCatalog(ctx context.Context, fn func(tx CatalogTx) error) (version int64, err error)
	// CatalogVersion returns the catalog version: it changes whenever
	// anything in the catalog changes, in every process sharing the store.
	CatalogVersion(ctx context.Context) (int64, error)
	// CatalogMeters returns the meters with the given ids (all when ids is
	// nil) in id order; unknown ids are left out.
	CatalogMeters(ctx context.Context, ids []string) ([]Meter, error)
	// Offer returns an offer; ok is false when there is none.
	Offer(ctx context.Context, id string) (o Offer, ok bool, err error)
	// Offers returns every offer in durable id order.
	Offers(ctx context.Context) ([]Offer, error)
	// RateCardMeters returns, in meter id order, every meter with a rate of
	// offer in currency in force at at, with that rate; names are those of
	// locale where the catalog has them, else the meter's own (en-US).
	RateCardMeters(ctx context.Context, offer, currency, locale string, at time.Time) ([]RateCardMeter, error)
	// RateVersions returns every rate version of offer in currency with an
	// EffectiveDate before end, for the given meters (all when meterIDs is
	// nil), sorted by meter and EffectiveDate.
	RateVersions(ctx context.Context, offer, currency string, meterIDs []string, end time.Time) ([]Rate, error)
	// TermVersions returns every version of the offer's terms in currency,
	// sorted by name and EffectiveDate.
	TermVersions(ctx context.Context, offer, currency string) ([]OfferTerm, error)
}

// CatalogTx is the catalog inside one write transaction. Put methods
// create or replace by key; the caller sets CreatedAt and UpdatedAt.
type CatalogTx interface {
	Offer(ctx context.Context, id string) (Offer, bool, error)
	PutOffer(ctx context.Context, o Offer) error
	// Meters returns the stored meters among ids, by id.
	Meters(ctx context.Context, ids []string) (map[string]Meter, error)
	PutMeters(ctx context.Context, ms []Meter) error
	// MeterTexts returns the stored names in locale of the meters among ids, by id.
	MeterTexts(ctx context.Context, locale string, ids []string) (map[string]MeterText, error)
	PutMeterTexts(ctx context.Context, ts []MeterText) error
	// Rates returns every version of the rates of the given meters for
	// offer and currency.
	Rates(ctx context.Context, offer, currency string, meterIDs []string) ([]Rate, error)
	// PutRates creates or replaces versions by (meter, offer, currency, EffectiveDate).
	PutRates(ctx context.Context, rs []Rate) error
	// Terms returns every version of the offer's terms in currency.
	Terms(ctx context.Context, offer, currency string) ([]OfferTerm, error)
	// PutTerms creates or replaces versions by (offer, currency, name, EffectiveDate).
	PutTerms(ctx context.Context, ts []OfferTerm) error
}

// Service manages the catalog.
type Service struct {
	repo  Repository
	clock billing.Clock
}

// NewService returns a Service over repo.
func NewService(repo Repository, clock billing.Clock) *Service {
	return &Service{repo: repo, clock: clock}
}

// now is the service's time, as stores keep it (UTC, microseconds).
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// PutMeter validates m and creates or replaces the meter id.
func (s *Service) PutMeter(ctx context.Context, id string, m Meter) (Meter, bool, error) {
	if err := m.Normalize(id); err != nil {
		return Meter{}, false, err
	}
	now := s.now()
	created := false
	_, err := s.repo.UpdateCatalog(ctx, func(tx CatalogTx) error {
		old, err := tx.Meters(ctx, []string{m.MeterID})
		if err != nil {
			return err
		}
		prev, ok := old[m.MeterID]
		created = !ok
		m.CreatedAt, m.UpdatedAt = now, now
		if ok {
			m.CreatedAt = prev.CreatedAt
		}
		return tx.PutMeters(ctx, []Meter{m})
	})
	if err != nil {
		return Meter{}, false, err
	}
	return m, created, nil
}

// Meter returns the meter id.
func (s *Service) Meter(ctx context.Context, id string) (Meter, error) {
	guid, ok := billing.ParseGUID(id)
	if !ok {
		return Meter{}, billing.Invalid("InvalidMeterId", "meterId", "The meter id '%s' is not a GUID.", clipText(id))
	}
	ms, err := s.repo.CatalogMeters(ctx, []string{guid})
	if err != nil {
		return Meter{}, err
	}
	if len(ms) == 0 {
		return Meter{}, MeterNotFound(guid)
	}
	return ms[0], nil
}

// Meters returns every meter.
func (s *Service) Meters(ctx context.Context) ([]Meter, error) {
	return s.repo.CatalogMeters(ctx, nil)
}

// MeterNotFound is the error for a meter that does not exist.
func MeterNotFound(id string) error {
	return billing.NotFound("MeterNotFound", "meterId", "The meter '%s' could not be found.", id)
}

// OfferNotFound is the error for an offer that does not exist.
func OfferNotFound(id string) error {
	return billing.NotFound("OfferNotFound", "offerDurableId", "The offer '%s' could not be found.", id)
}

// CatalogVersion returns a number that changes whenever anything in the
// catalog changes (meters, offers, rates, terms, texts), in every process
// sharing the store: a cache of derived data keyed by it stays correct.
func (s *Service) CatalogVersion(ctx context.Context) (int64, error) {
	return s.repo.CatalogVersion(ctx)
}

// PutOffer validates o and creates or replaces the offer id: its name,
// currencies (own price lists or derived ones) and regions. Rates and
// terms are kept. Putting an offer identical to the stored one writes
// nothing and reports created false.
func (s *Service) PutOffer(ctx context.Context, id string, o Offer) (Offer, bool, error) {
	if err := o.Normalize(id); err != nil {
		return Offer{}, false, err
	}
	now := s.now()
	created := false
	_, err := s.repo.UpdateCatalog(ctx, func(tx CatalogTx) error {
		old, ok, err := tx.Offer(ctx, o.DurableID)
		if err != nil {
			return err
		}
		created = !ok
		if ok && sameOffer(old, o) {
			o = old
			return nil
		}
		o.CreatedAt, o.UpdatedAt = now, now
		if ok {
			o.CreatedAt = old.CreatedAt
		}
		return tx.PutOffer(ctx, o)
	})
	if err != nil {
		return Offer{}, false, err
	}
	return o, created, nil
}

func sameOffer(a, b Offer) bool {
	return a.DurableID == b.DurableID && a.Name == b.Name && slices.Equal(a.Regions, b.Regions) &&
		slices.EqualFunc(a.Currencies, b.Currencies, func(x, y OfferCurrency) bool {
			return x.Currency == y.Currency && x.BaseCurrency == y.BaseCurrency && x.ExchangeRate.Cmp(y.ExchangeRate) == 0 &&
				x.RoundingDecimals == y.RoundingDecimals
		})
}

// Offer returns the offer id, or a KindNotFound "OfferNotFound" error.
func (s *Service) Offer(ctx context.Context, id string) (Offer, error) {
	oid, err := NormalizeOfferID(id)
	if err != nil {
		return Offer{}, err
	}
	o, ok, err := s.repo.Offer(ctx, oid)
	if err != nil {
		return Offer{}, err
	}
	if !ok {
		return Offer{}, OfferNotFound(oid)
	}
	return o, nil
}

// Offers returns every offer, by durable id.
func (s *Service) Offers(ctx context.Context) ([]Offer, error) {
	return s.repo.Offers(ctx)
}

// Import reads a catalog import of the given format (FormatRateCard or
// FormatRetailPrices; see ParseImport and the formats' notes) and applies
// it in one transaction: every accepted item or none. Items that are not
// valid are rejected one by one in the result, as ingestion does.
func (s *Service) Import(ctx context.Context, format string, p ImportParams, r io.Reader) (ImportResult, error) {
	set, err := ParseImport(format, p, r)
	if err != nil {
		return ImportResult{}, err
	}
	return s.Apply(ctx, set)
}

// Apply writes a parsed import in one transaction. The offer is created
// when missing (named by its durable id) and gains the import's currency,
// as a currency with its own price list, and its region; a currency the
// offer derives from another cannot take prices ("CurrencyIsDerived"). For
// each meter: en-US names go to the meter, names of another locale to its
// MeterText (a new meter takes them as its own too); unit, region and, when
// the body states them, status and tags update the meter. Each rate is a
// version at its effective date: added when new, unchanged when the stored
// version is the same, changed (replaced) when it differs; other versions
// are never touched. Terms likewise.
func (s *Service) Apply(ctx context.Context, set *ImportSet) (ImportResult, error) {
	p := set.Params
	locale := p.Locale
	if locale == "" {
		locale = DefaultLocale
	}
	skipped := 0
	for _, n := range set.Skipped {
		skipped += n
	}
	res := ImportResult{
		Format: set.Format, OfferDurableID: p.OfferDurableID, Currency: p.Currency, Locale: locale, RegionInfo: p.RegionInfo,
		Items: set.Items, Rejected: set.Rejected, Skipped: skipped, SkippedReasons: set.Skipped,
	}
	if res.Rejected == nil {
		res.Rejected = []Rejection{}
	}
	if res.SkippedReasons == nil {
		res.SkippedReasons = map[string]int{}
	}
	if p.Currency == "" {
		// Nothing priced: an empty body.
		v, err := s.repo.CatalogVersion(ctx)
		res.CatalogVersion = v
		return res, err
	}
	now := s.now()
	version, err := s.repo.UpdateCatalog(ctx, func(tx CatalogTx) error {
		a := applier{ctx: ctx, tx: tx, set: set, locale: locale, now: now}
		res.OfferCreated, res.OfferChanged = false, false
		res.Meters, res.Rates, res.Terms, res.Texts = Counts{}, Counts{}, Counts{}, Counts{}
		return a.apply(&res)
	})
	if err != nil {
		return ImportResult{}, err
	}
	res.CatalogVersion = version
	s.noteImport(ctx, &res) // the operator's import reports (importlog.go)
	return res, nil
}

type applier struct {
	ctx    context.Context
	tx     CatalogTx
	set    *ImportSet
	locale string
	now    time.Time
}

func (a *applier) apply(res *ImportResult) error {
	if err := a.offer(res); err != nil {
		return err
	}
	if err := a.meters(res); err != nil {
		return err
	}
	if err := a.rates(res); err != nil {
		return err
	}
	return a.terms(res)
}

func (a *applier) offer(res *ImportResult) error {
	p := a.set.Params
	o, ok, err := a.tx.Offer(a.ctx, p.OfferDurableID)
	if err != nil {
		return err
	}
	changed := false
	if !ok {
		o = Offer{DurableID: p.OfferDurableID, Name: p.OfferDurableID, Currencies: []OfferCurrency{{Currency: p.Currency}}, Regions: []string{}, CreatedAt: a.now}
		res.OfferCreated, changed = true, true
	} else if c, has := o.Currency(p.Currency); has && c.Derived() {
		return billing.Invalid(CodeCurrencyIsDerived, "currency",
			"The offer %s derives its %s prices from %s at a stated exchange rate; import %s prices, or make %s a currency with its own price list first.",
			o.DurableID, p.Currency, c.BaseCurrency, c.BaseCurrency, p.Currency)
	} else if !has {
		o.Currencies = append(o.Currencies, OfferCurrency{Currency: p.Currency})
		changed = true
	}
	if p.RegionInfo != "" && !slices.Contains(o.Regions, p.RegionInfo) {
		o.Regions = append(o.Regions, p.RegionInfo)
		changed = true
	}
	if !changed {
		return nil
	}
	res.OfferChanged = !res.OfferCreated
	if err := o.Normalize(o.DurableID); err != nil {
		return err
	}
	o.UpdatedAt = a.now
	return a.tx.PutOffer(a.ctx, o)
}

func sameMeter(a, b Meter) bool {
	return a.MeterName == b.MeterName && a.MeterCategory == b.MeterCategory && a.MeterSubCategory == b.MeterSubCategory &&
		a.MeterRegion == b.MeterRegion && a.Unit == b.Unit && a.MeterStatus == b.MeterStatus && slices.Equal(a.MeterTags, b.MeterTags)
}

func (a *applier) meters(res *ImportResult) error {
	if len(a.set.Meters) == 0 {
		return nil
	}
	ids := make([]string, len(a.set.Meters))
	for i, mi := range a.set.Meters {
		ids[i] = mi.Meter.MeterID
	}
	existing, err := a.tx.Meters(a.ctx, ids)
	if err != nil {
		return err
	}
	english := a.locale == DefaultLocale
	var texts map[string]MeterText
	if !english {
		if texts, err = a.tx.MeterTexts(a.ctx, a.locale, ids); err != nil {
			return err
		}
	}
	var puts []Meter
	var putTexts []MeterText
	for _, mi := range a.set.Meters {
		in := mi.Meter
		old, ok := existing[in.MeterID]
		m := in
		if ok {
			if !english {
				m.MeterName, m.MeterCategory, m.MeterSubCategory = old.MeterName, old.MeterCategory, old.MeterSubCategory
			}
			if !mi.HasStatus {
				m.MeterStatus = old.MeterStatus
			}
			if !mi.HasTags {
				m.MeterTags = old.MeterTags
			}
		}
		if m.MeterTags == nil {
			m.MeterTags = []string{}
		}
		switch {
		case !ok:
			res.Meters.Added++
			m.CreatedAt, m.UpdatedAt = a.now, a.now
			puts = append(puts, m)
		case sameMeter(old, m):
			res.Meters.Unchanged++
		default:
			res.Meters.Changed++
			m.CreatedAt, m.UpdatedAt = old.CreatedAt, a.now
			puts = append(puts, m)
		}
		if !english {
			t := MeterText{MeterID: in.MeterID, Locale: a.locale, MeterName: in.MeterName, MeterCategory: in.MeterCategory, MeterSubCategory: in.MeterSubCategory}
			switch oldText, ok := texts[in.MeterID]; {
			case !ok:
				res.Texts.Added++
				putTexts = append(putTexts, t)
			case oldText == t:
				res.Texts.Unchanged++
			default:
				res.Texts.Changed++
				putTexts = append(putTexts, t)
			}
		}
	}
	if err := a.tx.PutMeters(a.ctx, puts); err != nil {
		return err
	}
	return a.tx.PutMeterTexts(a.ctx, putTexts)
}

type rateKey struct {
	meter string
	at    int64
}

func (a *applier) rates(res *ImportResult) error {
	if len(a.set.Meters) == 0 {
		return nil
	}
	p := a.set.Params
	ids := make([]string, len(a.set.Meters))
	for i, mi := range a.set.Meters {
		ids[i] = mi.Meter.MeterID
	}
	stored, err := a.tx.Rates(a.ctx, p.OfferDurableID, p.Currency, ids)
	if err != nil {
		return err
	}
	old := make(map[rateKey]Rate, len(stored))
	for _, r := range stored {
		old[rateKey{r.MeterID, r.EffectiveDate.UnixMicro()}] = r
	}
	var puts []Rate
	for _, mi := range a.set.Meters {
		for _, r := range mi.Rates {
			prev, ok := old[rateKey{r.MeterID, r.EffectiveDate.UnixMicro()}]
			switch {
			case !ok:
				res.Rates.Added++
				puts = append(puts, r)
			case prev.SameContent(r):
				res.Rates.Unchanged++
			default:
				res.Rates.Changed++
				puts = append(puts, r)
			}
		}
	}
	return a.tx.PutRates(a.ctx, puts)
}

func (a *applier) terms(res *ImportResult) error {
	if len(a.set.Terms) == 0 {
		return nil
	}
	p := a.set.Params
	stored, err := a.tx.Terms(a.ctx, p.OfferDurableID, p.Currency)
	if err != nil {
		return err
	}
	var puts []OfferTerm
	for _, t := range a.set.Terms {
		i := slices.IndexFunc(stored, func(o OfferTerm) bool { return o.Name == t.Name && o.EffectiveDate.Equal(t.EffectiveDate) })
		switch {
		case i < 0:
			res.Terms.Added++
			puts = append(puts, t)
		case stored[i].SameContent(t):
			res.Terms.Unchanged++
		default:
			res.Terms.Changed++
			puts = append(puts, t)
		}
	}
	return a.tx.PutTerms(a.ctx, puts)
}

// RateCardQuery names a RateCard: the $filter's four parameters, in any
// letter case.
type RateCardQuery struct {
	OfferDurableID string
	Currency       string
	Locale         string
	RegionInfo     string
}

// RateCardView is everything a RateCard body holds, for one query at one
// instant. Names are localized where the catalog has names in Locale, in
// en-US otherwise; a derived currency's amounts are computed from its base
// currency (price × exchange rate, rounded as the offer states).
type RateCardView struct {
	OfferDurableID string
	Currency       string
	Locale         string
	RegionInfo     string
	// IsTaxIncluded is always false: rates are pretax.
	IsTaxIncluded bool
	// Version is the catalog version the view was read at: data written
	// after it may or may not be in the view, never data written before.
	Version int64
	// At is the instant whose rates and terms are in force in the view.
	At time.Time
	// OfferTerms in force at At, in wire-name order.
	OfferTerms []OfferTerm
	// Meters with a rate in force at At, in meter id order.
	Meters []RateCardMeter
}

// RateCardMeter is one element of a RateCard's Meters.
type RateCardMeter struct {
	MeterID          string
	MeterName        string
	MeterCategory    string
	MeterSubCategory string
	MeterRegion      string
	Unit             string
	MeterStatus      string
	MeterTags        []string // never nil
	EffectiveDate    time.Time
	// MeterRates are the tiers, sorted by Min (the first is 0).
	MeterRates       []Tier
	IncludedQuantity money.Decimal
}

// checkQuery normalizes q and loads its offer and currency, with the
// errors the RateCard answers.
func (s *Service) checkQuery(ctx context.Context, q RateCardQuery) (RateCardQuery, Offer, OfferCurrency, error) {
	var err error
	if q.OfferDurableID, err = NormalizeOfferID(q.OfferDurableID); err != nil {
		return q, Offer{}, OfferCurrency{}, err
	}
	if q.Currency, err = NormalizeCurrency(q.Currency); err != nil {
		return q, Offer{}, OfferCurrency{}, err
	}
	if q.Locale, err = NormalizeLocale(q.Locale); err != nil {
		return q, Offer{}, OfferCurrency{}, err
	}
	if q.RegionInfo, err = NormalizeRegion(q.RegionInfo); err != nil {
		return q, Offer{}, OfferCurrency{}, err
	}
	o, oc, err := s.offerCurrency(ctx, q.OfferDurableID, q.Currency)
	if err != nil {
		return q, o, oc, err
	}
	if !slices.Contains(o.Regions, q.RegionInfo) {
		return q, o, oc, billing.Invalid(CodeRegionNotOffered, "regionInfo", "The offer %s is not sold in region %s; it is sold in %s.",
			o.DurableID, q.RegionInfo, listOr(o.Regions, "no region yet"))
	}
	return q, o, oc, nil
}

// offerCurrency loads an offer (normalized id) and one of its currencies.
func (s *Service) offerCurrency(ctx context.Context, offer, currency string) (Offer, OfferCurrency, error) {
	o, ok, err := s.repo.Offer(ctx, offer)
	if err != nil {
		return o, OfferCurrency{}, err
	}
	if !ok {
		return o, OfferCurrency{}, billing.Invalid(CodeInvalidOffer, "offerDurableId", "The offer '%s' is not in the catalog.", offer)
	}
	oc, ok := o.Currency(currency)
	if !ok {
		codes := make([]string, len(o.Currencies))
		for i, c := range o.Currencies {
			codes[i] = c.Currency
		}
		return o, oc, billing.Invalid(CodeCurrencyNotOffered, "currency", "The offer %s is not sold in %s; it is sold in %s.",
			o.DurableID, currency, listOr(codes, "no currency"))
	}
	return o, oc, nil
}

func listOr(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return strings.Join(s, ", ")
}

// RateCard returns the RateCard of q at instant at: the offer terms and the
// meters' rates in force then. Errors are KindInvalid: a malformed
// parameter (InvalidOffer, InvalidCurrency, InvalidLocale,
// InvalidRegionInfo), an offer not in the catalog (InvalidOffer), a
// currency or region the offer is not sold in (CurrencyNotOffered,
// RegionNotOffered).
func (s *Service) RateCard(ctx context.Context, q RateCardQuery, at time.Time) (RateCardView, error) {
	// The version first: whatever is read next is at least as new.
	version, err := s.repo.CatalogVersion(ctx)
	if err != nil {
		return RateCardView{}, err
	}
	q, _, oc, err := s.checkQuery(ctx, q)
	if err != nil {
		return RateCardView{}, err
	}
	at = at.UTC()
	base := q.Currency
	if oc.Derived() {
		base = oc.BaseCurrency
	}
	meters, err := s.repo.RateCardMeters(ctx, q.OfferDurableID, base, q.Locale, at)
	if err != nil {
		return RateCardView{}, err
	}
	if oc.Derived() {
		for i := range meters {
			m := &meters[i]
			tiers := make([]Tier, len(m.MeterRates))
			for j, t := range m.MeterRates {
				tiers[j] = Tier{Min: t.Min, Price: oc.Convert(t.Price)}
			}
			m.MeterRates = tiers
		}
	}
	versions, err := s.repo.TermVersions(ctx, q.OfferDurableID, base)
	if err != nil {
		return RateCardView{}, err
	}
	terms := TermsAt(versions, at)
	for i := range terms {
		terms[i] = oc.ConvertTerm(terms[i])
	}
	if terms == nil {
		terms = []OfferTerm{}
	}
	if meters == nil {
		meters = []RateCardMeter{}
	}
	return RateCardView{
		OfferDurableID: q.OfferDurableID, Currency: q.Currency, Locale: q.Locale, RegionInfo: q.RegionInfo,
		Version: version, At: at, OfferTerms: terms, Meters: meters,
	}, nil
}

// PriceList is what rating needs of the catalog for one offer, currency
// and period [Start, End).
type PriceList struct {
	OfferDurableID string
	// Currency is the priced currency, with its derivation when derived
	// (the rates and terms below are already converted).
	Currency   OfferCurrency
	Start, End time.Time
	// Rates holds, per meter id, every version in force at some instant of
	// the period, by EffectiveDate (the first may begin before Start).
	// Meters without a rate in the period are absent.
	Rates map[string][]Rate
	// Terms holds every version of the offer terms in force at some
	// instant of the period, by name and EffectiveDate.
	Terms []OfferTerm
}

// RatesFor returns the price list of the given meters (all when meterIDs
// is nil) under offer in currency for [start, end). Errors: a malformed
// argument or start not before end (KindInvalid), an offer not in the
// catalog (InvalidOffer), a currency it is not sold in (CurrencyNotOffered).
func (s *Service) RatesFor(ctx context.Context, offer, currency string, meterIDs []string, start, end time.Time) (PriceList, error) {
	oid, err := NormalizeOfferID(offer)
	if err != nil {
		return PriceList{}, err
	}
	cur, err := NormalizeCurrency(currency)
	if err != nil {
		return PriceList{}, err
	}
	start, end = start.UTC(), end.UTC()
	if !start.Before(end) {
		return PriceList{}, billing.Invalid(CodeInvalidProperty, "period", "The period start %s is not before its end %s.",
			start.Format(time.RFC3339), end.Format(time.RFC3339))
	}
	var ids []string
	if meterIDs != nil {
		ids = make([]string, 0, len(meterIDs))
		for _, id := range meterIDs {
			g, ok := billing.ParseGUID(id)
			if !ok {
				return PriceList{}, billing.Invalid(CodeInvalidMeterID, "meterId", "The meter id '%s' is not a GUID.", clipText(id))
			}
			ids = append(ids, g)
		}
		slices.Sort(ids)
		ids = slices.Compact(ids)
	}
	_, oc, err := s.offerCurrency(ctx, oid, cur)
	if err != nil {
		return PriceList{}, err
	}
	base := cur
	if oc.Derived() {
		base = oc.BaseCurrency
	}
	pl := PriceList{OfferDurableID: oid, Currency: oc, Start: start, End: end, Rates: map[string][]Rate{}}
	if ids == nil || len(ids) > 0 {
		versions, err := s.repo.RateVersions(ctx, oid, base, ids, end)
		if err != nil {
			return PriceList{}, err
		}
		for lo := 0; lo < len(versions); {
			hi := lo + 1
			for hi < len(versions) && versions[hi].MeterID == versions[lo].MeterID {
				hi++
			}
			in := RatesOverlapping(versions[lo:hi], start, end)
			for i := range in {
				in[i] = oc.ConvertRate(in[i])
			}
			if len(in) > 0 {
				pl.Rates[versions[lo].MeterID] = in
			}
			lo = hi
		}
	}
	terms, err := s.repo.TermVersions(ctx, oid, base)
	if err != nil {
		return PriceList{}, err
	}
	pl.Terms = TermsOverlapping(terms, start, end)
	for i := range pl.Terms {
		pl.Terms[i] = oc.ConvertTerm(pl.Terms[i])
	}
	return pl, nil
}

// String describes a rejection for logs and the CLI.
func (r Rejection) String() string {
	return fmt.Sprintf("%s[%d] %s: %s: %s", r.Section, r.Index, r.ID, r.Code, r.Message)
}
