package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// costWorld is the data set of the cost report and usageDetails tests:
// subA and subB of billing account contoso, subC of fabrikam; subA has
// usage on two VMs (tagged env=prod and env=dev) and without a resource in
// February 2024, whose period is closed; then late usage arrives.
type costWorld struct {
	srv     *reckontest.Server
	clock   *reckontest.Clock
	period  string // subA's February period
	inv     invoicing.Invoice
	current string // subA's open period
}

var (
	cwVM1 = "/subscriptions/" + subA + "/resourceGroups/RG-Web/providers/Microsoft.Compute/virtualMachines/vm1"
	cwVM2 = "/subscriptions/" + subA + "/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/vm2"
)

func putSubIn(t *testing.T, srv *reckontest.Server, id, acct string) {
	t.Helper()
	resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + id, token: srv.AdminToken,
		body: `{"displayName":"Sub ` + id[:4] + `","billingAccount":"` + acct + `"}`})
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT subscription %s: %d %s", id, resp.StatusCode, body)
	}
}

func startCostWorld(t *testing.T, b reckontest.Backend) *costWorld {
	t.Helper()
	srv, clock := startServer(t, b, reckontest.Options{})
	w := &costWorld{srv: srv, clock: clock}
	putSubIn(t, srv, subA, "contoso")
	putSubIn(t, srv, subB, "contoso")
	putSubIn(t, srv, subC, "fabrikam")
	importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
	prod, dev := map[string]string{"env": "prod", "Team": "web"}, map[string]string{"Env": "dev"}
	recs := []record{
		{ID: "a1", SubscriptionID: subA, MeterID: rcMeterTiered, Quantity: json.RawMessage(`60`), UsageStartTime: "2024-02-05T00:00:00Z", UsageEndTime: "2024-02-05T06:00:00Z", ResourceURI: cwVM1, Location: "eastus", Tags: prod, ReportedTime: "2024-02-05T07:00:00Z"},
		{ID: "a2", SubscriptionID: subA, MeterID: rcMeterTiered, Quantity: json.RawMessage(`"50.5"`), UsageStartTime: "2024-02-06T22:00:00Z", UsageEndTime: "2024-02-07T02:00:00Z", ResourceURI: cwVM1, Location: "eastus", Tags: prod, ReportedTime: "2024-02-07T03:00:00Z"},
		{ID: "a3", SubscriptionID: subA, MeterID: rcMeterTiered, Quantity: json.RawMessage(`40`), UsageStartTime: "2024-02-06T00:00:00Z", UsageEndTime: "2024-02-06T01:00:00Z", ResourceURI: cwVM2, Location: "eastus", Tags: dev, ReportedTime: "2024-02-06T03:00:00Z"},
		{ID: "a4", SubscriptionID: subA, MeterID: rcMeterDeprecated, Quantity: json.RawMessage(`1000.333`), UsageStartTime: "2024-02-10T00:00:00Z", UsageEndTime: "2024-02-11T00:00:00Z", ReportedTime: "2024-02-11T01:00:00Z"},
		{ID: "a5", SubscriptionID: subA, MeterID: rcMeterDeprecated, Quantity: json.RawMessage(`7`), UsageStartTime: "2024-02-28T00:00:00Z", UsageEndTime: "2024-02-28T01:00:00Z", ResourceURI: cwVM2, Tags: dev, ReportedTime: "2024-02-28T03:00:00Z"},
		{ID: "a6", SubscriptionID: subA, MeterID: rcMeterTiered, Quantity: json.RawMessage(`3`), UsageStartTime: "2024-03-02T00:00:00Z", UsageEndTime: "2024-03-02T01:00:00Z", ResourceURI: cwVM1, Tags: prod, ReportedTime: "2024-03-02T03:00:00Z"},
		{ID: "b1", SubscriptionID: subB, MeterID: rcMeterTiered, Quantity: json.RawMessage(`20`), UsageStartTime: "2024-02-08T00:00:00Z", UsageEndTime: "2024-02-08T01:00:00Z", ReportedTime: "2024-02-08T03:00:00Z"},
		{ID: "c1", SubscriptionID: subC, MeterID: rcMeterTiered, Quantity: json.RawMessage(`30`), UsageStartTime: "2024-02-08T00:00:00Z", UsageEndTime: "2024-02-08T01:00:00Z", ReportedTime: "2024-02-08T03:00:00Z"},
	}
	if res := ingest(t, srv, srv.AdminToken, jsonArray(recs...)); res.Accepted != len(recs) {
		t.Fatalf("ingest: %+v", res)
	}
	ctx := context.Background()
	ps, err := srv.Invoicing.Periods(ctx, subA)
	if err != nil {
		t.Fatal(err)
	}
	feb := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range ps {
		if p.Start.Equal(feb) {
			w.period = p.Name
		}
		if p.ClosedAt == nil && !p.Start.After(serverNow) && p.End.After(serverNow) {
			w.current = p.Name
		}
	}
	if w.period == "" || w.current == "" {
		t.Fatalf("periods of subA: %+v", ps)
	}
	inv, err := srv.Invoicing.Close(ctx, subA, w.period, true)
	if err != nil {
		t.Fatal(err)
	}
	w.inv = *inv
	if w.inv.Total.Sign() <= 0 {
		t.Fatalf("invoice total %s", w.inv.Total)
	}
	// Late usage of February, reported after the close: not on the
	// invoice, so not in the closed period's rows either.
	clock.Advance(time.Hour)
	late := record{ID: "late", SubscriptionID: subA, MeterID: rcMeterTiered, Quantity: json.RawMessage(`11`), UsageStartTime: "2024-02-20T00:00:00Z",
		UsageEndTime: "2024-02-20T01:00:00Z", ResourceURI: cwVM1, Tags: prod, ReportedTime: rfc(clock.Now().Add(-time.Minute))}
	if res := ingest(t, srv, srv.AdminToken, jsonArray(late)); res.Accepted != 1 {
		t.Fatalf("ingest late: %+v", res)
	}
	clock.Advance(time.Hour)
	return w
}

