package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The small data set of the UsageAggregates tests. Everything is reported
// on 2024-03-02 except r4 (reported exactly at the end of the Daily window,
// so outside it) and r6 (reported just before its start).
var (
	day      = time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC) // the Daily window is [day, day+24h)
	vm1      = "/subscriptions/" + subA + "/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm1"
	vm2      = "/subscriptions/" + subA + "/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm2"
	smallSet = []record{
		{ID: "r1", SubscriptionID: subA, MeterID: meterA, Quantity: json.RawMessage(`1.123456789`),
			UsageStartTime: "2024-03-01T05:00:00Z", UsageEndTime: "2024-03-01T06:00:00Z",
			ResourceURI: vm1, Location: "eastus", Tags: map[string]string{"Department": "Sales"}, ReportedTime: "2024-03-02T03:15:00Z"},
		{ID: "r2", SubscriptionID: subA, MeterID: meterA, Quantity: json.RawMessage(`"2.5"`),
			UsageStartTime: "2024-03-01T10:00:00Z", UsageEndTime: "2024-03-01T12:00:00Z",
			ResourceURI: vm2, Location: "eastus", ReportedTime: "2024-03-02T03:15:00Z"},
		// Late usage that straddles midnight of a leap day and names no resource.
		{ID: "r3", SubscriptionID: subA, MeterID: meterB, Quantity: json.RawMessage(`0.000000007`),
			UsageStartTime: "2024-02-28T23:30:00Z", UsageEndTime: "2024-02-29T00:30:00Z", ReportedTime: "2024-03-02T04:00:00Z"},
		{ID: "r4", SubscriptionID: subA, MeterID: meterA, Quantity: json.RawMessage(`3`),
			UsageStartTime: "2024-03-02T01:00:00Z", UsageEndTime: "2024-03-02T02:00:00Z", ResourceURI: vm1, ReportedTime: "2024-03-03T00:00:00Z"},
		{ID: "r5", SubscriptionID: subB, MeterID: meterA, Quantity: json.RawMessage(`100`),
			UsageStartTime: "2024-03-01T05:00:00Z", UsageEndTime: "2024-03-01T06:00:00Z", ResourceURI: vm1, ReportedTime: "2024-03-02T03:15:00Z"},
		{ID: "r6", SubscriptionID: subA, MeterID: meterA, Quantity: json.RawMessage(`4`),
			UsageStartTime: "2024-03-01T05:00:00Z", UsageEndTime: "2024-03-01T06:00:00Z", ResourceURI: vm1, ReportedTime: "2024-03-01T23:59:59.999999Z"},
	}
)

// seedSmall starts a server with the catalog and the small data set.
func seedSmall(t *testing.T, b reckontest.Backend, o reckontest.Options) (*reckontest.Server, *reckontest.Clock) {
	t.Helper()
	srv, clock := startServer(t, b, o)
	setupCatalog(t, srv)
	res := ingest(t, srv, srv.AdminToken, ndjson(smallSet...))
	if res.Accepted != len(smallSet) || len(res.Rejected) != 0 {
		t.Fatalf("seed: %+v", res)
	}
	return srv, clock
}

// dailyQuery is the canonical Daily query of the small data set.
var dailyQuery = window(day, day.Add(24*time.Hour), "Daily")

// TestUsageAggregates runs the read-only checks of the API on one server
// per backend holding the small data set.
func TestUsageAggregates(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := seedSmall(t, b, reckontest.Options{})
		t.Run("Errors", func(t *testing.T) { usageAggregatesErrors(t, srv) })
		t.Run("Authentication", func(t *testing.T) { usageAggregatesAuthentication(t, srv) })
		t.Run("ResponseShape", func(t *testing.T) { usageAggregatesResponseShape(t, srv) })
		t.Run("Selection", func(t *testing.T) { usageAggregatesSelection(t, srv) })
		t.Run("LenientRequests", func(t *testing.T) { usageAggregatesLenientRequests(t, srv) })
		t.Run("RequestIDs", func(t *testing.T) { usageAggregatesRequestIDs(t, srv) })
	})
}

