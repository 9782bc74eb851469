package httpapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/usage"
)

// The provider usage API of Azure Stack Hub (and Windows Azure Pack's
// chargeback feed):
//
//	GET /subscriptions/{providerSubscriptionId}/providers/Microsoft.Commerce.Admin/subscriberUsageAggregates
//	    ?api-version=2015-06-01-preview&reportedStartTime=…&reportedEndTime=…
//	    &aggregationGranularity=Daily|Hourly&subscriberId=…&continuationToken=…
//
// It answers the UsageAggregates rows (instance details included) of every
// tenant subscription, or of the one named by subscriberId, with the same
// window rules (aligned, not in the future, 503 ProcessingNotComplete
// before the settle margin) and pages of at most 1000 rows.
//
// Decisions:
//   - Reckon has one provider, the operator, and no provider subscription
//     of its own: the {providerSubscriptionId} must be a well-formed GUID
//     (400 InvalidSubscriptionId otherwise) and is otherwise not checked;
//     it only names the scope, as it does on Azure Stack Hub where any
//     subscription of the provider works. The caller must hold the
//     Operator role (403 AuthorizationFailed otherwise — a tenant's Owner
//     is not a provider).
//   - subscriberId must be a GUID of an existing subscription (400
//     InvalidSubscriptionId, 404 SubscriptionNotFound).
//   - Rows come ordered by subscription id, then as UsageAggregates orders
//     them; a page may hold rows of several subscriptions. Each row's
//     subscriptionId is the subscriber's.
//   - The continuationToken is tamper-evident (HMAC with the server's token
//     key) and bound to the query: it carries the subscription and the
//     UsageAggregates position where the page ended.

var providerUsageVersions = []string{"2015-06-01-preview"}

// providerPageSize is the most rows a page holds.
var providerPageSize = usage.PageSize

const providerTokenVersion = 1

// providerQuery is what a provider token is bound to.
type providerQuery struct {
	provider, subscriber string
	base                 usage.Query // SubscriptionID empty
}

func (p *providerQuery) digest() [8]byte {
	q := p.base
	q.SubscriptionID = strings.ToLower(p.provider) + "|" + p.subscriber
	return queryDigest(&q)
}

func providerTokenMAC(key, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("reckon-provider-usage\x00"))
	mac.Write(body)
	return mac.Sum(nil)[:16]
}

