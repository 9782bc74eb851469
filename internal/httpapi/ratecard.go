package httpapi

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
)

// RateCard api-versions: 2016-08-31-preview adds MeterStatus.
const (
	rateCardV2015 = "2015-06-01-preview"
	rateCardV2016 = "2016-08-31-preview"
)

var rateCardAPIVersions = []string{rateCardV2015, rateCardV2016}

// rateCardInvalidQuery is the top-level "Message" Azure's RateCard answers
// a bad query with; Reckon adds it next to the ARM error envelope.
const rateCardInvalidQuery = "Invalid query specified. Please specify valid values for OfferDurableId, Currency, Locale and RegionInfo."

// rateCardTTL bounds how long a rendered RateCard is served without asking
// the catalog whether it changed: it is also how late a rate whose
// effective date has just passed may appear.
const rateCardTTL = time.Minute

// rateCard answers RateCard_Get.
func (a *API) rateCard(w http.ResponseWriter, r *http.Request) {
	body, err := a.renderRateCard(r)
	if err != nil {
		if e := billing.AsError(err); e != nil && e.Kind == billing.KindInvalid {
			writeRateCardError(w, r, e)
			return
		}
		writeError(w, r, a.log, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("ETag", body.etag)
	h.Set("Vary", "Accept-Encoding")
	if match := r.Header.Get("If-None-Match"); match != "" && match == body.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data := body.plain
	if acceptsGzip(r) {
		data = body.gzipped
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// writeRateCardError answers a bad RateCard query: 400, the ARM envelope,
// and Azure's RateCard "Message" beside it.
func writeRateCardError(w http.ResponseWriter, r *http.Request, e *billing.Error) {
	w.Header().Set("x-ms-error-code", e.Code)
	writeJSON(w, http.StatusBadRequest, struct {
		Error   armError `json:"error"`
		Message string   `json:"Message"`
	}{armError{Code: e.Code, Message: e.Message, Target: e.Target}, rateCardInvalidQuery + " " + e.Message})
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
		}
	}
	return false
}

// renderRateCard checks the request and returns the RateCard body, from the
// cache when the catalog has not changed.
func (a *API) renderRateCard(r *http.Request) (*rateCardBody, error) {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	version, err := checkAPIVersion(q, rateCardAPIVersions)
	if err != nil {
		return nil, err
	}
	id, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return nil, badSubscriptionID(r)
	}
	sub, err := a.deps.Accounts.Get(r.Context(), id)
	if err != nil {
		return nil, err
	}
	var query catalog.RateCardQuery
	// The Azure SDKs send "$filter=" when given no filter: that is the
	// same as none.
	if filter, _ := q.get("$filter"); strings.TrimSpace(filter) != "" {
		f, err := parseRateCardFilter(filter)
		if err != nil {
			return nil, err
		}
		query = catalog.RateCardQuery{OfferDurableID: f.OfferDurableID, Currency: f.Currency, Locale: f.Locale, RegionInfo: f.RegionInfo}
	} else {
		// Beyond Azure: without a filter, the subscription's own price list.
		query = catalog.RateCardQuery{OfferDurableID: sub.OfferDurableID, Currency: sub.Currency, Locale: sub.Locale, RegionInfo: sub.RegionInfo}
	}
	catVersion, err := a.deps.Catalog.CatalogVersion(r.Context())
	if err != nil {
		return nil, err
	}
	now := a.now()
	key := rateCardKey{apiVersion: version,
		offer: strings.ToUpper(query.OfferDurableID), currency: strings.ToUpper(query.Currency),
		locale: strings.ToLower(query.Locale), region: strings.ToUpper(query.RegionInfo)}
	if body := a.rateCards.get(key, catVersion, now); body != nil {
		return body, nil
	}
	view, err := a.deps.Catalog.RateCard(r.Context(), query, now)
	if err != nil {
		return nil, err
	}
	body, err := newRateCardBody(encodeRateCard(&view, version == rateCardV2016), view.Version, now)
	if err != nil {
		return nil, err
	}
	a.rateCards.put(key, body)
	return body, nil
}

// encodeRateCard writes a RateCard body: PascalCase as Azure's, numbers
// exact (an exact decimal is a valid JSON number), MeterStatus only for
// 2016-08-31-preview.
func encodeRateCard(v *catalog.RateCardView, meterStatus bool) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(v.Meters)*400)
	b.WriteString(`{"OfferTerms":[`)
	for i, t := range v.OfferTerms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"Name":`)
		writeString(&b, t.Name)
		b.WriteString(`,"EffectiveDate":"`)
		b.WriteString(t.EffectiveDate.UTC().Format(time.RFC3339))
		b.WriteByte('"')
		switch t.Name {
		case catalog.TermMonetaryCredit:
			b.WriteString(`,"Credit":`)
			b.WriteString(t.Credit.String())
			writeGUIDList(&b, "ExcludedMeterIds", t.ExcludedMeterIDs)
		case catalog.TermMonetaryCommitment:
			b.WriteString(`,"TieredDiscount":{`)
			for j, d := range t.TieredDiscount {
				if j > 0 {
					b.WriteByte(',')
				}
				writeString(&b, d.Min.String())
				b.WriteByte(':')
				b.WriteString(d.Percent.String())
			}
			b.WriteByte('}')
			writeGUIDList(&b, "ExcludedMeterIds", t.ExcludedMeterIDs)
		case catalog.TermRecurringCharge:
			b.WriteString(`,"RecurringCharge":`)
			b.WriteString(t.RecurringCharge.String())
		}
		b.WriteByte('}')
	}
	b.WriteString(`],"Meters":[`)
	for i := range v.Meters {
		m := &v.Meters[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"MeterId":`)
		writeString(&b, m.MeterID)
		b.WriteString(`,"MeterName":`)
		writeString(&b, m.MeterName)
		b.WriteString(`,"MeterCategory":`)
		writeString(&b, m.MeterCategory)
		b.WriteString(`,"MeterSubCategory":`)
		writeString(&b, m.MeterSubCategory)
		b.WriteString(`,"Unit":`)
		writeString(&b, m.Unit)
		b.WriteString(`,"MeterTags":[`)
		for j, tag := range m.MeterTags {
			if j > 0 {
				b.WriteByte(',')
			}
			writeString(&b, tag)
		}
		b.WriteString(`],"MeterRegion":`)
		writeString(&b, m.MeterRegion)
		b.WriteString(`,"MeterRates":{`)
		for j, t := range m.MeterRates {
			if j > 0 {
				b.WriteByte(',')
			}
			writeString(&b, t.Min.String())
			b.WriteByte(':')
			b.WriteString(t.Price.String())
		}
		b.WriteString(`},"EffectiveDate":"`)
		b.WriteString(m.EffectiveDate.UTC().Format(time.RFC3339))
		b.WriteString(`","IncludedQuantity":`)
		b.WriteString(m.IncludedQuantity.String())
		if meterStatus {
			b.WriteString(`,"MeterStatus":`)
			writeString(&b, m.MeterStatus)
		}
		b.WriteByte('}')
	}
	b.WriteString(`],"Currency":`)
	writeString(&b, v.Currency)
	b.WriteString(`,"Locale":`)
	writeString(&b, v.Locale)
	b.WriteString(`,"IsTaxIncluded":`)
	b.WriteString(strconv.FormatBool(v.IsTaxIncluded))
	b.WriteByte('}')
	return b.Bytes()
}