// usageDetailsPage is a page of usageDetails, decoded strictly enough.
type usageDetailsPage struct {
	Value []struct {
		ID         string            `json:"id"`
		Name       string            `json:"name"`
		Type       string            `json:"type"`
		Kind       string            `json:"kind"`
		Tags       map[string]string `json:"tags"`
		Properties map[string]any    `json:"properties"`
	} `json:"value"`
	NextLink string `json:"nextLink"`
}

// readAllDetails follows nextLinks from path; it returns the items' properties
// (with the tags under "tags") and the number of pages.
func readAllDetails(t *testing.T, srv *reckontest.Server, token, path string) ([]map[string]any, int) {
	t.Helper()
	var out []map[string]any
	seen := map[string]bool{}
	pages := 0
	for path != "" {
		resp, body := send(t, srv, request{path: path, token: token})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, clipBody(body))
		}
		var p usageDetailsPage
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatalf("page %s: %v", clipBody(body), err)
		}
		pages++
		for _, v := range p.Value {
			if seen[v.ID] {
				t.Fatalf("item %s served twice", v.ID)
			}
			seen[v.ID] = true
			if v.Type != "Microsoft.Consumption/usageDetails" || !strings.HasSuffix(v.ID, "/"+v.Name) {
				t.Fatalf("item %s %s %s", v.ID, v.Name, v.Type)
			}
			v.Properties["_kind"] = v.Kind
			v.Properties["_tags"] = v.Tags
			out = append(out, v.Properties)
		}
		path = ""
		if p.NextLink != "" {
			u, err := url.Parse(p.NextLink)
			if err != nil || u.Host != strings.TrimPrefix(srv.URL, "http://") {
				t.Fatalf("nextLink %s", p.NextLink)
			}
			path = u.RequestURI()
		}
		if pages > 100 {
			t.Fatal("too many pages")
		}
	}
	return out, pages
}

// sumField sums a numeric property exactly (from its JSON text).
func sumField(t *testing.T, items []map[string]any, field string) string {
	t.Helper()
	var s money.Decimal
	for _, it := range items {
		n, ok := it[field].(json.Number)
		if !ok {
			f, ok := it[field].(float64)
			if !ok {
				t.Fatalf("%s missing in %v", field, it)
			}
			n = json.Number(jsonFloat(f))
		}
		d, err := money.ParseDecimal(string(n))
		if err != nil {
			t.Fatalf("%s %q: %v", field, n, err)
		}
		s = s.Add(d)
	}
	return s.String()
}

