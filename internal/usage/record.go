// Package usage is the metering domain: usage records as meter sources send
// them, the rules that accept or reject them, their attribution to hour
// buckets, and the aggregation that the UsageAggregates API serves.
package usage

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// Limits on the fields of a record.
const (
	MaxIDLength             = 128
	MaxResourceURILength    = 2048
	MaxLocationLength       = 64
	MaxTags                 = 50
	MaxTagNameLength        = 512
	MaxTagValueLength       = 256
	MaxAdditionalInfoLength = 8192
	// MaxInterval is the longest usage interval one record may cover.
	MaxInterval = 31 * 24 * time.Hour
	// FutureSkew is how far in the future a usage interval may end, to
	// tolerate meter sources whose clocks run a little ahead.
	FutureSkew = 5 * time.Minute
)

// earliestUsage is the earliest usage time Reckon accepts.
var earliestUsage = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Rejection codes, as they appear in the ingest response.
const (
	CodeInvalidRecord          = "InvalidRecord"
	CodeMissingProperty        = "MissingProperty"
	CodeInvalidID              = "InvalidId"
	CodeInvalidSubscriptionID  = "InvalidSubscriptionId"
	CodeSubscriptionNotFound   = "SubscriptionNotFound"
	CodeInvalidMeterID         = "InvalidMeterId"
	CodeMeterNotFound          = "MeterNotFound"
	CodeInvalidQuantity        = "InvalidQuantity"
	CodeNegativeQuantity       = "NegativeQuantity"
	CodeInvalidTime            = "InvalidTime"
	CodeEndBeforeStart         = "EndBeforeStart"
	CodeIntervalTooLong        = "IntervalTooLong"
	CodeUsageInFuture          = "UsageInFuture"
	CodeFieldTooLong           = "FieldTooLong"
	CodeInvalidTags            = "InvalidTags"
	CodeInvalidAdditionalInfo  = "InvalidAdditionalInfo"
	CodeReportedTimeNotAllowed = "ReportedTimeNotAllowed"
	CodeConflict               = "Conflict"
	CodeUnknownProperty        = "UnknownProperty"
	CodeAuthorizationFailed    = "AuthorizationFailed"
)

// RecordInput is one usage record as a meter source sends it.
type RecordInput struct {
	ID             string          `json:"id"`
	SubscriptionID string          `json:"subscriptionId"`
	MeterID        string          `json:"meterId"`
	Quantity       json.RawMessage `json:"quantity"`
	UsageStartTime string          `json:"usageStartTime"`
	UsageEndTime   string          `json:"usageEndTime"`
	ResourceURI    string          `json:"resourceUri,omitempty"`
	Location       string          `json:"location,omitempty"`
	Tags           json.RawMessage `json:"tags,omitempty"`
	AdditionalInfo json.RawMessage `json:"additionalInfo,omitempty"`
	ReportedTime   string          `json:"reportedTime,omitempty"`
}

// Rejection says why one record of a request was not accepted.
type Rejection struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Record is a validated usage record, ready to be stored.
type Record struct {
	ID             string
	SubscriptionID string // lower-case GUID
	MeterID        string // lower-case GUID
	Quantity       money.Quantity
	Start, End     time.Time // usage interval [Start, End), UTC, microsecond precision
	Instance       Instance
	// ReportedAt is set only when an operator supplied it explicitly.
	ReportedAt time.Time
	// Key identifies the record id for idempotency; Fingerprint identifies
	// its content, so that a replay can be told from a conflicting reuse.
	Key         [16]byte
	Fingerprint int64
}

// Instance is the resource a record was metered for, rendered as Azure's
// instanceData JSON string ({"Microsoft.Resources":{…}}).
type Instance struct {
	Data string   // canonical instanceData JSON; "" when the record names no resource
	Hash [16]byte // sha256 of Data, truncated
}

// RecordKey derives the idempotency key of a caller's record id.
func RecordKey(id string) [16]byte {
	const prefix = "reckon/usage-record/"
	var stack [len(prefix) + MaxIDLength]byte
	b := append(append(stack[:0], prefix...), id...)
	h := sha256.Sum256(b)
	var k [16]byte
	copy(k[:], h[:16])
	return k
}