func usageAggregatesErrors(t *testing.T, srv *reckontest.Server) {
	start := "reportedStartTime=2024-03-02T00:00:00Z"
	end := "reportedEndTime=2024-03-03T00:00:00Z"
	av := "api-version=" + apiVersion
	q := func(parts ...string) string { return strings.Join(parts, "&") }
	cases := []struct {
		name   string
		path   string
		status int
		code   string
		target string
	}{
		{"MissingApiVersion", usagePath(subA, q(start, end)), 400, "MissingApiVersionParameter", "api-version"},
		{"EmptyApiVersion", usagePath(subA, q("api-version=", start, end)), 400, "MissingApiVersionParameter", "api-version"},
		{"UnsupportedApiVersion", usagePath(subA, q("api-version=2016-08-31-preview", start, end)), 400, "InvalidApiVersionParameter", "api-version"},
		{"MalformedSubscription", usagePath("not-a-subscription", q(av, start, end)), 400, "InvalidSubscriptionId", "subscriptionId"},
		{"ShortSubscription", usagePath(subA[:35], q(av, start, end)), 400, "InvalidSubscriptionId", "subscriptionId"},
		{"UnknownSubscription", usagePath(unknownGUID, q(av, start, end)), 404, "SubscriptionNotFound", "subscriptionId"},
		{"MissingStart", usagePath(subA, q(av, end)), 400, "InvalidProperty", "reportedStartTime"},
		{"EmptyStart", usagePath(subA, q(av, "reportedStartTime=", end)), 400, "InvalidProperty", "reportedStartTime"},
		{"MissingEnd", usagePath(subA, q(av, start)), 400, "InvalidProperty", "reportedEndTime"},
		{"UnparsableStart", usagePath(subA, q(av, "reportedStartTime=yesterday", end)), 400, "InvalidProperty", "reportedStartTime"},
		{"UnparsableEnd", usagePath(subA, q(av, start, "reportedEndTime=2024-03-03T25:00:00Z")), 400, "InvalidProperty", "reportedEndTime"},
		{"DailyStartNotMidnight", usagePath(subA, q(av, "reportedStartTime=2024-03-02T01:00:00Z", end)), 400, "InvalidProperty", "reportedStartTime"},
		{"DailyEndNotMidnight", usagePath(subA, q(av, start, "reportedEndTime=2024-03-03T00:00:01Z")), 400, "InvalidProperty", "reportedEndTime"},
		{"DailyEndMidnightElsewhere", usagePath(subA, q(av, start, "reportedEndTime=2024-03-03T00:00:00%2B01:00")), 400, "InvalidProperty", "reportedEndTime"},
		{"HourlyStartNotOnHour", usagePath(subA, q(av, "reportedStartTime=2024-03-02T03:30:00Z", end, "aggregationGranularity=Hourly")), 400, "InvalidProperty", "reportedStartTime"},
		{"HourlyEndNotOnHour", usagePath(subA, q(av, start, "reportedEndTime=2024-03-02T05:00:00%2B05:30", "aggregationGranularity=Hourly")), 400, "InvalidProperty", "reportedEndTime"},
		{"HourlyStartFractional", usagePath(subA, q(av, "reportedStartTime=2024-03-02T03:00:00.5Z", end, "aggregationGranularity=Hourly")), 400, "InvalidProperty", "reportedStartTime"},
		{"StartEqualsEnd", usagePath(subA, q(av, start, "reportedEndTime=2024-03-02T00:00:00Z")), 400, "InvalidProperty", "reportedStartTime"},
		{"StartAfterEnd", usagePath(subA, q(av, "reportedStartTime=2024-03-04T00:00:00Z", end)), 400, "InvalidProperty", "reportedStartTime"},
		{"EndInFuture", usagePath(subA, q(av, start, "reportedEndTime=2024-03-11T00:00:00Z")), 400, "RequestEndTimeIsInFuture", "reportedEndTime"},
		{"BadGranularity", usagePath(subA, q(av, start, end, "aggregationGranularity=Weekly")), 400, "InvalidAggregationGranularity", "aggregationGranularity"},
		{"BadShowDetails", usagePath(subA, q(av, start, end, "showDetails=yes")), 400, "InvalidProperty", "showDetails"},
		{"GarbageToken", usagePath(subA, q(av, start, end, "continuationToken=abc")), 400, "InvalidProperty", "continuationToken"},
		{"BadEscape", usagePath(subA, q(av, "reportedStartTime=%zz", end)), 400, "InvalidProperty", "reportedStartTime"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := send(t, srv, request{path: c.path, token: srv.AdminToken})
			e := wantError(t, resp, body, c.status, c.code, c.target)
			if c.code == "InvalidApiVersionParameter" && !strings.Contains(e.Error.Message, apiVersion) {
				t.Errorf("message %q does not name the supported version", e.Error.Message)
			}
			if c.code == "InvalidProperty" && !strings.Contains(e.Error.Message, c.target) {
				t.Errorf("message %q does not name %s", e.Error.Message, c.target)
			}
		})
	}
}