func writeGUIDList(b *bytes.Buffer, name string, ids []string) {
	b.WriteString(`,"`)
	b.WriteString(name)
	b.WriteString(`":[`)
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		writeString(b, id)
	}
	b.WriteByte(']')
}

// rateCardBody is a rendered RateCard, plain and gzipped.
type rateCardBody struct {
	plain, gzipped []byte
	etag           string
	catalogVersion int64
	rendered       time.Time
}

func newRateCardBody(plain []byte, catalogVersion int64, now time.Time) (*rateCardBody, error) {
	var z bytes.Buffer
	zw, err := gzip.NewWriterLevel(&z, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(plain); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(plain)
	return &rateCardBody{plain: plain, gzipped: z.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`,
		catalogVersion: catalogVersion, rendered: now}, nil
}

type rateCardKey struct {
	apiVersion, offer, currency, locale, region string
}

// rateCardCache keeps rendered RateCards: a large catalog takes far longer
// to read and encode than to send.
type rateCardCache struct {
	mu sync.Mutex
	m  map[rateCardKey]*rateCardBody
}

// maxRateCards bounds the cache (a 50,000-meter RateCard is some 20 MB
// plain and 2 MB gzipped).
const maxRateCards = 16

// get returns the body of key if it was rendered at catalogVersion less
// than rateCardTTL ago.
func (c *rateCardCache) get(key rateCardKey, catalogVersion int64, now time.Time) *rateCardBody {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.m[key]
	if b == nil || b.catalogVersion != catalogVersion || now.Sub(b.rendered) >= rateCardTTL || now.Before(b.rendered) {
		return nil
	}
	return b
}

func (c *rateCardCache) put(key rateCardKey, b *rateCardBody) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxRateCards {
		c.m = make(map[rateCardKey]*rateCardBody)
	}
	c.m[key] = b
}