func jsonFloat(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

func detailsPath(sub, period, query string) string {
	p := "/subscriptions/" + sub
	if period != "" {
		p += "/providers/Microsoft.Billing/billingPeriods/" + period
	}
	return p + "/providers/Microsoft.Consumption/usageDetails?" + query
}

// TestUsageDetails: rows of a closed period add up to its invoice, through
// both scopes, paging, $top, filters and both shapes; errors and access.
func TestUsageDetails(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startCostWorld(t, b)
		srv := w.srv
		total := w.inv.SubTotal.String()
		if w.inv.Total.String() != total {
			t.Fatalf("no tax expected: %s vs %s", w.inv.Total, total)
		}

		// The billing-period scope: every row of the closed period.
		all, _ := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, w.period, "api-version=2021-10-01&$expand=properties/meterDetails"))
		if got := sumField(t, all, "cost"); got != total {
			t.Fatalf("period rows cost %s, invoice subtotal %s (%d rows)", got, total, len(all))
		}
		var usageRows int
		for _, it := range all {
			if it["_kind"] != "legacy" || it["billingCurrency"] != "USD" || it["subscriptionId"] != subA ||
				it["invoiceId"] != "/subscriptions/"+subA+"/providers/Microsoft.Billing/invoices/"+w.inv.Name ||
				it["billingPeriodStartDate"] != "2024-02-01T00:00:00Z" {
				t.Errorf("row %v", it)
			}
			d, _ := time.Parse(time.RFC3339, it["date"].(string))
			if d.Before(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)) || !d.Before(time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("row of %v outside February", d)
			}
			if it["chargeType"] == "Usage" {
				usageRows++
				if it["meterDetails"] == nil {
					t.Errorf("no meterDetails with $expand: %v", it)
				}
			}
		}
		// a1 (Feb 5), a2 (Feb 6 and 7), a3, a4, a5; the late record is not there.
		if usageRows != 6 {
			t.Errorf("%d usage rows, want 6", usageRows)
		}
		var quantity money.Decimal
		for _, it := range all {
			if it["resourceId"] == cwVM1 {
				q, _ := money.ParseDecimal(jsonFloat(it["quantity"].(float64)))
				quantity = quantity.Add(q)
			}
		}
		if quantity.String() != "110.5" {
			t.Errorf("vm1 quantity %s, want 110.5 (late usage excluded)", quantity)
		}

		// The subscription scope with a date range: the same rows.
		q := "api-version=2021-10-01&$filter=" + url.QueryEscape("properties/usageStart ge '2024-02-01' and properties/usageEnd le '2024-02-29'")
		sub, _ := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, "", q))
		if len(sub) != len(all) || sumField(t, sub, "cost") != total {
			t.Errorf("subscription scope: %d rows %s, want %d %s", len(sub), sumField(t, sub, "cost"), len(all), total)
		}

		// Paging: pages of 2 rows, then $top.
		restore := httpapi.SetUsageDetailsPageSize(2)
		paged, pages := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, w.period, "api-version=2021-10-01"))
		if len(paged) != len(all) || pages != (len(all)+1)/2 || sumField(t, paged, "cost") != total {
			t.Errorf("paged: %d rows in %d pages, cost %s", len(paged), pages, sumField(t, paged, "cost"))
		}
		top, pages := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, w.period, "api-version=2021-10-01&$top=3"))
		if len(top) != 3 || pages != 2 {
			t.Errorf("$top=3: %d rows in %d pages", len(top), pages)
		}
		// A tampered or replayed skip token.
		resp, body := send(t, srv, request{path: detailsPath(subA, w.period, "api-version=2021-10-01"), token: srv.AdminToken})
		var p usageDetailsPage
		json.Unmarshal(body, &p)
		if resp.StatusCode != http.StatusOK || p.NextLink == "" {
			t.Fatalf("first page: %d %s", resp.StatusCode, clipBody(body))
		}
		u, _ := url.Parse(p.NextLink)
		tok := u.Query().Get("$skiptoken")
		restore()
		for _, bad := range []string{
			detailsPath(subA, w.period, "api-version=2021-10-01&$skiptoken="+tok[:len(tok)-2]+"AA"),
			detailsPath(subA, w.period, "api-version=2021-10-01&$top=5&$skiptoken="+tok),
			detailsPath(subA, "", "api-version=2021-10-01&$skiptoken="+tok),
		} {
			resp, body := send(t, srv, request{path: bad, token: srv.AdminToken})
			wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", "$skiptoken")
		}

		// Filters: a tag (name in any case), a resource group.
		prod, _ := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, w.period, "api-version=2021-10-01&$filter="+url.QueryEscape("tags eq 'ENV:prod'")))
		if len(prod) != 3 { // a1 on Feb 5, a2 split over Feb 6 and 7
			t.Errorf("env=prod: %d rows", len(prod))
		}
		for _, it := range prod {
			if it["resourceId"] != cwVM1 || it["resourceName"] != "vm1" || it["resourceGroup"] != "RG-Web" {
				t.Errorf("env=prod row %v", it)
			}
		}
		rg, _ := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, w.period, "api-version=2021-10-01&$filter="+url.QueryEscape("properties/resourceGroup eq 'rg-web'")))
		if len(rg) != 5 { // RG-Web and rg-web are one resource group
			t.Errorf("resource group rg-web: %d rows, want 5", len(rg))
		}
		day, _ := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, w.period, "api-version=2021-10-01&$filter="+url.QueryEscape("properties/date eq '2024-02-06'")))
		if len(day) != 2 {
			t.Errorf("2024-02-06: %d rows, want 2", len(day))
		}

		// The older shape sums the same.
		old, _ := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, w.period, "api-version=2018-06-30"))
		if len(old) != len(all) || sumField(t, old, "pretaxCost") != total {
			t.Errorf("2018-06-30: %d rows, pretaxCost %s", len(old), sumField(t, old, "pretaxCost"))
		}
		for _, it := range old {
			if it["_kind"] != "" || it["billingPeriodId"] != "/subscriptions/"+subA+"/providers/Microsoft.Billing/billingPeriods/"+w.period || it["isEstimated"] != false {
				t.Errorf("2018-06-30 row %v", it)
			}
		}

		// Without a date filter: the open period, estimated: March's usage,
		// and the late February record, which March's invoice will carry,
		// dated on its February day (with the rounding its arrival moved
		// within February's line: a row of quantity 0).
		cur, _ := readAllDetails(t, srv, srv.AdminToken, detailsPath(subA, "", "api-version=2021-10-01"))
		var march int
		lateQty := money.Zero
		for _, it := range cur {
			if it["invoiceId"] != nil {
				t.Errorf("open period row with an invoice: %v", it)
			}
			if it["chargeType"] != "Usage" {
				continue
			}
			switch d, _ := it["date"].(string); {
			case d == "2024-03-02T00:00:00Z":
				march++
			case strings.HasPrefix(d, "2024-02-"):
				q, err := money.ParseDecimal(fmt.Sprint(it["quantity"]))
				if err != nil {
					t.Fatal(err)
				}
				lateQty = lateQty.Add(q)
			default:
				t.Errorf("open period row %v", it)
			}
		}
		if march != 1 || lateQty.String() != "11" {
			t.Errorf("open period: %d March usage rows (want 1), late February quantity %s (want 11)", march, lateQty)
		}

		// Errors.
		for _, c := range []struct {
			path         string
			status       int
			code, target string
		}{
			{detailsPath(subA, "", "api-version=2015-06-01-preview"), 400, "InvalidApiVersionParameter", "api-version"},
			{detailsPath(subA, "", ""), 400, "MissingApiVersionParameter", "api-version"},
			{detailsPath(subA, "", "api-version=2021-10-01&$filter="+url.QueryEscape("properties/usageStart ne '2024-02-01'")), 400, "InvalidFilter", "$filter"},
			{detailsPath(subA, "", "api-version=2021-10-01&$filter="+url.QueryEscape("properties/usageStart ge '2024-02-01'")), 400, "InvalidFilter", "$filter"},
			{detailsPath(subA, "", "api-version=2021-10-01&$top=0"), 400, "InvalidProperty", "$top"},
			{detailsPath(subA, "", "api-version=2021-10-01&$expand=properties/foo"), 400, "InvalidProperty", "$expand"},
			{detailsPath(subA, "209901-1", "api-version=2021-10-01"), 404, "BillingPeriodNotFound", ""},
			{detailsPath("not-a-guid", "", "api-version=2021-10-01"), 400, "InvalidSubscriptionId", "subscriptionId"},
			{detailsPath(unknownGUID, "", "api-version=2021-10-01"), 404, "SubscriptionNotFound", "subscriptionId"},
		} {
			resp, body := send(t, srv, request{path: c.path, token: srv.AdminToken})
			if c.target == "" {
				if resp.StatusCode != c.status || !strings.Contains(string(body), c.code) {
					t.Errorf("%s: %d %s", c.path, resp.StatusCode, body)
				}
				continue
			}
			wantError(t, resp, body, c.status, c.code, c.target)
		}

		// Access: a Reader of subC may not read subA; the contoso Account
		// Admin and a Reader of subA may.
		other := srv.Principal(t, "reader-c", "Reader@/subscriptions/"+subC)
		resp, body = send(t, srv, request{path: detailsPath(subA, w.period, "api-version=2021-10-01"), token: other})
		wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		resp, body = send(t, srv, request{path: detailsPath(subA, w.period, "api-version=2021-10-01"), token: ""})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("no token: %d %s", resp.StatusCode, body)
		}
		for _, tok := range []string{srv.Principal(t, "admin-contoso", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso"),
			srv.Principal(t, "reader-a", "Reader@/subscriptions/"+subA)} {
			rows, _ := readAllDetails(t, srv, tok, detailsPath(subA, w.period, "api-version=2021-10-01"))
			if sumField(t, rows, "cost") != total {
				t.Errorf("allowed caller: cost %s", sumField(t, rows, "cost"))
			}
		}
	})
}

