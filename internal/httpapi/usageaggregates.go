package httpapi

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Supported api-versions per operation.
var usageAPIVersions = []string{"2015-06-01-preview"}

// armQuery is a request's query with names matched case-insensitively, as
// Azure does (Microsoft's own samples send "reportedstartTime").
type armQuery struct {
	pairs [][2]string // in request order, decoded
}

func parseARMQuery(raw string) (armQuery, error) {
	var q armQuery
	for raw != "" {
		var kv string
		kv, raw, _ = strings.Cut(raw, "&")
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		ku, err := url.QueryUnescape(k)
		if err != nil {
			return q, invalid("InvalidProperty", k, "The query parameter name '%s' is not valid URL encoding.", k)
		}
		vu, err := url.QueryUnescape(v)
		if err != nil {
			return q, invalid("InvalidProperty", ku, "The value of the query parameter '%s' is not valid URL encoding.", ku)
		}
		q.pairs = append(q.pairs, [2]string{ku, vu})
	}
	return q, nil
}

// get returns the first value of the named parameter (any case).
func (q armQuery) get(name string) (string, bool) {
	for _, p := range q.pairs {
		if strings.EqualFold(p[0], name) {
			return p[1], true
		}
	}
	return "", false
}

// encodeWithout re-encodes the query without the named parameter; spaces
// become %20 and plus signs %2B, so any form decoder reads the same values.
func (q armQuery) encodeWithout(name string) string {
	var b strings.Builder
	for _, p := range q.pairs {
		if strings.EqualFold(p[0], name) {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p[0]), "+", "%20"))
		b.WriteByte('=')
		b.WriteString(strings.ReplaceAll(url.QueryEscape(p[1]), "+", "%20"))
	}
	return b.String()
}

