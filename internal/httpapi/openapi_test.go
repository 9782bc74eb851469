package httpapi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The Azure route and the unauthenticated operations routes, which
// API.Routes does not list.
var extraDocumented = []string{
	"GET /subscriptions/{subscriptionId}/providers/Microsoft.Commerce/UsageAggregates",
	"GET /healthz",
	"GET /readyz",
	"GET /metrics",
	"GET /openapi.json",
}

func loadOpenAPI(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.json does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// TestOpenAPIDocument checks that the served document is the package's
// openapi.json, that it is valid OpenAPI 3, and that it documents exactly
// the operator and metering routes the server has (method and template).
func TestOpenAPIDocument(t *testing.T) {
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := startServer(t, reckontest.SQLite, reckontest.Options{})
	resp, served := send(t, srv, request{path: "/openapi.json"})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !bytes.Equal(served, file) {
		t.Fatal("GET /openapi.json does not serve internal/httpapi/openapi.json")
	}
	doc := loadOpenAPI(t, served)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Errorf("openapi = %q, want 3.0.x", doc.OpenAPI)
	}

	routes := srv.API.Routes()
	if len(routes) == 0 {
		t.Fatal("API.Routes() is empty")
	}
	served2 := map[string]bool{}
	for _, r := range append(append([]string(nil), routes...), extraDocumented...) {
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			t.Errorf("route %q is not \"METHOD /path\"", r)
			continue
		}
		served2[method+" "+path] = true
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("route %s: path %s is not in openapi.json", r, path)
			continue
		}
		o := item.GetOperation(method)
		if o == nil {
			t.Errorf("route %s: openapi.json has no %s operation for %s", r, method, path)
			continue
		}
		if o.OperationID == "" || o.Summary == "" || o.Responses.Len() == 0 {
			t.Errorf("route %s: operation lacks an operationId, summary or responses", r)
		}
		if !strings.HasPrefix(path, "/admin/") && !strings.HasPrefix(path, "/metering/") {
			continue
		}
		// Authenticated routes declare the bearer scheme and its refusals.
		if o.Security != nil && len(*o.Security) == 0 {
			t.Errorf("route %s is documented without authentication", r)
		}
		for _, status := range []int{401} {
			if o.Responses.Status(status) == nil {
				t.Errorf("route %s does not document %d", r, status)
			}
		}
		if strings.HasPrefix(path, "/admin/") && o.Responses.Status(403) == nil {
			t.Errorf("route %s does not document 403", r)
		}
	}
	// Nothing is documented that the server does not serve.
	var stale []string
	for _, path := range doc.Paths.InMatchingOrder() {
		for method := range doc.Paths.Value(path).Operations() {
			if !served2[method+" "+path] {
				stale = append(stale, method+" "+path)
			}
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Errorf("openapi.json documents routes the server does not have: %v", stale)
	}
	if _, ok := doc.Components.SecuritySchemes["bearerAuth"]; !ok {
		t.Error("no bearerAuth security scheme")
	}
	if _, ok := doc.Components.Schemas["ErrorResponse"]; !ok {
		t.Error("no ErrorResponse schema")
	}
}