// Validate checks in against the rules that need no stored state and
// returns the record, or the reason it is rejected. now is the server's
// clock; operator reports whether the caller may set reportedTime.
func Validate(in *RecordInput, now time.Time, operator bool) (Record, *Rejection) {
	return validate(in, now, operator, nil)
}

// memoEntry is an instance built from a record, with the fields it was
// built from: the records of one resource repeat its resourceUri,
// location, tags and additionalInfo.
type memoEntry struct {
	location   string
	tags, info []byte
	inst       Instance
}

func (e *memoEntry) matches(in *RecordInput) bool {
	return e.location == in.Location && bytes.Equal(e.tags, in.Tags) && bytes.Equal(e.info, in.AdditionalInfo)
}

// sharedInstances is the memo of instances shared by concurrent requests: a
// resource's records arrive in many requests, and building its canonical
// instanceData (tags sorted, JSON rewritten, hashed) costs more than the
// rest of a record's validation. It forgets everything when full.
type sharedInstances struct {
	mu sync.RWMutex // reads dominate: every record, from every request
	m  map[string]memoEntry
}

// maxSharedInstances bounds sharedInstances (each entry holds a resource's
// instanceData twice over, so some 50 MB at most).
const maxSharedInstances = 65_536

func (c *sharedInstances) get(in *RecordInput) (memoEntry, bool) {
	if c == nil {
		return memoEntry{}, false
	}
	c.mu.RLock()
	e, ok := c.m[in.ResourceURI]
	c.mu.RUnlock()
	return e, ok && e.matches(in)
}

func (c *sharedInstances) put(uri string, e memoEntry) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxSharedInstances {
		c.m = make(map[string]memoEntry)
	}
	c.m[uri] = e
	c.mu.Unlock()
}