// checkAPIVersion applies ARM's api-version rules.
func checkAPIVersion(q armQuery, supported []string) (string, error) {
	v, ok := q.get("api-version")
	if !ok || v == "" {
		return "", invalid("MissingApiVersionParameter", "api-version", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	for _, s := range supported {
		if strings.EqualFold(v, s) {
			return s, nil
		}
	}
	return "", invalid("InvalidApiVersionParameter", "api-version", "The api-version '%s' is invalid. The supported versions are '%s'.", clip(v), strings.Join(supported, ","))
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// parseReportedTime reads a reportedStartTime/EndTime value. A "+" that was
// sent unescaped arrives as a space ("…T00:00:00 00:00") and is restored.
func parseReportedTime(name, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, invalid("InvalidProperty", name, "The query parameter '%s' is required.", name)
	}
	s := strings.TrimSpace(v)
	if n := len(s); n > 6 && s[n-6] == ' ' && s[n-3] == ':' {
		s = s[:n-6] + "+" + s[n-5:]
	}
	t, err := usage.ParseTime(s)
	if err != nil {
		return time.Time{}, invalid("InvalidProperty", name, "The %s '%s' is not a valid ISO 8601 date-time.", name, clip(v))
	}
	return t, nil
}

// usageAggregates is UsageAggregates_List (api-version 2015-06-01-preview).
func (a *API) usageAggregates(w http.ResponseWriter, r *http.Request) {
	if err := a.serveUsageAggregates(w, r); err != nil {
		writeError(w, r, a.log, err)
	}
}

func (a *API) serveUsageAggregates(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if _, err := checkAPIVersion(q, usageAPIVersions); err != nil {
		return err
	}
	sub, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return badSubscriptionID(r)
	}
	uq := usage.Query{SubscriptionID: sub, Granularity: usage.Daily, ShowDetails: true}
	start, _ := q.get("reportedStartTime")
	if uq.ReportedStart, err = parseReportedTime("reportedStartTime", start); err != nil {
		return err
	}
	end, _ := q.get("reportedEndTime")
	if uq.ReportedEnd, err = parseReportedTime("reportedEndTime", end); err != nil {
		return err
	}
	if g, ok := q.get("aggregationGranularity"); ok {
		switch {
		case strings.EqualFold(g, "daily"):
			uq.Granularity = usage.Daily
		case strings.EqualFold(g, "hourly"):
			uq.Granularity = usage.Hourly
		default:
			return invalid("InvalidAggregationGranularity", "aggregationGranularity", "The aggregationGranularity '%s' is not valid; valid values are Daily and Hourly.", clip(g))
		}
	}
	if d, ok := q.get("showDetails"); ok {
		switch {
		case strings.EqualFold(d, "true"):
			uq.ShowDetails = true
		case strings.EqualFold(d, "false"):
			uq.ShowDetails = false
		default:
			return invalid("InvalidProperty", "showDetails", "The showDetails value '%s' is not valid; use true or false.", clip(d))
		}
	}
	if tok, ok := q.get("continuationToken"); ok && tok != "" {
		after, ok := decodeToken(a.deps.TokenKey, &uq, tok)
		if !ok {
			return invalid("InvalidProperty", "continuationToken", "The continuationToken is not valid for this query; start again without it.")
		}
		uq.After = &after
	}
	page, err := a.deps.Usage.Aggregate(r.Context(), uq)
	if err != nil {
		return err
	}
	var next string
	if page.Next != nil {
		next = baseURL(r) + r.URL.EscapedPath() + "?" + q.encodeWithout("continuationToken") +
			"&continuationToken=" + encodeToken(a.deps.TokenKey, &uq, *page.Next)
	}
	body := renderUsagePage(&a.quotes, sub, &uq, page, next)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

// armTime is the time layout of the Commerce APIs: UTC as "+00:00".
const armTime = "2006-01-02T15:04:05-07:00"

func renderUsagePage(quotes *quoteCache, sub string, q *usage.Query, page usage.Page, next string) []byte {
	var b bytes.Buffer
	b.Grow(len(page.Rows)*700 + 256)
	name := string(q.Granularity) + "_BRSDT_" + q.ReportedStart.Format("20060102_1504")
	id := "/subscriptions/" + sub + "/providers/Microsoft.Commerce/UsageAggregates/" + name
	b.WriteString(`{"value":[`)
	for i := range page.Rows {
		row := &page.Rows[i]
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":`)
		writeString(&b, id)
		b.WriteString(`,"name":`)
		writeString(&b, name)
		b.WriteString(`,"type":"Microsoft.Commerce/UsageAggregate","properties":{"subscriptionId":`)
		writeString(&b, sub)
		b.WriteString(`,"usageStartTime":"`)
		b.WriteString(row.UsageStart.UTC().Format(armTime))
		b.WriteString(`","usageEndTime":"`)
		b.WriteString(row.UsageEnd.UTC().Format(armTime))
		b.WriteString(`","meterName":`)
		writeString(&b, row.Meter.MeterName)
		b.WriteString(`,"meterCategory":`)
		writeString(&b, row.Meter.MeterCategory)
		b.WriteString(`,"meterSubCategory":`)
		writeString(&b, row.Meter.MeterSubCategory)
		b.WriteString(`,"unit":`)
		writeString(&b, row.Meter.Unit)
		b.WriteString(`,"meterRegion":`)
		writeString(&b, row.Meter.MeterRegion)
		b.WriteString(`,"meterId":`)
		writeString(&b, row.Meter.MeterID)
		b.WriteString(`,"infoFields":{}`)
		if row.InstanceData != "" {
			b.WriteString(`,"instanceData":`)
			b.Write(quotes.quoted(row.InstanceData))
		}
		b.WriteString(`,"quantity":`)
		b.WriteString(row.Quantity.String()) // an exact decimal is a valid JSON number
		b.WriteString(`}}`)
	}
	b.WriteByte(']')
	if next != "" {
		b.WriteString(`,"nextLink":`)
		writeString(&b, next)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// quoteCache keeps instanceData strings already quoted for JSON: the same
// few thousand instances fill every page, and escaping them is the most
// expensive part of rendering one.
type quoteCache struct {
	mu sync.RWMutex
	m  map[string][]byte
}

const maxQuoted = 20_000

func (c *quoteCache) quoted(s string) []byte {
	c.mu.RLock()
	q, ok := c.m[s]
	c.mu.RUnlock()
	if ok {
		return q
	}
	var b bytes.Buffer
	writeString(&b, s)
	q = b.Bytes()
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxQuoted {
		c.m = make(map[string][]byte)
	}
	c.m[s] = q
	c.mu.Unlock()
	return q
}

func writeString(b *bytes.Buffer, s string) {
	q, err := jsontext.AppendQuote(b.AvailableBuffer(), s)
	if err != nil { // invalid UTF-8 cannot come from the store; be safe anyway
		q, _ = jsontext.AppendQuote(b.AvailableBuffer(), strings.ToValidUTF8(s, "\uFFFD"))
	}
	b.Write(q)
}