// encodeProviderToken returns the token of the page after row k of
// subscription sub.
func encodeProviderToken(key []byte, p *providerQuery, sub string, k usage.GroupKey) string {
	b := []byte{providerTokenVersion}
	d := p.digest()
	b = append(b, d[:]...)
	b = append(b, byte(len(sub)))
	b = append(b, sub...)
	b = binary.AppendVarint(b, k.Bucket)
	b = binary.AppendVarint(b, k.MeterKey)
	b = binary.AppendVarint(b, k.InstanceKey)
	b = append(b, providerTokenMAC(key, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeProviderToken checks a token against p.
func decodeProviderToken(key []byte, p *providerQuery, tok string) (string, usage.GroupKey, bool) {
	var k usage.GroupKey
	if len(tok) > 256 {
		return "", k, false
	}
	for i := 0; i < len(tok); i++ {
		if c := tok[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", k, false
		}
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) < 1+8+1+3+16 || raw[0] != providerTokenVersion {
		return "", k, false
	}
	body, sig := raw[:len(raw)-16], raw[len(raw)-16:]
	if !hmac.Equal(providerTokenMAC(key, body), sig) {
		return "", k, false
	}
	if d := p.digest(); !hmac.Equal(d[:], body[1:9]) {
		return "", k, false
	}
	rest := body[9:]
	n := int(rest[0])
	if len(rest) < 1+n {
		return "", k, false
	}
	sub := string(rest[1 : 1+n])
	rest = rest[1+n:]
	var vals [3]int64
	for i := range vals {
		v, m := binary.Varint(rest)
		if m <= 0 {
			return "", k, false
		}
		vals[i], rest = v, rest[m:]
	}
	if len(rest) != 0 {
		return "", k, false
	}
	if _, ok := billing.ParseGUID(sub); !ok {
		return "", k, false
	}
	return sub, usage.GroupKey{Bucket: vals[0], MeterKey: vals[1], InstanceKey: vals[2]}, true
}

// subscriberUsageAggregates is the provider usage API.
func (a *API) subscriberUsageAggregates(w http.ResponseWriter, r *http.Request) error {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	if _, err := checkAPIVersion(q, providerUsageVersions); err != nil {
		return err
	}
	provider, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return badSubscriptionID(r)
	}
	pq := providerQuery{provider: provider, base: usage.Query{Granularity: usage.Daily, ShowDetails: true}}
	start, _ := q.get("reportedStartTime")
	if pq.base.ReportedStart, err = parseReportedTime("reportedStartTime", start); err != nil {
		return err
	}
	end, _ := q.get("reportedEndTime")
	if pq.base.ReportedEnd, err = parseReportedTime("reportedEndTime", end); err != nil {
		return err
	}
	if g, ok := q.get("aggregationGranularity"); ok {
		switch {
		case strings.EqualFold(g, "daily"):
			pq.base.Granularity = usage.Daily
		case strings.EqualFold(g, "hourly"):
			pq.base.Granularity = usage.Hourly
		default:
			return invalid("InvalidAggregationGranularity", "aggregationGranularity", "The aggregationGranularity '%s' is not valid; valid values are Daily and Hourly.", clip(g))
		}
	}
	var subs []string
	if sid, ok := q.get("subscriberId"); ok && sid != "" {
		id, ok := billing.ParseGUID(sid)
		if !ok {
			return invalid("InvalidSubscriptionId", "subscriberId", "The subscriberId '%s' is malformed or invalid.", clip(sid))
		}
		if _, err := a.deps.Accounts.Get(r.Context(), id); err != nil {
			return err
		}
		pq.subscriber, subs = id, []string{id}
	} else {
		all, err := a.deps.Accounts.List(r.Context())
		if err != nil {
			return err
		}
		for _, s := range all {
			subs = append(subs, s.SubscriptionID)
		}
	}
	slices.Sort(subs)
	// The window rules apply even when there is no subscription to ask.
	if err := pq.base.Validate(a.now(), 0); err != nil {
		return err
	}
	var after *usage.GroupKey
	if tok, ok := q.get("continuationToken"); ok && tok != "" {
		sub, k, ok := decodeProviderToken(a.deps.TokenKey, &pq, tok)
		if !ok {
			return invalid("InvalidProperty", "continuationToken", "The continuationToken is not valid for this query; start again without it.")
		}
		i, _ := slices.BinarySearch(subs, sub)
		subs = subs[i:]
		if len(subs) > 0 && subs[0] == sub {
			after = &k
		}
	}
	type subPage struct {
		sub  string
		q    usage.Query
		page usage.Page
	}
	var pages []subPage
	n := 0
	var next string
	for i, sub := range subs {
		uq := pq.base
		uq.SubscriptionID = sub
		uq.PageSize = providerPageSize - n
		if i == 0 {
			uq.After = after
		}
		page, err := a.deps.Usage.Aggregate(r.Context(), uq)
		if err != nil {
			if e := billing.AsError(err); e != nil && e.Kind == billing.KindNotFound {
				continue // no usage ever recorded for it
			}
			return err
		}
		if len(page.Rows) > 0 {
			pages = append(pages, subPage{sub, uq, page})
			n += len(page.Rows)
		}
		var last *usage.GroupKey
		switch {
		case page.Next != nil:
			last = page.Next
		case n >= providerPageSize && i+1 < len(subs):
			// Full, and more subscriptions follow: continue after this one.
			last = &usage.GroupKey{Bucket: 1<<62 - 1, MeterKey: 1<<62 - 1, InstanceKey: 1<<62 - 1}
		}
		if last != nil {
			next = baseURL(r) + r.URL.EscapedPath() + "?" + q.encodeWithout("continuationToken") +
				"&continuationToken=" + encodeProviderToken(a.deps.TokenKey, &pq, sub, *last)
			break
		}
	}
	var b bytes.Buffer
	b.WriteString(`{"value":[`)
	first := true
	for _, p := range pages {
		body := renderUsagePage(&a.quotes, p.sub, &p.q, usage.Page{Rows: p.page.Rows}, "")
		// renderUsagePage writes {"value":[…]}: take the items, retyped.
		items := body[len(`{"value":[`) : len(body)-len(`]}`)]
		if len(items) == 0 {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		// Only the ids start with `{"id":"`: instanceData is a quoted string.
		b.Write(bytes.ReplaceAll(items, []byte(`{"id":"/subscriptions/`+p.sub+`/providers/Microsoft.Commerce/UsageAggregates/`),
			[]byte(`{"id":"/subscriptions/`+p.sub+`/providers/Microsoft.Commerce.Admin/SubscriberUsageAggregates/`)))
	}
	b.WriteByte(']')
	if next != "" {
		b.WriteString(`,"nextLink":`)
		writeString(&b, next)
	}
	b.WriteByte('}')
	out := bytes.ReplaceAll(b.Bytes(), []byte(`"type":"Microsoft.Commerce/UsageAggregate"`), []byte(`"type":"Microsoft.Commerce.Admin/SubscriberUsageAggregate"`))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	return nil
}
