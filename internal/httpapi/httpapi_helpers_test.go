package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// The fixtures of the HTTP tests.
const (
	subA   = "6f1c3a52-8d7e-4b4a-9a8e-3c1d2b4e5f60"
	subB   = "0b6c1e7a-2f3d-4c5b-8a9e-1d2c3b4a5f6e"
	meterA = "0e9d0c9b-ab6d-4312-9c7e-3794e22af9c4"
	meterB = "e60caf26-9ba0-413d-a422-6141f58081d6"
	// unknownGUID names nothing in any test store.
	unknownGUID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	apiVersion  = "2015-06-01-preview"
)

// serverNow is the clock of the test servers: every window of the tests
// ended long before it, except where a test moves the clock.
var serverNow = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

// startServer starts a server of backend b whose clock is returned.
func startServer(t *testing.T, b reckontest.Backend, o reckontest.Options) (*reckontest.Server, *reckontest.Clock) {
	t.Helper()
	clock := reckontest.NewClock(serverNow)
	o.Backend = b
	if o.Now == nil {
		o.Now = clock.Now
	}
	return reckontest.Start(t, o), clock
}

// request is one HTTP call of a test.
type request struct {
	method string
	path   string // path and raw query, sent verbatim
	token  string // bearer token; "" sends no Authorization header
	body   string
	header map[string]string
	host   string // Host header; "" for the server's address
}

// send performs rq and returns the response with its body read.
func send(t *testing.T, srv *reckontest.Server, rq request) (*http.Response, []byte) {
	t.Helper()
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	req, err := http.NewRequest(rq.method, srv.URL+rq.path, strings.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	if rq.body == "" {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	if rq.host != "" {
		req.Host = rq.host
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// get sends a GET with the operator token.
func get(t *testing.T, srv *reckontest.Server, path string) (*http.Response, []byte) {
	t.Helper()
	return send(t, srv, request{path: path, token: srv.AdminToken})
}

type armErrorEnvelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Target  string `json:"target"`
	} `json:"error"`
}

// wantError checks that a response is the ARM error envelope with the given
// status, code and target (target "" means the body must carry none).
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code, target string) armErrorEnvelope {
	t.Helper()
	var e armErrorEnvelope
	if resp.StatusCode != status {
		t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, status, clipBody(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("error body is not JSON: %v (%s)", err, clipBody(body))
	}
	if len(raw) != 1 || raw["error"] == nil {
		t.Errorf("error body has keys %v, want only \"error\"", keysOf(raw))
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Error.Code != code {
		t.Errorf("error code = %q, want %q (message %q)", e.Error.Code, code, e.Error.Message)
	}
	if e.Error.Target != target {
		t.Errorf("error target = %q, want %q (message %q)", e.Error.Target, target, e.Error.Message)
	}
	if e.Error.Message == "" {
		t.Error("error message is empty")
	}
	if got := resp.Header.Get("x-ms-error-code"); got != code {
		t.Errorf("x-ms-error-code = %q, want %q", got, code)
	}
	checkRequestIDs(t, resp)
	return e
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// checkRequestIDs checks the ARM request-id headers every response carries.
func checkRequestIDs(t *testing.T, resp *http.Response) {
	t.Helper()
	if id := resp.Header.Get("x-ms-request-id"); !guidRE.MatchString(id) {
		t.Errorf("x-ms-request-id = %q, want a GUID", id)
	}
	if id := resp.Header.Get("x-ms-correlation-request-id"); !guidRE.MatchString(id) {
		t.Errorf("x-ms-correlation-request-id = %q, want a GUID", id)
	}
}

func clipBody(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "…"
	}
	return string(b)
}

func keysOf[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// putSubscription creates a subscription through the operator API.
func putSubscription(t *testing.T, srv *reckontest.Server, id string) {
	t.Helper()
	resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + id, token: srv.AdminToken,
		body: `{"displayName":"Contoso test","billingAccount":"contoso"}`})
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT subscription %s: %d %s", id, resp.StatusCode, body)
	}
}

// putMeter creates a meter through the operator API.
func putMeter(t *testing.T, srv *reckontest.Server, id, name string) {
	t.Helper()
	resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/meters/" + id, token: srv.AdminToken,
		body: fmt.Sprintf(`{"meterName":%q,"meterCategory":"Virtual Machines","meterSubCategory":"Dv3 Series","meterRegion":"US East","unit":"1 Hour"}`, name)})
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT meter %s: %d %s", id, resp.StatusCode, body)
	}
}

// setupCatalog creates subA, subB, meterA and meterB.
func setupCatalog(t *testing.T, srv *reckontest.Server) {
	t.Helper()
	putSubscription(t, srv, subA)
	putSubscription(t, srv, subB)
	putMeter(t, srv, meterA, "D2 v3")
	putMeter(t, srv, meterB, "D4 v3")
}