func usageAggregatesAuthentication(t *testing.T, srv *reckontest.Server) {
	path := usagePath(subA, dailyQuery)
	wantChallenge := func(t *testing.T, resp *http.Response) {
		t.Helper()
		h := resp.Header.Get("WWW-Authenticate")
		if !strings.HasPrefix(h, "Bearer ") || !strings.Contains(h, `authorization_uri="`+srv.URL) || !strings.Contains(h, `error="invalid_token"`) {
			t.Errorf("WWW-Authenticate = %q", h)
		}
	}
	t.Run("NoToken", func(t *testing.T) {
		resp, body := send(t, srv, request{path: path})
		wantError(t, resp, body, 401, "AuthenticationFailed", "")
		wantChallenge(t, resp)
	})
	t.Run("NotBearer", func(t *testing.T) {
		resp, body := send(t, srv, request{path: path, header: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}})
		wantError(t, resp, body, 401, "AuthenticationFailed", "")
		wantChallenge(t, resp)
	})
	t.Run("InvalidToken", func(t *testing.T) {
		resp, body := send(t, srv, request{path: path, token: "eyJ0eXAiOiJKV1QifQ.not-ours"})
		wantError(t, resp, body, 401, "InvalidAuthenticationToken", "")
		wantChallenge(t, resp)
	})
	t.Run("IngestTokenCannotRead", func(t *testing.T) {
		resp, body := send(t, srv, request{path: path, token: srv.IngestToken})
		wantError(t, resp, body, 403, "AuthorizationFailed", "")
	})
	t.Run("AuthBeforeValidation", func(t *testing.T) {
		// An anonymous caller learns nothing about the query or the subscription.
		resp, body := send(t, srv, request{path: usagePath(unknownGUID, "api-version=bogus")})
		wantError(t, resp, body, 401, "AuthenticationFailed", "")
	})
	t.Run("Operator", func(t *testing.T) {
		resp, body := send(t, srv, request{path: path, token: srv.AdminToken})
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
	})
}

// TestUsageAggregatesRoles: each subscription role may read the
// subscription's usage, and the billing account's admin too; a role on
// another subscription may not, and neither may a usage writer.
func TestUsageAggregatesRoles(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := seedSmall(t, b, reckontest.Options{})
		path := usagePath(subA, dailyQuery)
		_, want := send(t, srv, request{path: path, token: srv.AdminToken})
		for _, role := range []string{"Owner", "Contributor", "Reader", "Billing Reader"} {
			tok := srv.Principal(t, "p-"+strings.ReplaceAll(role, " ", ""), role+"@/subscriptions/"+subA)
			resp, body := send(t, srv, request{path: path, token: tok})
			if resp.StatusCode != 200 || string(body) != string(want) {
				t.Errorf("%s: %d %s", role, resp.StatusCode, clipBody(body))
			}
		}
		admin := srv.Principal(t, "contoso-admin", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso")
		if resp, body := send(t, srv, request{path: path, token: admin}); resp.StatusCode != 200 {
			t.Errorf("account admin: %d %s", resp.StatusCode, clipBody(body))
		}
		for name, tok := range map[string]string{
			"reader of B":   srv.Principal(t, "reader-b", "Reader@/subscriptions/"+subB),
			"usage writer":  srv.IngestToken,
			"other account": srv.Principal(t, "fabrikam-admin", "Account Admin@/providers/Microsoft.Billing/billingAccounts/fabrikam"),
		} {
			resp, body := send(t, srv, request{path: path, token: tok})
			wantError(t, resp, body, 403, "AuthorizationFailed", "")
			_ = name
		}
	})
}

func TestUsageAggregatesSettleMargin(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := seedSmall(t, b, reckontest.Options{SettleMargin: 30 * time.Second})
		end := serverNow.Add(-2 * time.Hour).Truncate(time.Hour)
		path := usagePath(subA, window(end.Add(-time.Hour), end, "Hourly"))

		clock.Set(end) // the window ends right now
		resp, body := send(t, srv, request{path: path, token: srv.AdminToken})
		wantError(t, resp, body, 503, "ProcessingNotComplete", "")
		if ra := resp.Header.Get("Retry-After"); ra != "31" && ra != "30" {
			t.Errorf("Retry-After = %q at the end of the window, want 30 or 31 (seconds)", ra)
		}

		clock.Set(end.Add(10 * time.Second))
		resp, body = send(t, srv, request{path: path, token: srv.AdminToken})
		wantError(t, resp, body, 503, "ProcessingNotComplete", "")
		ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || ra < 20 || ra > 21 {
			t.Fatalf("Retry-After = %q 10 s after the end, want 20 or 21", resp.Header.Get("Retry-After"))
		}
		// Retrying after Retry-After succeeds.
		clock.Advance(time.Duration(ra) * time.Second)
		resp, body = send(t, srv, request{path: path, token: srv.AdminToken})
		if resp.StatusCode != 200 {
			t.Fatalf("after Retry-After: %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("Retry-After") != "" {
			t.Errorf("a 200 carries Retry-After %q", resp.Header.Get("Retry-After"))
		}
	})
}