func validate(in *RecordInput, now time.Time, operator bool, shared *sharedInstances) (Record, *Rejection) {
	var r Record
	if in.ID == "" {
		return r, reject(CodeMissingProperty, "The property 'id' is required.")
	}
	if len(in.ID) > MaxIDLength || !utf8.ValidString(in.ID) || strings.IndexFunc(in.ID, isControl) >= 0 {
		return r, reject(CodeInvalidID, "The id must be 1 to %d characters of printable UTF-8.", MaxIDLength)
	}
	r.ID = in.ID
	var ok bool
	if in.SubscriptionID == "" {
		return r, reject(CodeMissingProperty, "The property 'subscriptionId' is required.")
	}
	if r.SubscriptionID, ok = billing.ParseGUID(in.SubscriptionID); !ok {
		return r, reject(CodeInvalidSubscriptionID, "The subscriptionId '%s' is not a GUID.", clip(in.SubscriptionID))
	}
	if in.MeterID == "" {
		return r, reject(CodeMissingProperty, "The property 'meterId' is required.")
	}
	if r.MeterID, ok = billing.ParseGUID(in.MeterID); !ok {
		return r, reject(CodeInvalidMeterID, "The meterId '%s' is not a GUID.", clip(in.MeterID))
	}
	q, rej := parseQuantity(in.Quantity)
	if rej != nil {
		return r, rej
	}
	r.Quantity = q
	if r.Start, rej = parseTime("usageStartTime", in.UsageStartTime); rej != nil {
		return r, rej
	}
	if r.End, rej = parseTime("usageEndTime", in.UsageEndTime); rej != nil {
		return r, rej
	}
	if r.End.Before(r.Start) {
		return r, reject(CodeEndBeforeStart, "The usageEndTime %s is before the usageStartTime %s.", in.UsageEndTime, in.UsageStartTime)
	}
	if r.End.Sub(r.Start) > MaxInterval {
		return r, reject(CodeIntervalTooLong, "The usage interval is longer than %d days; split it into several records.", int(MaxInterval.Hours()/24))
	}
	if r.Start.Before(earliestUsage) {
		return r, reject(CodeInvalidTime, "The usageStartTime is before %s.", earliestUsage.Format(time.DateOnly))
	}
	if r.End.After(now.Add(FutureSkew)) {
		return r, reject(CodeUsageInFuture, "The usageEndTime %s is in the future.", in.UsageEndTime)
	}
	if in.ReportedTime != "" {
		if !operator {
			return r, reject(CodeReportedTimeNotAllowed, "Only an operator may set reportedTime.")
		}
		if r.ReportedAt, rej = parseTime("reportedTime", in.ReportedTime); rej != nil {
			return r, rej
		}
		if r.ReportedAt.After(now) {
			return r, reject(CodeInvalidTime, "The reportedTime %s is in the future.", in.ReportedTime)
		}
		if r.ReportedAt.Before(r.Start) {
			// Usage is reported once it has begun; the charges of a period
			// are found by reported time from the period's start on.
			return r, reject(CodeInvalidTime, "The reportedTime %s is before the usageStartTime %s.", in.ReportedTime, in.UsageStartTime)
		}
	}
	// A request's records rarely repeat a resource often enough to pay
	// for a per-request memo: the service-wide one serves them all.
	if e, ok := shared.get(in); ok {
		r.Instance = e.inst
	} else {
		inst, rej := buildInstance(in)
		if rej != nil {
			return r, rej
		}
		r.Instance = inst
		e := memoEntry{location: in.Location, tags: in.Tags, info: in.AdditionalInfo, inst: inst}
		if shared != nil {
			shared.put(in.ResourceURI, e)
		}
	}
	r.Key = RecordKey(r.ID)
	r.Fingerprint = fingerprint(&r)
	return r, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func parseQuantity(raw json.RawMessage) (money.Quantity, *Rejection) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s == "null" {
		return 0, reject(CodeMissingProperty, "The property 'quantity' is required.")
	}
	if s[0] == '"' {
		str, err := jsontext.AppendUnquote(nil, s)
		if err != nil {
			return 0, reject(CodeInvalidQuantity, "The quantity is not a number.")
		}
		s = strings.TrimSpace(string(str))
	} else if c := s[0]; c != '-' && (c < '0' || c > '9') {
		return 0, reject(CodeInvalidQuantity, "The quantity must be a number or a decimal string.")
	}
	if strings.HasPrefix(s, "-") {
		if _, err := money.ParseQuantity(s[1:]); err == nil {
			return 0, reject(CodeNegativeQuantity, "The quantity %s is negative.", clip(s))
		}
	}
	q, err := money.ParseQuantity(s)
	switch {
	case errors.Is(err, money.ErrQuantityNegative):
		return 0, reject(CodeNegativeQuantity, "The quantity %s is negative.", clip(s))
	case err != nil:
		return 0, reject(CodeInvalidQuantity, "The quantity '%s' is not valid: %v.", clip(s), err)
	}
	return q, nil
}

func parseTime(name, s string) (time.Time, *Rejection) {
	if s == "" {
		return time.Time{}, reject(CodeMissingProperty, "The property '%s' is required.", name)
	}
	t, err := ParseTime(s)
	if err != nil {
		return time.Time{}, reject(CodeInvalidTime, "The %s '%s' is not an RFC 3339 time.", name, clip(s))
	}
	return t, nil
}

// ParseTime parses an RFC 3339 time, also accepting a space instead of the
// "T" (as Microsoft's own samples send), and returns it in UTC truncated to
// the microsecond.
func ParseTime(s string) (time.Time, error) {
	if len(s) > 40 {
		return time.Time{}, errors.New("time too long")
	}
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, errors.New("year out of range")
	}
	return t.Truncate(time.Microsecond), nil
}