// TestOpenAPIMatchesResponses drives the documented routes and validates
// the requests and the server's real responses (status, headers, bodies)
// against openapi.json.
func TestOpenAPIMatchesResponses(t *testing.T) {
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc := loadOpenAPI(t, file)
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := startServer(t, b, reckontest.Options{MaxIngestBytes: 8192, SettleMargin: 30 * time.Second})
		recs, _ := pagingSet()

		type call struct {
			name      string
			template  string
			params    map[string]string
			rq        request
			status    int
			checkBody bool // validate the request against the document too
		}
		sub := "/admin/v1/subscriptions/{subscriptionId}"
		meter := "/admin/v1/meters/{meterId}"
		usageT := "/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/UsageAggregates"
		hourly := window(time.Date(2024, 3, 2, 6, 0, 0, 0, time.UTC), time.Date(2024, 3, 2, 7, 0, 0, 0, time.UTC), "Hourly", "showDetails=true")
		calls := []call{
			{"PutSubscriptionCreated", sub, map[string]string{"subscriptionId": subA},
				request{method: "PUT", path: "/admin/v1/subscriptions/" + subA, token: srv.AdminToken, body: `{"displayName":"Contoso","billingAccount":"contoso"}`}, 201, true},
			{"PutSubscriptionReplaced", sub, map[string]string{"subscriptionId": subA},
				request{method: "PUT", path: "/admin/v1/subscriptions/" + subA, token: srv.AdminToken,
					body: `{"subscriptionId":"` + subA + `","displayName":"Contoso","billingAccount":"contoso","state":"Enabled","offerDurableId":"MS-AZR-0017P","currency":"EUR","locale":"de-DE","regionInfo":"DE","billingDay":3}`}, 200, true},
			{"PutSubscriptionInvalid", sub, map[string]string{"subscriptionId": subB},
				request{method: "PUT", path: "/admin/v1/subscriptions/" + subB, token: srv.AdminToken, body: `{"displayName":"Contoso"}`}, 400, false},
			{"PutSubscriptionTooLarge", sub, map[string]string{"subscriptionId": subB},
				request{method: "PUT", path: "/admin/v1/subscriptions/" + subB, token: srv.AdminToken, body: `{"displayName":"` + strings.Repeat("x", 1<<20) + `"}`}, 413, false},
			{"PutSubscriptionForbidden", sub, map[string]string{"subscriptionId": subB},
				request{method: "PUT", path: "/admin/v1/subscriptions/" + subB, token: srv.IngestToken, body: `{"displayName":"Contoso","billingAccount":"contoso"}`}, 403, false},
			{"GetSubscription", sub, map[string]string{"subscriptionId": subA},
				request{path: "/admin/v1/subscriptions/" + subA, token: srv.AdminToken}, 200, true},
			{"GetSubscriptionNotFound", sub, map[string]string{"subscriptionId": unknownGUID},
				request{path: "/admin/v1/subscriptions/" + unknownGUID, token: srv.AdminToken}, 404, true},
			{"GetSubscriptionUnauthenticated", sub, map[string]string{"subscriptionId": subA},
				request{path: "/admin/v1/subscriptions/" + subA}, 401, false},
			{"ListSubscriptions", "/admin/v1/subscriptions", nil,
				request{path: "/admin/v1/subscriptions", token: srv.AdminToken}, 200, true},
			{"PutMeterCreated", meter, map[string]string{"meterId": meterA},
				request{method: "PUT", path: "/admin/v1/meters/" + meterA, token: srv.AdminToken, body: `{"meterName":"D2 v3","meterCategory":"Virtual Machines","unit":"1 Hour"}`}, 201, true},
			{"PutMeterReplaced", meter, map[string]string{"meterId": meterA},
				request{method: "PUT", path: "/admin/v1/meters/" + meterA, token: srv.AdminToken,
					body: `{"meterId":"` + meterA + `","meterName":"D2 v3","meterCategory":"Virtual Machines","meterSubCategory":"Dv3","meterRegion":"US East","unit":"1 Hour","meterStatus":"Active"}`}, 200, true},
			{"PutMeterInvalid", meter, map[string]string{"meterId": meterB},
				request{method: "PUT", path: "/admin/v1/meters/" + meterB, token: srv.AdminToken, body: `{"meterName":"D2 v3","unknown":1}`}, 400, false},
			{"GetMeter", meter, map[string]string{"meterId": meterA},
				request{path: "/admin/v1/meters/" + meterA, token: srv.AdminToken}, 200, true},
			{"GetMeterNotFound", meter, map[string]string{"meterId": meterB},
				request{path: "/admin/v1/meters/" + meterB, token: srv.AdminToken}, 404, true},
			{"ListMeters", "/admin/v1/meters", nil,
				request{path: "/admin/v1/meters", token: srv.AdminToken}, 200, true},
			{"IngestMixed", "/metering/v1/usage", nil,
				request{method: "POST", path: "/metering/v1/usage", token: srv.AdminToken,
					body: jsonArray(recs[0], recs[1], rec("negative", "-1"))}, 200, false},
			{"IngestMalformed", "/metering/v1/usage", nil,
				request{method: "POST", path: "/metering/v1/usage", token: srv.AdminToken, body: `[{"id":`}, 400, false},
			{"IngestTooLarge", "/metering/v1/usage", nil,
				request{method: "POST", path: "/metering/v1/usage", token: srv.AdminToken, body: ndjson(recs...)}, 413, false},
			{"IngestUnauthenticated", "/metering/v1/usage", nil,
				request{method: "POST", path: "/metering/v1/usage", token: "nobody", body: jsonArray(recs[2])}, 401, false},
		}
		// Enough usage for two pages, in requests under the size limit.
		for i := 2; i < len(recs); i += 10 {
			calls = append(calls, call{"IngestPart", "/metering/v1/usage", nil,
				request{method: "POST", path: "/metering/v1/usage", token: srv.AdminToken, body: jsonArray(recs[i:min(i+10, len(recs))]...),
					header: map[string]string{"Content-Type": "application/json"}}, 200, true})
		}
		calls = append(calls,
			call{"UsageFirstPage", usageT, map[string]string{"subscriptionId": subA},
				request{path: usagePath(subA, hourly), token: srv.AdminToken}, 200, true},
			call{"UsageBadRequest", usageT, map[string]string{"subscriptionId": subA},
				request{path: usagePath(subA, "api-version=1999-01-01"), token: srv.AdminToken}, 400, false},
			call{"UsageNotFound", usageT, map[string]string{"subscriptionId": unknownGUID},
				request{path: usagePath(unknownGUID, hourly), token: srv.AdminToken}, 404, true},
			call{"UsageUnauthenticated", usageT, map[string]string{"subscriptionId": subA},
				request{path: usagePath(subA, hourly)}, 401, false},
			call{"UsageForbidden", usageT, map[string]string{"subscriptionId": subA},
				request{path: usagePath(subA, hourly), token: srv.IngestToken}, 403, false},
			call{"Healthz", "/healthz", nil, request{path: "/healthz"}, 200, true},
			call{"Readyz", "/readyz", nil, request{path: "/readyz"}, 200, true},
			call{"Metrics", "/metrics", nil, request{path: "/metrics"}, 200, true},
		)
		var nextLink string
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) {
				route := documentedRoute(t, doc, c.rq.method, c.template)
				resp, body := sendValidated(t, srv, route, c.params, c.rq, c.checkBody)
				if resp.StatusCode != c.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, clipBody(body))
				}
				if c.name == "UsageFirstPage" {
					p := decodePage(t, body)
					if p.NextLink == nil {
						t.Fatal("no nextLink: the response's nextLink was not exercised")
					}
					nextLink = *p.NextLink
				}
			})
		}
		t.Run("UsageLastPage", func(t *testing.T) {
			u, err := url.Parse(nextLink)
			if err != nil || nextLink == "" {
				t.Fatalf("nextLink %q", nextLink)
			}
			route := documentedRoute(t, doc, "GET", usageT)
			resp, body := sendValidated(t, srv, route, map[string]string{"subscriptionId": subA},
				request{path: u.RequestURI(), token: srv.AdminToken}, true)
			if resp.StatusCode != 200 || decodePage(t, body).NextLink != nil {
				t.Fatalf("last page: %d %s", resp.StatusCode, clipBody(body))
			}
		})
		t.Run("UsageNotSettled", func(t *testing.T) {
			clock.Set(time.Date(2024, 3, 2, 7, 0, 10, 0, time.UTC))
			defer clock.Set(serverNow)
			route := documentedRoute(t, doc, "GET", usageT)
			resp, body := sendValidated(t, srv, route, map[string]string{"subscriptionId": subA},
				request{path: usagePath(subA, hourly), token: srv.AdminToken}, true)
			if resp.StatusCode != 503 {
				t.Fatalf("status %d, want 503: %s", resp.StatusCode, body)
			}
		})
	})
}