func usageAggregatesResponseShape(t *testing.T, srv *reckontest.Server) {
	resp, body := get(t, srv, usagePath(subA, dailyQuery))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	checkRequestIDs(t, resp)

	// The exact key sets, decoded without any Go struct in between.
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(top); !reflect.DeepEqual(got, []string{"value"}) {
		t.Errorf("top-level keys = %v, want [value] (no nextLink on the last page)", got)
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(top["value"], &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4: %s", len(rows), body)
	}
	timeRE := regexp.MustCompile(`^"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"$`)
	name := "Daily_BRSDT_20240302_0000"
	for _, row := range rows {
		if got := sortedKeys(row); !reflect.DeepEqual(got, []string{"id", "name", "properties", "type"}) {
			t.Errorf("row keys = %v", got)
		}
		wantJSON(t, row["id"], "/subscriptions/"+subA+"/providers/Microsoft.Commerce/UsageAggregates/"+name)
		wantJSON(t, row["name"], name)
		wantJSON(t, row["type"], "Microsoft.Commerce/UsageAggregate")
		var props map[string]json.RawMessage
		if err := json.Unmarshal(row["properties"], &props); err != nil {
			t.Fatal(err)
		}
		want := []string{"infoFields", "meterCategory", "meterId", "meterName", "meterRegion", "meterSubCategory",
			"quantity", "subscriptionId", "unit", "usageEndTime", "usageStartTime"}
		if props["instanceData"] != nil {
			want = append(want, "instanceData")
			sort.Strings(want)
		}
		if got := sortedKeys(props); !reflect.DeepEqual(got, want) {
			t.Errorf("properties keys = %v, want %v", got, want)
		}
		for _, k := range []string{"usageStartTime", "usageEndTime"} {
			if !timeRE.Match(props[k]) {
				t.Errorf("%s = %s, want yyyy-MM-ddTHH:mm:ss+00:00", k, props[k])
			}
		}
		if string(props["infoFields"]) != "{}" {
			t.Errorf("infoFields = %s, want {}", props["infoFields"])
		}
		if !regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`).Match(props["quantity"]) {
			t.Errorf("quantity = %s, want a plain JSON number", props["quantity"])
		}
		wantJSON(t, props["subscriptionId"], subA)
	}

	// The values, row by row.
	got := rowsByKey(t, decodePage(t, body).Value)
	meterAProps := `"meterName":"D2 v3","meterCategory":"Virtual Machines","meterSubCategory":"Dv3 Series","unit":"1 Hour","meterRegion":"US East","meterId":"` + meterA + `"`
	meterBProps := `"meterName":"D4 v3","meterCategory":"Virtual Machines","meterSubCategory":"Dv3 Series","unit":"1 Hour","meterRegion":"US East","meterId":"` + meterB + `"`
	want := map[string]string{
		"2024-02-28T00:00:00+00:00|" + meterB + "|":       "0.000000004",
		"2024-02-29T00:00:00+00:00|" + meterB + "|":       "0.000000003",
		"2024-03-01T00:00:00+00:00|" + meterA + "|" + vm1: "1.123456789",
		"2024-03-01T00:00:00+00:00|" + meterA + "|" + vm2: "2.5",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rows = %v\nwant %v", got, want)
	}
	for _, r := range decodePage(t, body).Value {
		start, _ := time.Parse(time.RFC3339, r.Properties.UsageStartTime)
		end, _ := time.Parse(time.RFC3339, r.Properties.UsageEndTime)
		if end.Sub(start) != 24*time.Hour || !start.Equal(start.Truncate(24*time.Hour)) {
			t.Errorf("Daily bucket [%s, %s)", r.Properties.UsageStartTime, r.Properties.UsageEndTime)
		}
	}
	// The rendered properties of one row, byte for byte, instanceData included.
	wantRow := `{"id":"/subscriptions/` + subA + `/providers/Microsoft.Commerce/UsageAggregates/` + name + `","name":"` + name +
		`","type":"Microsoft.Commerce/UsageAggregate","properties":{"subscriptionId":"` + subA +
		`","usageStartTime":"2024-03-01T00:00:00+00:00","usageEndTime":"2024-03-02T00:00:00+00:00",` + meterAProps +
		`,"infoFields":{},"instanceData":"{\"Microsoft.Resources\":{\"resourceUri\":\"` + vm1 +
		`\",\"location\":\"eastus\",\"tags\":{\"Department\":\"Sales\"},\"additionalInfo\":null}}","quantity":1.123456789}}`
	if !strings.Contains(string(body), wantRow) {
		t.Errorf("body does not contain the row\n%s\nbody:\n%s", wantRow, body)
	}
	if !strings.Contains(string(body), meterBProps) {
		t.Errorf("body does not carry meter B's properties %s", meterBProps)
	}
	for _, r := range decodePage(t, body).Value {
		if r.Properties.InstanceData == nil || *r.Properties.InstanceData == "" {
			continue
		}
		var inst map[string]map[string]json.RawMessage
		if err := json.Unmarshal([]byte(*r.Properties.InstanceData), &inst); err != nil {
			t.Fatalf("instanceData %q is not JSON: %v", *r.Properties.InstanceData, err)
		}
		res := inst["Microsoft.Resources"]
		if len(inst) != 1 || res == nil || !reflect.DeepEqual(sortedKeys(res), []string{"additionalInfo", "location", "resourceUri", "tags"}) {
			t.Errorf("instanceData = %s", *r.Properties.InstanceData)
		}
	}
}

func usageAggregatesSelection(t *testing.T, srv *reckontest.Server) {
	check := func(t *testing.T, query string, want map[string]string, wantName string) {
		t.Helper()
		resp, body := get(t, srv, usagePath(subA, query))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		p := decodePage(t, body)
		if got := rowsByKey(t, p.Value); !reflect.DeepEqual(got, want) {
			t.Errorf("rows = %v\nwant %v", got, want)
		}
		for _, r := range p.Value {
			if r.Name != wantName {
				t.Errorf("name = %q, want %q", r.Name, wantName)
			}
		}
	}
	t.Run("DailyAggregated", func(t *testing.T) {
		check(t, window(day, day.Add(24*time.Hour), "Daily", "showDetails=false"), map[string]string{
			"2024-02-28T00:00:00+00:00|" + meterB + "|": "0.000000004",
			"2024-02-29T00:00:00+00:00|" + meterB + "|": "0.000000003",
			"2024-03-01T00:00:00+00:00|" + meterA + "|": "3.623456789",
		}, "Daily_BRSDT_20240302_0000")
	})
	t.Run("DefaultGranularityIsDaily", func(t *testing.T) {
		check(t, window(day, day.Add(24*time.Hour), "", "showDetails=false"), map[string]string{
			"2024-02-28T00:00:00+00:00|" + meterB + "|": "0.000000004",
			"2024-02-29T00:00:00+00:00|" + meterB + "|": "0.000000003",
			"2024-03-01T00:00:00+00:00|" + meterA + "|": "3.623456789",
		}, "Daily_BRSDT_20240302_0000")
	})
	t.Run("Hourly", func(t *testing.T) {
		check(t, window(day.Add(3*time.Hour), day.Add(4*time.Hour), "Hourly"), map[string]string{
			"2024-03-01T05:00:00+00:00|" + meterA + "|" + vm1: "1.123456789",
			"2024-03-01T10:00:00+00:00|" + meterA + "|" + vm2: "1.25",
			"2024-03-01T11:00:00+00:00|" + meterA + "|" + vm2: "1.25",
		}, "Hourly_BRSDT_20240302_0300")
	})
	t.Run("EndIsExclusive", func(t *testing.T) {
		check(t, window(day.Add(24*time.Hour), day.Add(48*time.Hour), "Daily"), map[string]string{
			"2024-03-02T00:00:00+00:00|" + meterA + "|" + vm1: "3",
		}, "Daily_BRSDT_20240303_0000")
	})
	t.Run("Empty", func(t *testing.T) {
		resp, body := get(t, srv, usagePath(subA, window(day.Add(48*time.Hour), day.Add(72*time.Hour), "Daily")))
		if resp.StatusCode != 200 || string(body) != `{"value":[]}` {
			t.Errorf("empty window: %d %s, want 200 {\"value\":[]}", resp.StatusCode, body)
		}
	})
	t.Run("OtherSubscription", func(t *testing.T) {
		resp, body := get(t, srv, usagePath(subB, dailyQuery))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		if got := totals(t, decodePage(t, body).Value); !equalTotals(got, map[string]string{meterA: "100"}) {
			t.Errorf("subB totals = %v, want only its own 100", got)
		}
	})
}

// usageAggregatesLenientRequests sends the canonical Daily query in the
// spellings real clients use; each must answer exactly the canonical body.
func usageAggregatesLenientRequests(t *testing.T, srv *reckontest.Server) {
	base := "/subscriptions/" + subA + "/providers/Microsoft.Commerce/UsageAggregates"
	resp, want := get(t, srv, base+"?"+dailyQuery)
	if resp.StatusCode != 200 || len(decodePage(t, want).Value) != 4 {
		t.Fatalf("canonical query: %d %s", resp.StatusCode, want)
	}
	av := "api-version=" + apiVersion
	cases := []struct{ name, pathQuery string }{
		{"LowerCasePath", "/subscriptions/" + subA + "/providers/Microsoft.Commerce/usageaggregates?" + dailyQuery},
		{"CamelCasePath", "/subscriptions/" + subA + "/providers/Microsoft.Commerce/usageAggregates?" + dailyQuery},
		{"UpperCasePath", "/SUBSCRIPTIONS/" + subA + "/PROVIDERS/MICROSOFT.COMMERCE/USAGEAGGREGATES?" + dailyQuery},
		{"UpperCaseSubscriptionId", "/subscriptions/" + strings.ToUpper(subA) + "/providers/Microsoft.Commerce/UsageAggregates?" + dailyQuery},
		{"QueryNamesAnyCase", base + "?API-VERSION=" + apiVersion + "&reportedstartTime=2024-03-02T00:00:00Z&REPORTEDENDTIME=2024-03-03T00:00:00Z&AggregationGranularity=daily&SHOWDETAILS=True"},
		{"SpaceForT", base + "?" + av + "&reportedstartTime=2024-03-02+00%3a00%3a00Z&reportedEndTime=2024-03-03+00%3a00%3a00Z"},
		{"EscapedPlusOffset", base + "?" + av + "&reportedStartTime=2024-03-02T00%3A00%3A00%2B00%3A00&reportedEndTime=2024-03-03T00%3A00%3A00%2b00%3a00"},
		{"UnescapedPlusOffset", base + "?" + av + "&reportedStartTime=2024-03-02T00:00:00+00:00&reportedEndTime=2024-03-03T00:00:00+00:00"},
		{"OtherOffset", base + "?" + av + "&reportedStartTime=2024-03-02T05:30:00%2B05:30&reportedEndTime=2024-03-02T19:00:00-05:00"},
		{"Milliseconds", base + "?" + av + "&reportedStartTime=2024-03-02T00%3A00%3A00.000Z&reportedEndTime=2024-03-03T00%3A00%3A00.000Z&showDetails=true&aggregationGranularity=Daily"},
		{"ParametersReordered", base + "?aggregationGranularity=Daily&reportedEndTime=2024-03-03T00:00:00Z&showDetails=true&reportedStartTime=2024-03-02T00:00:00Z&" + av},
		{"ExtraParameter", base + "?" + dailyQuery + "&%24top=5&foo=bar"},
		{"EmptyContinuationToken", base + "?" + dailyQuery + "&continuationToken="},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := get(t, srv, c.pathQuery)
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", c.pathQuery, resp.StatusCode, body)
			}
			if string(body) != string(want) {
				t.Errorf("%s answered\n%s\nwant\n%s", c.pathQuery, body, want)
			}
		})
	}
}