// ingest posts body to the metering endpoint and decodes the 200 answer.
func ingest(t *testing.T, srv *reckontest.Server, token, body string) usage.Result {
	t.Helper()
	resp, data := send(t, srv, request{method: http.MethodPost, path: "/metering/v1/usage", token: token, body: body})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ingest: status %d: %s", resp.StatusCode, clipBody(data))
	}
	var res usage.Result
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("ingest answer %s: %v", clipBody(data), err)
	}
	return res
}

// record is a usage record as a test writes it.
type record struct {
	ID             string            `json:"id"`
	SubscriptionID string            `json:"subscriptionId"`
	MeterID        string            `json:"meterId"`
	Quantity       json.RawMessage   `json:"quantity"`
	UsageStartTime string            `json:"usageStartTime"`
	UsageEndTime   string            `json:"usageEndTime"`
	ResourceURI    string            `json:"resourceUri,omitempty"`
	Location       string            `json:"location,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	ReportedTime   string            `json:"reportedTime,omitempty"`
}

func (r record) json() string {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ndjson renders records one per line.
func ndjson(recs ...record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.json())
		b.WriteByte('\n')
	}
	return b.String()
}

// jsonArray renders records as a JSON array.
func jsonArray(recs ...record) string {
	parts := make([]string, len(recs))
	for i, r := range recs {
		parts[i] = r.json()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func rfc(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// usagePath is the UsageAggregates path of sub with the given raw query.
func usagePath(sub, rawQuery string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Commerce/UsageAggregates?" + rawQuery
}

// window renders the query of a UsageAggregates call with the usual
// parameters; extra raw parameters are appended.
func window(start, end time.Time, granularity string, extra ...string) string {
	q := "api-version=" + apiVersion +
		"&reportedStartTime=" + start.UTC().Format("2006-01-02T15:04:05Z") +
		"&reportedEndTime=" + end.UTC().Format("2006-01-02T15:04:05Z")
	if granularity != "" {
		q += "&aggregationGranularity=" + granularity
	}
	for _, e := range extra {
		q += "&" + e
	}
	return q
}

// usageRow is one row of a UsageAggregates page with its quantity kept as
// the exact text of the response.
type usageRow struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		SubscriptionID   string          `json:"subscriptionId"`
		UsageStartTime   string          `json:"usageStartTime"`
		UsageEndTime     string          `json:"usageEndTime"`
		MeterName        string          `json:"meterName"`
		MeterCategory    string          `json:"meterCategory"`
		MeterSubCategory string          `json:"meterSubCategory"`
		Unit             string          `json:"unit"`
		MeterRegion      string          `json:"meterRegion"`
		MeterID          string          `json:"meterId"`
		InfoFields       json.RawMessage `json:"infoFields"`
		InstanceData     *string         `json:"instanceData"`
		Quantity         json.Number     `json:"quantity"`
	} `json:"properties"`
}

type usagePage struct {
	Value    []usageRow `json:"value"`
	NextLink *string    `json:"nextLink"`
}

func decodePage(t *testing.T, body []byte) usagePage {
	t.Helper()
	var p usagePage
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("UsageAggregates page %s: %v", clipBody(body), err)
	}
	return p
}

// listAll follows nextLink from path (as the operator) and returns every row
// and the number of pages.
func listAll(t *testing.T, srv *reckontest.Server, path string) ([]usageRow, int) {
	t.Helper()
	var rows []usageRow
	pages := 0
	for {
		resp, body := get(t, srv, path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, clipBody(body))
		}
		p := decodePage(t, body)
		pages++
		rows = append(rows, p.Value...)
		if p.NextLink == nil {
			return rows, pages
		}
		if !strings.HasPrefix(*p.NextLink, srv.URL+"/") {
			t.Fatalf("nextLink %q is not on the server %s", *p.NextLink, srv.URL)
		}
		path = strings.TrimPrefix(*p.NextLink, srv.URL)
		if pages > 100 {
			t.Fatal("more than 100 pages")
		}
	}
}

// totals sums the rows' quantities exactly, per meter.
func totals(t *testing.T, rows []usageRow) map[string]string {
	t.Helper()
	sums := map[string]*money.QuantitySum{}
	for _, r := range rows {
		q, err := money.ParseQuantity(r.Properties.Quantity.String())
		if err != nil {
			t.Fatalf("quantity %q: %v", r.Properties.Quantity, err)
		}
		s := sums[r.Properties.MeterID]
		if s == nil {
			s = new(money.QuantitySum)
			sums[r.Properties.MeterID] = s
		}
		s.Add(q)
	}
	out := map[string]string{}
	for m, s := range sums {
		out[m] = s.String()
	}
	return out
}

// sumQuantities adds decimal strings exactly.
func sumQuantities(t *testing.T, qs ...string) string {
	t.Helper()
	var s money.QuantitySum
	for _, v := range qs {
		q, err := money.ParseQuantity(v)
		if err != nil {
			t.Fatalf("quantity %q: %v", v, err)
		}
		s.Add(q)
	}
	return s.String()
}

func equalTotals(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