// documentedRoute returns the document's operation for method and template.
func documentedRoute(t *testing.T, doc *openapi3.T, method, template string) *routers.Route {
	t.Helper()
	if method == "" {
		method = http.MethodGet
	}
	item := doc.Paths.Value(template)
	if item == nil || item.GetOperation(method) == nil {
		t.Fatalf("%s %s is not documented", method, template)
	}
	return &routers.Route{Spec: doc, Path: template, PathItem: item, Method: method, Operation: item.GetOperation(method)}
}

// sendValidated sends rq, optionally validating the request against route
// first, and validates the response against route.
func sendValidated(t *testing.T, srv *reckontest.Server, route *routers.Route, params map[string]string, rq request, checkRequest bool) (*http.Response, []byte) {
	t.Helper()
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	req, err := http.NewRequest(rq.method, srv.URL+rq.path, strings.NewReader(rq.body))
	if err != nil {
		t.Fatal(err)
	}
	if rq.token != "" {
		req.Header.Set("Authorization", "Bearer "+rq.token)
	}
	if rq.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, SkipSettingDefaults: true}}
	if checkRequest {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("the request does not match openapi.json: %v", err)
		}
		req.Body = io.NopCloser(strings.NewReader(rq.body))
	}
	resp, body := send(t, srv, rq)
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("the %d response does not match openapi.json: %v\nbody: %s", resp.StatusCode, err, clipBody(body))
	}
	return resp, body
}