func usageAggregatesRequestIDs(t *testing.T, srv *reckontest.Server) {
	ok := usagePath(subA, dailyQuery)
	corr := "8d6e7a20-5b1c-4f3e-9a2d-7c6b5a4f3e2d"
	cases := []struct {
		name   string
		rq     request
		status int
	}{
		{"OK", request{path: ok, token: srv.AdminToken}, 200},
		{"BadRequest", request{path: usagePath(subA, "api-version="+apiVersion), token: srv.AdminToken}, 400},
		{"NotFound", request{path: usagePath(unknownGUID, dailyQuery), token: srv.AdminToken}, 404},
		{"Unauthenticated", request{path: ok}, 401},
		{"NoRoute", request{path: "/no/such/route", token: srv.AdminToken}, 404},
		{"Operator", request{path: "/admin/v1/meters", token: srv.AdminToken}, 200},
		{"Health", request{path: "/healthz"}, 200},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := send(t, srv, c.rq)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, c.status)
			}
			checkRequestIDs(t, resp)
			id := resp.Header.Get("x-ms-request-id")
			if seen[id] {
				t.Errorf("x-ms-request-id %s repeated", id)
			}
			seen[id] = true

			// A caller's correlation GUID is echoed.
			c.rq.header = map[string]string{"x-ms-correlation-request-id": corr}
			resp, _ = send(t, srv, c.rq)
			if got := resp.Header.Get("x-ms-correlation-request-id"); got != corr {
				t.Errorf("x-ms-correlation-request-id = %q, want the caller's %q", got, corr)
			}
			if resp.Header.Get("x-ms-request-id") == corr {
				t.Error("x-ms-request-id copies the correlation id")
			}
			// Anything else is replaced by a fresh GUID.
			c.rq.header = map[string]string{"x-ms-correlation-request-id": "not a guid"}
			resp, _ = send(t, srv, c.rq)
			checkRequestIDs(t, resp)
		})
	}
	t.Run("ClientRequestID", func(t *testing.T) {
		resp, _ := send(t, srv, request{path: ok, token: srv.AdminToken,
			header: map[string]string{"x-ms-client-request-id": "my-call-1", "x-ms-return-client-request-id": "true"}})
		if got := resp.Header.Get("x-ms-client-request-id"); got != "my-call-1" {
			t.Errorf("x-ms-client-request-id = %q, want it echoed", got)
		}
		resp, _ = send(t, srv, request{path: ok, token: srv.AdminToken, header: map[string]string{"x-ms-client-request-id": "my-call-2"}})
		if got := resp.Header.Get("x-ms-client-request-id"); got != "" {
			t.Errorf("x-ms-client-request-id = %q echoed without x-ms-return-client-request-id", got)
		}
	})
}