func buildInstance(in *RecordInput) (Instance, *Rejection) {
	if len(in.ResourceURI) > MaxResourceURILength {
		return Instance{}, reject(CodeFieldTooLong, "The resourceUri is longer than %d characters.", MaxResourceURILength)
	}
	if len(in.Location) > MaxLocationLength {
		return Instance{}, reject(CodeFieldTooLong, "The location is longer than %d characters.", MaxLocationLength)
	}
	if !utf8.ValidString(in.ResourceURI) || !utf8.ValidString(in.Location) {
		return Instance{}, reject(CodeInvalidRecord, "The resourceUri and location must be UTF-8.")
	}
	tags, rej := canonicalTags(in.Tags)
	if rej != nil {
		return Instance{}, rej
	}
	info, rej := canonicalObject(in.AdditionalInfo)
	if rej != nil {
		return Instance{}, rej
	}
	if in.ResourceURI == "" && in.Location == "" && tags == nil && info == nil {
		return Instance{}, nil
	}
	var b bytes.Buffer
	b.WriteString(`{"Microsoft.Resources":{"resourceUri":`)
	writeJSONString(&b, in.ResourceURI)
	b.WriteString(`,"location":`)
	writeJSONString(&b, in.Location)
	b.WriteString(`,"tags":`)
	if tags == nil {
		b.WriteString("null")
	} else {
		b.Write(tags)
	}
	b.WriteString(`,"additionalInfo":`)
	if info == nil {
		b.WriteString("null")
	} else {
		b.Write(info)
	}
	b.WriteString("}}")
	h := sha256.Sum256(b.Bytes())
	var inst Instance
	inst.Data = b.String()
	copy(inst.Hash[:], h[:16])
	return inst, nil
}

func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := jsontext.AppendQuote(b.AvailableBuffer(), s) // s is valid UTF-8
	b.Write(q)
}

// canonicalTags checks that raw is null or an object of string values within
// ARM's limits, and returns it with sorted keys.
func canonicalTags(raw json.RawMessage) ([]byte, *Rejection) {
	if isNull(raw) {
		return nil, nil
	}
	bad := reject(CodeInvalidTags, "The tags must be an object of string values.")
	dec := jsontext.NewDecoder(bytes.NewReader(raw), jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return nil, bad
	}
	var tags [][2]string
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, bad
		}
		k := name.String() // a token is void after the next read
		val, err := dec.ReadToken()
		if err != nil || val.Kind() != '"' {
			return nil, bad
		}
		v := val.String()
		if k == "" || len(k) > MaxTagNameLength || len(v) > MaxTagValueLength {
			return nil, reject(CodeInvalidTags, "Tag names must be 1 to %d characters and values at most %d.", MaxTagNameLength, MaxTagValueLength)
		}
		tags = append(tags, [2]string{k, v})
		if len(tags) > MaxTags {
			return nil, reject(CodeInvalidTags, "A record may carry at most %d tags.", MaxTags)
		}
	}
	sort.Slice(tags, func(i, j int) bool { return tags[i][0] < tags[j][0] })
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	for i, t := range tags {
		if i > 0 {
			if t[0] == tags[i-1][0] {
				return nil, reject(CodeInvalidTags, "The tag %q appears twice.", clip(t[0]))
			}
			out = append(out, ',')
		}
		out, _ = jsontext.AppendQuote(out, t[0])
		out = append(out, ':')
		out, _ = jsontext.AppendQuote(out, t[1])
	}
	return append(out, '}'), nil
}

// canonicalObject checks that raw is null or a JSON object and returns it in
// canonical form (sorted keys, numbers kept exactly as written).
func canonicalObject(raw json.RawMessage) ([]byte, *Rejection) {
	if isNull(raw) {
		return nil, nil
	}
	if len(raw) > MaxAdditionalInfoLength {
		return nil, reject(CodeFieldTooLong, "The additionalInfo is longer than %d bytes.", MaxAdditionalInfoLength)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, reject(CodeInvalidAdditionalInfo, "The additionalInfo must be a JSON object.")
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, reject(CodeInvalidAdditionalInfo, "The additionalInfo must be a JSON object.")
	}
	return out, nil
}

func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// fingerprint hashes everything that makes a record what it is, so that an
// identical replay matches and any difference does not.
func fingerprint(r *Record) int64 {
	var stack [160]byte
	b := append(stack[:0], r.SubscriptionID...)
	b = append(b, r.MeterID...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Quantity))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Start.UnixMicro()))
	b = binary.BigEndian.AppendUint64(b, uint64(r.End.UnixMicro()))
	if !r.ReportedAt.IsZero() {
		b = binary.BigEndian.AppendUint64(b, uint64(r.ReportedAt.UnixMicro()))
	}
	b = append(b, r.Instance.Hash[:]...)
	sum := sha256.Sum256(b)
	return int64(binary.BigEndian.Uint64(sum[:8]))
}