// costReportBody is the cost report.
type costReportBody struct {
	ID       string `json:"id"`
	Currency string `json:"currency"`
	From     string `json:"from"`
	To       string `json:"to"`
	GroupBy  string `json:"groupBy"`
	Total    string `json:"total"`
	Rows     int    `json:"rows"`
	Groups   []struct {
		Key      string `json:"key"`
		Name     string `json:"name"`
		Currency string `json:"currency"`
		Cost     string `json:"cost"`
		Rows     int    `json:"rows"`
		Quantity []struct {
			Unit     string `json:"unit"`
			Quantity string `json:"quantity"`
		} `json:"quantity"`
	} `json:"groups"`
	Totals []struct {
		Currency string `json:"currency"`
		Cost     string `json:"cost"`
	} `json:"totals"`
}

func getReport(t *testing.T, srv *reckontest.Server, token, path string) costReportBody {
	t.Helper()
	resp, body := send(t, srv, request{path: path, token: token})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, clipBody(body))
	}
	var r costReportBody
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(&r); err != nil {
		t.Fatal(err)
	}
	var sum money.Decimal
	n := 0
	for _, g := range r.Groups {
		d, err := money.ParseDecimal(g.Cost)
		if err != nil {
			t.Fatal(err)
		}
		sum = sum.Add(d)
		n += g.Rows
	}
	if len(r.Totals) <= 1 && (sum.String() != orZero(r.Total) || n != r.Rows) {
		t.Fatalf("%s: groups add up to %s over %d rows, total %s over %d", path, sum, n, r.Total, r.Rows)
	}
	return r
}