// pagingSet is 50 resources each used for one whole day on meter A: 50 Daily
// rows, or 1200 Hourly rows (two pages), all reported at 06:10.
func pagingSet() (recs []record, hourly map[string]string) {
	hourly = map[string]string{}
	usageDay := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 50 {
		perHour := int64(i+1) * 1_000_000_007 // nanounits
		uri := fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-batch/providers/Microsoft.Compute/virtualMachines/node-%02d", subA, i)
		recs = append(recs, record{ID: fmt.Sprintf("node-%02d-20240301", i), SubscriptionID: subA, MeterID: meterA,
			Quantity:       json.RawMessage(nanos(24 * perHour)),
			UsageStartTime: rfc(usageDay), UsageEndTime: rfc(usageDay.Add(24 * time.Hour)),
			ResourceURI: uri, Location: "westeurope", ReportedTime: "2024-03-02T06:10:00Z"})
		for h := range 24 {
			key := usageDay.Add(time.Duration(h)*time.Hour).Format("2006-01-02T15:04:05-07:00") + "|" + meterA + "|" + uri
			hourly[key] = nanos(perHour)
		}
	}
	return recs, hourly
}

// nanos renders n billionths as a plain decimal.
func nanos(n int64) string {
	s := fmt.Sprintf("%d.%09d", n/1e9, n%1e9)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func TestUsageAggregatesPaging(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)
		recs, wantRows := pagingSet()
		if res := ingest(t, srv, srv.AdminToken, jsonArray(recs...)); res.Accepted != len(recs) {
			t.Fatalf("seed: %+v", res)
		}
		// The caller uses lower-case path segments, a "+00:00" offset escaped
		// as %2B, and a host name of its own.
		const host = "billing.example.test:8443"
		first := "/subscriptions/" + subA + "/providers/microsoft.commerce/usageaggregates?api-version=" + apiVersion +
			"&reportedStartTime=2024-03-02T06%3A00%3A00%2B00%3A00&reportedEndTime=2024-03-02T07:00:00Z&aggregationGranularity=Hourly&showDetails=true"
		resp, body := send(t, srv, request{path: first, token: srv.AdminToken, host: host})
		if resp.StatusCode != 200 {
			t.Fatalf("first page: %d %s", resp.StatusCode, clipBody(body))
		}
		p1 := decodePage(t, body)
		if len(p1.Value) != 1000 || p1.NextLink == nil {
			t.Fatalf("first page has %d rows and nextLink %v, want 1000 and a nextLink", len(p1.Value), p1.NextLink)
		}
		next := *p1.NextLink
		if !strings.HasPrefix(next, "http://"+host+"/subscriptions/"+subA+"/providers/") {
			t.Errorf("nextLink %q is not absolute on the caller's host %s", next, host)
		}
		if strings.ContainsAny(next, "+ ") {
			t.Errorf("nextLink %q carries a raw '+' or space", next)
		}
		if !strings.Contains(next, "2024-03-02T06%3A00%3A00%2B00%3A00") {
			t.Errorf("nextLink %q does not carry the start time with %%2B", next)
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		nq := u.Query()
		for k, v := range map[string]string{"api-version": apiVersion, "reportedStartTime": "2024-03-02T06:00:00+00:00",
			"reportedEndTime": "2024-03-02T07:00:00Z", "aggregationGranularity": "Hourly", "showDetails": "true"} {
			if nq.Get(k) != v {
				t.Errorf("nextLink %s = %q, want %q", k, nq.Get(k), v)
			}
		}
		token := nq.Get("continuationToken")
		if token == "" || len(nq["continuationToken"]) != 1 {
			t.Fatalf("nextLink %q has no single continuationToken", next)
		}

		// Asking again gives the same page, byte for byte.
		if _, again := send(t, srv, request{path: first, token: srv.AdminToken, host: host}); string(again) != string(body) {
			t.Error("the first page differs when asked twice")
		}

		resp, body = send(t, srv, request{path: u.RequestURI(), token: srv.AdminToken, host: host})
		if resp.StatusCode != 200 {
			t.Fatalf("second page: %d %s", resp.StatusCode, clipBody(body))
		}
		p2 := decodePage(t, body)
		if len(p2.Value) != 200 || p2.NextLink != nil {
			t.Fatalf("second page has %d rows and nextLink %v, want 200 and none", len(p2.Value), p2.NextLink)
		}
		if strings.Contains(string(body), "nextLink") {
			t.Error("the last page mentions nextLink")
		}
		all := append(append([]usageRow(nil), p1.Value...), p2.Value...)
		if got := rowsByKey(t, all); !reflect.DeepEqual(got, wantRows) {
			t.Errorf("the two pages hold %d distinct rows, want the %d expected ones", len(got), len(wantRows))
		}
		if len(rowsByKey(t, all)) != len(all) {
			t.Error("a row appears on both pages")
		}
		var sum []string
		for _, r := range recs {
			sum = append(sum, string(r.Quantity))
		}
		if got, want := totals(t, all), map[string]string{meterA: sumQuantities(t, sum...)}; !equalTotals(got, want) {
			t.Errorf("totals %v, want %v", got, want)
		}

		// The token is bound to its query and tamper-evident.
		withToken := func(q url.Values, tok string) string {
			q = cloneValues(q)
			q.Set("continuationToken", tok)
			return u.Path + "?" + q.Encode()
		}
		tampered := []byte(token)
		i := len(tampered) / 2
		if tampered[i] == 'A' {
			tampered[i] = 'B'
		} else {
			tampered[i] = 'A'
		}
		otherQuery := cloneValues(nq)
		otherQuery.Set("showDetails", "false")
		otherEnd := cloneValues(nq)
		otherEnd.Set("reportedEndTime", "2024-03-02T08:00:00Z")
		for name, path := range map[string]string{
			"Tampered":          withToken(nq, string(tampered)),
			"Truncated":         withToken(nq, token[:len(token)-2]),
			"Extended":          withToken(nq, token+"AA"),
			"OtherDetails":      withToken(otherQuery, token),
			"OtherWindow":       withToken(otherEnd, token),
			"OtherSubscription": strings.Replace(withToken(nq, token), subA, subB, 1),
		} {
			t.Run(name, func(t *testing.T) {
				resp, body := get(t, srv, path)
				wantError(t, resp, body, 400, "InvalidProperty", "continuationToken")
			})
		}
	})
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// rowsByKey maps "usageStartTime|meterId|resourceUri" to the row's exact
// quantity, failing on a repeated key.
func rowsByKey(t *testing.T, rows []usageRow) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range rows {
		uri := ""
		if r.Properties.InstanceData != nil && *r.Properties.InstanceData != "" {
			var inst struct {
				Res struct {
					ResourceURI string `json:"resourceUri"`
				} `json:"Microsoft.Resources"`
			}
			if err := json.Unmarshal([]byte(*r.Properties.InstanceData), &inst); err != nil {
				t.Fatalf("instanceData %q: %v", *r.Properties.InstanceData, err)
			}
			uri = inst.Res.ResourceURI
		}
		k := r.Properties.UsageStartTime + "|" + r.Properties.MeterID + "|" + uri
		if _, dup := out[k]; dup {
			t.Errorf("row %s appears twice", k)
		}
		out[k] = r.Properties.Quantity.String()
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	ks := keysOf(m)
	sort.Strings(ks)
	return ks
}

func wantJSON(t *testing.T, raw json.RawMessage, want string) {
	t.Helper()
	var got string
	if err := json.Unmarshal(raw, &got); err != nil || got != want {
		t.Errorf("got %s, want %q", raw, want)
	}
}