func orZero(s string) string {
	if s == "" {
		return "0"
	}
	return s
}

func reportPath(sub, query string) string {
	return "/subscriptions/" + sub + "/providers/Microsoft.Commerce/costReport?api-version=2015-06-01-preview&" + query
}

// TestCostReport: for a closed period, every grouping adds up to the
// invoice's subtotal; the untagged group; the billing-account scope;
// errors and access.
func TestCostReport(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startCostWorld(t, b)
		srv := w.srv
		total := w.inv.SubTotal.String()
		for _, g := range []string{"tag:env", "tag:Team", "resourceGroup", "meterCategory", "meter", "resource", "subscription"} {
			r := getReport(t, srv, srv.AdminToken, reportPath(subA, "from=2024-02-01&to=2024-03-01&groupBy="+url.QueryEscape(g)))
			if r.Total != total || r.Currency != "USD" || r.From != "2024-02-01" || r.To != "2024-03-01" {
				t.Errorf("%s: total %s %s (%s..%s), invoice %s", g, r.Total, r.Currency, r.From, r.To, total)
			}
		}
		r := getReport(t, srv, srv.AdminToken, reportPath(subA, "from=2024-02-01&to=2024-03-01&groupBy=tag:ENV"))
		keys := map[string]int{}
		for _, g := range r.Groups {
			keys[g.Key] = g.Rows
		}
		// prod: vm1 on Feb 5, 6, 7 → wait: a1 Feb 5; a2 Feb 6 and 7. dev: a3, a5.
		if keys["prod"] != 3 || keys["dev"] != 2 || keys["untagged"] == 0 || len(keys) != 3 {
			t.Errorf("tag:env groups %v", keys)
		}
		// Group by subscription at the billing account: subA and subB.
		acct := getReport(t, srv, srv.AdminToken, "/providers/Microsoft.Billing/billingAccounts/contoso/providers/Microsoft.Commerce/costReport?api-version=2015-06-01-preview&from=2024-02-01&to=2024-03-01&groupBy=subscription")
		if len(acct.Groups) != 2 {
			t.Fatalf("account groups %+v", acct.Groups)
		}
		for _, g := range acct.Groups {
			if g.Key == subA && g.Cost != total {
				t.Errorf("subA in the account report: %s, want %s", g.Cost, total)
			}
			if g.Key != subA && g.Key != subB {
				t.Errorf("account report group %s", g.Key)
			}
		}
		// A part of the period: its days only.
		part := getReport(t, srv, srv.AdminToken, reportPath(subA, "from=2024-02-05&to=2024-02-07&groupBy=resource"))
		if part.Rows != 3 {
			t.Errorf("Feb 5–6: %d rows, want 3", part.Rows)
		}

		for _, c := range []struct {
			path         string
			status       int
			code, target string
		}{
			{reportPath(subA, "to=2024-03-01"), 400, "InvalidProperty", "from"},
			{reportPath(subA, "from=2024-03-01&to=2024-02-01"), 400, "InvalidProperty", "to"},
			{reportPath(subA, "from=2024-02-01T10:00:00Z&to=2024-03-01"), 400, "InvalidProperty", "from"},
			{reportPath(subA, "from=2020-01-01&to=2024-03-01"), 400, "InvalidProperty", "to"},
			{reportPath(subA, "from=2024-02-01&to=2024-03-01&groupBy=location"), 400, "InvalidGroupBy", "groupBy"},
			{strings.Replace(reportPath(subA, "from=2024-02-01&to=2024-03-01"), "2015-06-01-preview", "2024-01-01", 1), 400, "InvalidApiVersionParameter", "api-version"},
			{reportPath(unknownGUID, "from=2024-02-01&to=2024-03-01"), 404, "SubscriptionNotFound", "subscriptionId"},
		} {
			resp, body := send(t, srv, request{path: c.path, token: srv.AdminToken})
			wantError(t, resp, body, c.status, c.code, c.target)
		}
		// Access: a Reader of subC is refused subA; a Reader of subA is
		// refused the account scope; fabrikam's admin is refused contoso.
		readerC := srv.Principal(t, "reader-c", "Reader@/subscriptions/"+subC)
		resp, body := send(t, srv, request{path: reportPath(subA, "from=2024-02-01&to=2024-03-01"), token: readerC})
		wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		readerA := srv.Principal(t, "reader-a", "Reader@/subscriptions/"+subA)
		getReport(t, srv, readerA, reportPath(subA, "from=2024-02-01&to=2024-03-01"))
		fabrikam := srv.Principal(t, "admin-fabrikam", "Account Admin@/providers/Microsoft.Billing/billingAccounts/fabrikam")
		for _, tok := range []string{readerA, fabrikam} {
			resp, body := send(t, srv, request{token: tok, path: "/providers/Microsoft.Billing/billingAccounts/contoso/providers/Microsoft.Commerce/costReport?api-version=2015-06-01-preview&from=2024-02-01&to=2024-03-01"})
			wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		}
		f := getReport(t, srv, fabrikam, "/providers/Microsoft.Billing/billingAccounts/fabrikam/providers/Microsoft.Commerce/costReport?api-version=2015-06-01-preview&from=2024-02-01&to=2024-03-01")
		if len(f.Groups) != 1 || f.Groups[0].Key != subC {
			t.Errorf("fabrikam report %+v", f)
		}
	})
}
