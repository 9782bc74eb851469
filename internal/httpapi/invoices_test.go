package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The invoice tests' world (see startInvoiceWorld).
const (
	subC        = "3c9e1f7a-5b2d-4e8f-9a1c-7d6b5e4f3a2b" // billing account fabrikam
	subDeleted  = "4d8a2c6e-1f3b-4a5c-8e7d-9b0a1c2d3e4f" // contoso, state Deleted
	subNoInv    = "5e7b3d9f-2a4c-4b6d-8f1e-0a9b8c7d6e5f" // contoso, no invoice yet
	v2018       = "2018-03-01-preview"
	v2017       = "2017-04-24-preview"
	v2017Feb    = "2017-02-27-preview"
	v2024       = "2024-04-01"
	v2020       = "2020-05-01"
	legacyBase  = "/providers/Microsoft.Billing/"
	accountBase = "/providers/Microsoft.Billing/billingAccounts/"
)

// invoiceNow is the clock of the invoice tests when the world is built:
// every period of February to May 2024 has ended, with its grace time.
var invoiceNow = time.Date(2024, 6, 10, 12, 0, 0, 0, time.UTC)

// fakePDF renders an invoice as a small deterministic document; the tests
// check that downloads serve exactly the stored bytes.
type fakePDF struct{}

func (fakePDF) Render(inv *invoicing.Invoice) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%%PDF-1.4\n%% Reckon test invoice\n%s %s %s %s %s..%s\n", inv.Kind, inv.Name, inv.SubscriptionID, inv.Total,
		inv.PeriodStart.Format(time.DateOnly), inv.PeriodEnd.Format(time.DateOnly))
	for _, l := range inv.Lines {
		fmt.Fprintf(&b, "%s %s %s %s\n", l.Kind, l.MeterID, l.Quantity, l.Amount)
	}
	b.WriteString("%%EOF\n")
	return b.Bytes(), nil
}

// invoiceWorld is a server with the invoice APIs over a real store, and
// the invoices issued in it:
//   - subA (contoso): periods 202403-1 .. 202406-1 closed (a[0..3]), with
//     the charges test's usage in February and March, and a credit note
//     (cn) correcting a[1]; 202407-1 is open.
//   - subB (contoso): 202406-1 closed (b).
//   - subC (fabrikam): 202406-1 closed (c).
//   - subDeleted (contoso, Deleted): 202406-1 closed (d).
//   - subNoInv (contoso): no invoice.
type invoiceWorld struct {
	srv     *reckontest.Server // serves the API below
	clock   *reckontest.Clock
	inv     *invoicing.Service
	a       [4]invoicing.Invoice
	b, c, d invoicing.Invoice
	cn      invoicing.Invoice
}

// startInvoiceServer starts a server of backend b with the invoice APIs
// configured by cfg (InvoicePageSize defaults to 2 here, so that lists
// page), over the services of a reckontest server, with invoices rendered
// by fakePDF.
func startInvoiceServer(t testing.TB, b reckontest.Backend, cfg httpapi.Config) (*reckontest.Server, *reckontest.Clock, *invoicing.Service) {
	t.Helper()
	clock := reckontest.NewClock(invoiceNow)
	base := reckontest.Start(t, reckontest.Options{Backend: b, Now: clock.Now})
	ctx := context.Background()
	tokenKey, err := base.DB.Secret(ctx, "continuation-token")
	if err != nil {
		t.Fatal(err)
	}
	downloadKey, err := base.DB.Secret(ctx, "invoice-download")
	if err != nil {
		t.Fatal(err)
	}
	svc := invoicing.NewService(base.DB, base.Accounts, base.Charges, fakePDF{}, clock.Now, invoicing.Config{SettleMargin: time.Second})
	if cfg.InvoicePageSize == 0 {
		cfg.InvoicePageSize = 2
	}
	api := httpapi.New(cfg, httpapi.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Accounts: base.Accounts, Catalog: base.Catalog,
		Usage: base.Usage, Charges: base.Charges, Auth: base.Auth, TokenKey: tokenKey, Registry: prometheus.NewRegistry(),
		Ready: base.DB.Ping, Now: clock.Now, Invoicing: svc, DownloadKey: downloadKey})
	srv := *base
	srv.API = api
	srv.Server = httptest.NewServer(api)
	t.Cleanup(srv.Server.Close)
	return &srv, clock, svc
}

func putSub(t *testing.T, srv *reckontest.Server, id, acct, state string) {
	t.Helper()
	resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + id, token: srv.AdminToken,
		body: fmt.Sprintf(`{"displayName":"Sub %s","billingAccount":%q,"state":%q}`, id[:4], acct, state)})
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT subscription %s: %d %s", id, resp.StatusCode, body)
	}
}

// closePeriod closes a period through the operator API and returns the
// invoice issued.
func closePeriod(t *testing.T, srv *reckontest.Server, sub, period, query string) invoicing.Invoice {
	t.Helper()
	resp, body := send(t, srv, request{method: http.MethodPost, token: srv.AdminToken,
		path: "/admin/v1/subscriptions/" + sub + "/billingPeriods/" + period + "/close" + query})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("close %s %s: %d %s", sub, period, resp.StatusCode, body)
	}
	var inv invoicing.Invoice
	if err := json.Unmarshal(body, &inv); err != nil {
		t.Fatalf("close answer %s: %v", clipBody(body), err)
	}
	if inv.SubscriptionID != sub || inv.PeriodName != period || inv.Name == "" || inv.Kind != invoicing.KindInvoice {
		t.Fatalf("close %s %s issued %+v", sub, period, inv)
	}
	return inv
}

func startInvoiceWorld(t *testing.T, b reckontest.Backend, cfg httpapi.Config) *invoiceWorld {
	t.Helper()
	srv, clock, svc := startInvoiceServer(t, b, cfg)
	w := &invoiceWorld{srv: srv, clock: clock, inv: svc}
	putSub(t, srv, subA, "contoso", "Enabled")
	putSub(t, srv, subB, "contoso", "Enabled")
	putSub(t, srv, subC, "fabrikam", "Enabled")
	putSub(t, srv, subDeleted, "contoso", "Deleted")
	putSub(t, srv, subNoInv, "contoso", "Enabled")
	importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
	res := ingest(t, srv, srv.AdminToken, `[
		{"id":"t1","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":60,"usageStartTime":"2024-03-02T00:00:00Z","usageEndTime":"2024-03-02T06:00:00Z","reportedTime":"2024-03-02T07:00:00Z"},
		{"id":"t2","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":"90","usageStartTime":"2024-03-05T10:00:00Z","usageEndTime":"2024-03-05T11:00:00Z","reportedTime":"2024-03-05T12:00:00Z"},
		{"id":"d1","subscriptionId":"`+subA+`","meterId":"`+rcMeterDeprecated+`","quantity":1000,"usageStartTime":"2024-03-03T00:00:00Z","usageEndTime":"2024-03-04T00:00:00Z","reportedTime":"2024-03-04T01:00:00Z"},
		{"id":"feb","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":500,"usageStartTime":"2024-02-27T00:00:00Z","usageEndTime":"2024-02-27T01:00:00Z","reportedTime":"2024-02-27T02:00:00Z"},
		{"id":"b1","subscriptionId":"`+subB+`","meterId":"`+rcMeterTiered+`","quantity":5,"usageStartTime":"2024-05-07T00:00:00Z","usageEndTime":"2024-05-07T01:00:00Z","reportedTime":"2024-05-07T02:00:00Z"},
		{"id":"c1","subscriptionId":"`+subC+`","meterId":"`+rcMeterTiered+`","quantity":5,"usageStartTime":"2024-05-08T00:00:00Z","usageEndTime":"2024-05-08T01:00:00Z","reportedTime":"2024-05-08T02:00:00Z"},
		{"id":"x1","subscriptionId":"`+subDeleted+`","meterId":"`+rcMeterTiered+`","quantity":5,"usageStartTime":"2024-05-09T00:00:00Z","usageEndTime":"2024-05-09T01:00:00Z","reportedTime":"2024-05-09T02:00:00Z"}
	]`)
	if res.Accepted != 7 {
		t.Fatalf("ingest: %+v", res)
	}
	for i, p := range []string{"202403-1", "202404-1", "202405-1", "202406-1"} {
		q := "?force=true"
		if i%2 == 1 {
			q = "" // their grace time has passed
		}
		w.a[i] = closePeriod(t, srv, subA, p, q)
		clock.Advance(time.Minute)
	}
	w.b = closePeriod(t, srv, subB, "202406-1", "")
	clock.Advance(time.Minute)
	w.c = closePeriod(t, srv, subC, "202406-1", "?force=TRUE")
	clock.Advance(time.Minute)
	w.d = closePeriod(t, srv, subDeleted, "202406-1", "")
	clock.Advance(time.Minute)
	cn, err := svc.IssueCreditNote(context.Background(), reckontest.OperatorID, w.a[1].Name, "Test correction", nil)
	if err != nil {
		t.Fatalf("credit note: %v", err)
	}
	w.cn = *cn
	clock.Advance(time.Minute)
	return w
}

// legacyInvoiceBody is an invoice of the subscription-level API, decoded
// strictly.
type legacyInvoiceBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		InvoicePeriodStartDate string   `json:"invoicePeriodStartDate"`
		InvoicePeriodEndDate   string   `json:"invoicePeriodEndDate"`
		BillingPeriodIDs       []string `json:"billingPeriodIds"`
		DownloadURL            *struct {
			ExpiryTime string `json:"expiryTime"`
			URL        string `json:"url"`
		} `json:"downloadUrl"`
	} `json:"properties"`
}

type legacyPeriodBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		BillingPeriodStartDate string    `json:"billingPeriodStartDate"`
		BillingPeriodEndDate   string    `json:"billingPeriodEndDate"`
		InvoiceIDs             *[]string `json:"invoiceIds"`
	} `json:"properties"`
}

// listBody is a page of an ARM list.
type listBody[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink"`
}

// getAs sends a GET with token and decodes a 200 answer strictly.
func getAs[T any](t *testing.T, srv *reckontest.Server, token, path string) (T, *http.Response) {
	t.Helper()
	var v T
	resp, body := send(t, srv, request{path: path, token: token})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, clipBody(body))
	}
	decodeStrict(t, body, &v)
	return v, resp
}

// listPages follows nextLink from path and returns every item and the
// number of pages. Every nextLink must be absolute, on the server's host.
func listPages[T any](t *testing.T, srv *reckontest.Server, token, path string) ([]T, int) {
	t.Helper()
	var all []T
	pages := 0
	for path != "" {
		page, _ := getAs[listBody[T]](t, srv, token, path)
		all = append(all, page.Value...)
		pages++
		if pages > 20 {
			t.Fatal("more than 20 pages")
		}
		path = ""
		if page.NextLink != "" {
			rest, ok := strings.CutPrefix(page.NextLink, srv.URL+"/")
			if !ok {
				t.Fatalf("nextLink %q is not absolute on %s", page.NextLink, srv.URL)
			}
			path = "/" + rest
			if len(page.Value) == 0 {
				t.Errorf("an empty page has a nextLink")
			}
		}
	}
	return all, pages
}

func legacyInvoicesPath(sub, version, query string) string {
	return "/subscriptions/" + sub + legacyBase + "invoices?api-version=" + version + query
}

func names[T any](items []T, name func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return out
}

func invName(i legacyInvoiceBody) string { return i.Name }

// wantLegacyInvoice checks an invoice of the subscription-level API
// against the issued one.
func (w *invoiceWorld) wantLegacyInvoice(t *testing.T, got legacyInvoiceBody, want invoicing.Invoice, version string, withURL bool) {
	t.Helper()
	if got.ID != "/subscriptions/"+want.SubscriptionID+"/providers/Microsoft.Billing/invoices/"+want.Name || got.Name != want.Name ||
		got.Type != "Microsoft.Billing/invoices" {
		t.Errorf("invoice %s: id %q name %q type %q", want.Name, got.ID, got.Name, got.Type)
	}
	p := got.Properties
	if p.InvoicePeriodStartDate != want.PeriodStart.Format(time.DateOnly) || p.InvoicePeriodEndDate != want.PeriodEnd.Format(time.DateOnly) {
		t.Errorf("invoice %s: period %s..%s, want %s..%s", want.Name, p.InvoicePeriodStartDate, p.InvoicePeriodEndDate,
			want.PeriodStart.Format(time.DateOnly), want.PeriodEnd.Format(time.DateOnly))
	}
	wantIDs := []string{"/subscriptions/" + want.SubscriptionID + "/providers/Microsoft.Billing/billingPeriods/" + want.PeriodName}
	if version == v2017Feb {
		wantIDs = nil
	}
	if !slices.Equal(p.BillingPeriodIDs, wantIDs) {
		t.Errorf("invoice %s: billingPeriodIds %v, want %v", want.Name, p.BillingPeriodIDs, wantIDs)
	}
	if (p.DownloadURL != nil) != withURL {
		t.Fatalf("invoice %s: downloadUrl %+v, want one: %t", want.Name, p.DownloadURL, withURL)
	}
	if withURL {
		exp := w.clock.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if p.DownloadURL.ExpiryTime != exp || !strings.HasPrefix(p.DownloadURL.URL, w.srv.URL+"/downloads/v1/invoices/"+want.Name+".pdf?") {
			t.Errorf("invoice %s: downloadUrl %+v, want expiry %s on %s", want.Name, *p.DownloadURL, exp, w.srv.URL)
		}
	}
}

// TestLegacyInvoices drives Invoices_List, Invoices_Get and
// Invoices_GetLatest of the subscription-level API (2017-02-27-preview,
// 2017-04-24-preview, 2018-03-01-preview): order, $expand, $filter, $top,
// $skiptoken paging, the error answers.
func TestLegacyInvoices(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startInvoiceWorld(t, b, httpapi.Config{})
		srv, tok := w.srv, w.srv.AdminToken
		// Newest first by period end: the credit note (issued later) before
		// the invoice it corrects.
		all := []invoicing.Invoice{w.a[3], w.a[2], w.cn, w.a[1], w.a[0]}
		allNames := names(all, func(i invoicing.Invoice) string { return i.Name })

		t.Run("List", func(t *testing.T) {
			for _, version := range []string{v2017Feb, v2017, v2018} {
				got, pages := listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subA, version, ""))
				if !slices.Equal(names(got, invName), allNames) || pages != 3 {
					t.Fatalf("%s: %v in %d pages, want %v in 3", version, names(got, invName), pages, allNames)
				}
				for i := range got {
					w.wantLegacyInvoice(t, got[i], all[i], version, false)
				}
			}
			_, body := send(t, srv, request{path: legacyInvoicesPath(subA, v2017Feb, ""), token: tok})
			if bytes.Contains(body, []byte("billingPeriodIds")) {
				t.Errorf("2017-02-27-preview has billingPeriodIds: %s", clipBody(body))
			}
			// Another subscription's list holds only its own.
			got, _ := listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subB, v2018, ""))
			if len(got) != 1 || got[0].Name != w.b.Name {
				t.Errorf("subB: %v", names(got, invName))
			}
			got, _ = listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subNoInv, v2018, ""))
			if len(got) != 0 {
				t.Errorf("subNoInv: %v", names(got, invName))
			}
			// Path and query names in any case.
			got, _ = listPages[legacyInvoiceBody](t, srv, tok, "/SUBSCRIPTIONS/"+strings.ToUpper(subA)+"/providers/microsoft.billing/INVOICES?API-VERSION="+v2018+"&%24TOP=1")
			if len(got) != 1 || got[0].Name != w.a[3].Name {
				t.Errorf("upper case: %v", names(got, invName))
			}
		})

		t.Run("Expand", func(t *testing.T) {
			for _, q := range []string{"&$expand=downloadUrl", "&%24expand=DOWNLOADURL"} {
				got, _ := listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subA, v2018, q))
				if len(got) != len(all) {
					t.Fatalf("%s: %d invoices", q, len(got))
				}
				for i := range got {
					w.wantLegacyInvoice(t, got[i], all[i], v2018, true)
				}
			}
			resp, body := get(t, srv, legacyInvoicesPath(subA, v2018, "&$expand=lines"))
			wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", "$expand")
		})

		t.Run("Filter", func(t *testing.T) {
			for _, c := range []struct {
				filter string
				want   []invoicing.Invoice
			}{
				// Azure's example: invoices whose period started on or before 1 Feb.
				{"invoicePeriodStartDate le 2024-02-01", []invoicing.Invoice{w.a[0]}},
				{"invoicePeriodEndDate ge 2024-04-01 and invoicePeriodEndDate le 2024-05-01", []invoicing.Invoice{w.a[2], w.cn, w.a[1]}},
				{"invoicePeriodEndDate gt 2024-04-01 and invoicePeriodEndDate lt 2024-06-01", []invoicing.Invoice{w.a[2]}},
				{"invoicePeriodEndDate eq '2024-04-01'", []invoicing.Invoice{w.cn, w.a[1]}},
				{"INVOICEPERIODENDDATE  EQ  2024-06-01", []invoicing.Invoice{w.a[3]}},
				{"invoicePeriodEndDate lt 2024-03-01", nil},
				{"invoicePeriodStartDate ge 2024-03-01 and invoicePeriodEndDate le 2024-05-01", []invoicing.Invoice{w.a[2], w.cn, w.a[1]}},
				{"", all},
			} {
				for _, enc := range []func(string) string{
					func(s string) string { return "&%24filter=" + url.QueryEscape(s) },              // Go: %24filter, + for spaces
					func(s string) string { return "&$filter=" + strings.ReplaceAll(s, " ", "%20") }, // JavaScript: $filter, %20
				} {
					path := legacyInvoicesPath(subA, v2018, enc(c.filter))
					got, _ := listPages[legacyInvoiceBody](t, srv, tok, path)
					want := names(c.want, func(i invoicing.Invoice) string { return i.Name })
					if !slices.Equal(names(got, invName), want) && !(len(got) == 0 && len(want) == 0) {
						t.Errorf("%s: %v, want %v", path, names(got, invName), want)
					}
				}
			}
			for _, c := range []struct{ filter, mention string }{
				{"invoicePeriodEndDate ne 2024-04-01", "'ne'"},
				{"invoicePeriodEndDate ge 2024-04-01 or invoicePeriodEndDate le 2024-05-01", "'or'"},
				{"not invoicePeriodEndDate eq 2024-04-01", "'not'"},
				{"billingPeriodEndDate eq 2024-04-01", "unknown property 'billingPeriodEndDate'"},
				{"invoicePeriodEndDate eq 2024-13-01", "'2024-13-01'"},
				{"invoicePeriodEndDate eq 2024-04-01T00:00:00Z", "position"},
				{"invoicePeriodEndDate ge", "date"},
				{"invoicePeriodEndDate ge 2024-04-01 and", "missing"},
				{"invoicePeriodEndDate ge 2024-04-01 and and", "unknown property 'and'"},
				{"invoicePeriodEndDate", "operator"},
				{"invoicePeriodEndDate ge2024-04-01", "no space after 'ge'"},
				{"invoicePeriodEndDate eq '2024-04-01", "date"},
			} {
				resp, body := get(t, srv, legacyInvoicesPath(subA, v2018, "&$filter="+url.QueryEscape(c.filter)))
				e := wantError(t, resp, body, http.StatusBadRequest, "InvalidFilter", "$filter")
				if !strings.Contains(e.Error.Message, c.mention) || !strings.Contains(e.Error.Message, "YYYY-MM-DD") {
					t.Errorf("%q: message %q does not mention %s and the grammar", c.filter, e.Error.Message, c.mention)
				}
			}
		})

		t.Run("TopAndPaging", func(t *testing.T) {
			// $top: the most recent N, paged.
			for top := 1; top <= 6; top++ {
				got, pages := listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subA, v2018, fmt.Sprintf("&$top=%d", top)))
				n := min(top, len(all))
				if !slices.Equal(names(got, invName), allNames[:n]) || pages != max(1, (n+1)/2) {
					t.Errorf("$top=%d: %v in %d pages", top, names(got, invName), pages)
				}
			}
			// The nextLink repeats the query (filter, top, expand).
			page, _ := getAs[listBody[legacyInvoiceBody]](t, srv, tok, legacyInvoicesPath(subA, v2018, "&$top=3&$expand=downloadUrl&$filter="+url.QueryEscape("invoicePeriodEndDate ge 2024-03-01")))
			u, err := url.Parse(page.NextLink)
			if err != nil || len(page.Value) != 2 {
				t.Fatalf("first page %+v: %v", page, err)
			}
			if q := u.Query(); q.Get("$top") != "3" || q.Get("$expand") != "downloadUrl" || q.Get("$filter") != "invoicePeriodEndDate ge 2024-03-01" ||
				q.Get("api-version") != v2018 || q.Get("$skiptoken") == "" || strings.Contains(u.RawQuery, "+") {
				t.Errorf("nextLink %s", page.NextLink)
			}
			next, _ := getAs[listBody[legacyInvoiceBody]](t, srv, tok, strings.TrimPrefix(page.NextLink, srv.URL))
			if len(next.Value) != 1 || next.Value[0].Name != w.cn.Name || next.Value[0].Properties.DownloadURL == nil || next.NextLink != "" {
				t.Errorf("second page %+v", next)
			}
			// A skip token is bound to its query and tamper-evident.
			tok0 := u.Query().Get("$skiptoken")
			for _, path := range []string{
				legacyInvoicesPath(subA, v2018, "&$top=3&$skiptoken="+tok0),                                                // without the filter
				legacyInvoicesPath(subB, v2018, "&$top=3&$filter=invoicePeriodEndDate%20ge%202024-03-01&$skiptoken="+tok0), // another subscription
				legacyInvoicesPath(subA, v2018, "&$top=3&$filter=invoicePeriodEndDate%20ge%202024-03-01&$skiptoken="+tok0[:len(tok0)-2]+"AA"),
				legacyInvoicesPath(subA, v2018, "&$skiptoken=bm90IGEgdG9rZW4"),
				"/subscriptions/" + subA + "/providers/Microsoft.Billing/billingPeriods?api-version=" + v2018 + "&$skiptoken=" + tok0,
			} {
				resp, body := get(t, srv, path)
				wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", "$skiptoken")
			}
			for _, top := range []string{"0", "101", "-1", "two", "1.5"} {
				resp, body := get(t, srv, legacyInvoicesPath(subA, v2018, "&$top="+top))
				wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", "$top")
			}
			got, _ := listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subA, v2018, "&$top=100"))
			if len(got) != len(all) {
				t.Errorf("$top=100: %d", len(got))
			}
		})

		t.Run("PagingWhileIssuing", func(t *testing.T) {
			// A credit note issued between two pages neither repeats nor
			// hides an invoice listed before it was issued.
			page, _ := getAs[listBody[legacyInvoiceBody]](t, srv, tok, legacyInvoicesPath(subA, v2018, ""))
			cn2, err := w.inv.IssueCreditNote(t.Context(), reckontest.OperatorID, w.a[3].Name, "Second correction", nil)
			if err != nil {
				t.Fatal(err)
			}
			rest, _ := listPages[legacyInvoiceBody](t, srv, tok, strings.TrimPrefix(page.NextLink, srv.URL))
			got := append(names(page.Value, invName), names(rest, invName)...)
			if !slices.Equal(got, allNames) {
				t.Errorf("listed %v while issuing %s, want %v", got, cn2.Name, allNames)
			}
			now, _ := listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subA, v2018, ""))
			if want := append([]string{cn2.Name}, allNames...); !slices.Equal(names(now, invName), want) {
				t.Errorf("afterwards %v, want %v", names(now, invName), want)
			}
			all = append([]invoicing.Invoice{*cn2}, all...)
			allNames = append([]string{cn2.Name}, allNames...)
		})

		t.Run("GetAndLatest", func(t *testing.T) {
			for _, version := range []string{v2017Feb, v2017, v2018} {
				for _, want := range []invoicing.Invoice{w.a[0], w.a[1], w.cn} {
					got, _ := getAs[legacyInvoiceBody](t, srv, tok, "/subscriptions/"+subA+legacyBase+"invoices/"+want.Name+"?api-version="+version)
					w.wantLegacyInvoice(t, got, want, version, true)
				}
				// The newest invoice that is not a credit note; the literal
				// "latest" in any case wins over an invoice name.
				for _, latest := range []string{"latest", "LATEST"} {
					got, _ := getAs[legacyInvoiceBody](t, srv, tok, "/subscriptions/"+subA+legacyBase+"invoices/"+latest+"?api-version="+version)
					w.wantLegacyInvoice(t, got, w.a[3], version, true)
				}
				got, _ := getAs[legacyInvoiceBody](t, srv, tok, "/subscriptions/"+subB+legacyBase+"invoices/latest?api-version="+version)
				w.wantLegacyInvoice(t, got, w.b, version, true)
			}
			resp, body := get(t, srv, "/subscriptions/"+subNoInv+legacyBase+"invoices/latest?api-version="+v2018)
			wantError(t, resp, body, http.StatusNotFound, "InvoiceNotFound", "subscriptionId")
			// Another subscription's invoice is not found under this one.
			resp, body = get(t, srv, "/subscriptions/"+subA+legacyBase+"invoices/"+w.b.Name+"?api-version="+v2018)
			wantError(t, resp, body, http.StatusNotFound, "InvoiceNotFound", "invoiceName")
			resp, body = get(t, srv, "/subscriptions/"+subA+legacyBase+"invoices/NOPE-000001?api-version="+v2018)
			wantError(t, resp, body, http.StatusNotFound, "InvoiceNotFound", "invoiceName")
		})

		t.Run("Errors", func(t *testing.T) {
			for _, c := range []struct {
				path, code, target string
				status             int
			}{
				{"/subscriptions/" + subA + legacyBase + "invoices", "MissingApiVersionParameter", "api-version", 400},
				{legacyInvoicesPath(subA, "2015-06-01-preview", ""), "InvalidApiVersionParameter", "api-version", 400},
				{"/subscriptions/" + subA + legacyBase + "invoices/latest?api-version=2024-04-01", "InvalidApiVersionParameter", "api-version", 400},
				{legacyInvoicesPath("not-a-guid", v2018, ""), "InvalidSubscriptionId", "subscriptionId", 400},
				{legacyInvoicesPath(unknownGUID, v2018, ""), "SubscriptionNotFound", "subscriptionId", 404},
				{legacyInvoicesPath(subDeleted, v2018, ""), "UnsupportedSubscriptionType", "subscriptionId", 400},
				{"/subscriptions/" + subDeleted + legacyBase + "invoices/" + w.d.Name + "?api-version=" + v2018, "UnsupportedSubscriptionType", "subscriptionId", 400},
				{"/subscriptions/" + subDeleted + legacyBase + "billingPeriods?api-version=" + v2018, "UnsupportedSubscriptionType", "subscriptionId", 400},
			} {
				resp, body := get(t, srv, c.path)
				e := wantError(t, resp, body, c.status, c.code, c.target)
				checkRequestIDs(t, resp)
				if c.code == "UnsupportedSubscriptionType" && e.Error.Message != "Subscription "+subDeleted+" is not supported." {
					t.Errorf("message %q", e.Error.Message)
				}
			}
			resp, body := send(t, srv, request{path: legacyInvoicesPath(subA, v2018, "")})
			wantError(t, resp, body, http.StatusUnauthorized, "AuthenticationFailed", "")
			resp, body = send(t, srv, request{method: http.MethodPost, path: legacyInvoicesPath(subA, v2018, ""), token: tok})
			wantError(t, resp, body, http.StatusBadRequest, "MethodNotAllowed", "")
		})
	})
}

// TestLegacyBillingPeriods drives BillingPeriods_List and _Get: the
// periods newest first up to the open one, $filter on the end date, $top,
// paging, the invoice ids (which agree with the invoices' billingPeriodIds).
func TestLegacyBillingPeriods(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startInvoiceWorld(t, b, httpapi.Config{})
		srv, tok := w.srv, w.srv.AdminToken
		path := func(sub, query string) string {
			return "/subscriptions/" + sub + legacyBase + "billingPeriods?api-version=" + v2018 + query
		}
		inv := func(i invoicing.Invoice) string {
			return "/subscriptions/" + i.SubscriptionID + legacyBase + "invoices/" + i.Name
		}
		type period struct {
			name, start, end string
			invoices         []string
		}
		want := []period{
			{"202407-1", "2024-06-01", "2024-07-01", []string{}},
			{"202406-1", "2024-05-01", "2024-06-01", []string{inv(w.a[3])}},
			{"202405-1", "2024-04-01", "2024-05-01", []string{inv(w.a[2])}},
			{"202404-1", "2024-03-01", "2024-04-01", []string{inv(w.cn), inv(w.a[1])}},
			{"202403-1", "2024-02-01", "2024-03-01", []string{inv(w.a[0])}},
		}
		check := func(t *testing.T, got legacyPeriodBody, want period, withInvoices bool) {
			t.Helper()
			if got.ID != "/subscriptions/"+subA+legacyBase+"billingPeriods/"+want.name || got.Name != want.name || got.Type != "Microsoft.Billing/billingPeriods" ||
				got.Properties.BillingPeriodStartDate != want.start || got.Properties.BillingPeriodEndDate != want.end {
				t.Errorf("period %+v, want %+v", got, want)
			}
			if !withInvoices {
				if got.Properties.InvoiceIDs != nil {
					t.Errorf("period %s: invoiceIds %v shown to a caller who may not see invoices", want.name, *got.Properties.InvoiceIDs)
				}
			} else if got.Properties.InvoiceIDs == nil || !slices.Equal(*got.Properties.InvoiceIDs, want.invoices) {
				t.Errorf("period %s: invoiceIds %v, want %v", want.name, got.Properties.InvoiceIDs, want.invoices)
			}
		}
		for _, version := range []string{v2017, v2018} {
			got, pages := listPages[legacyPeriodBody](t, srv, tok, "/subscriptions/"+subA+legacyBase+"billingPeriods?api-version="+version)
			if len(got) != len(want) || pages != 3 {
				t.Fatalf("%s: %d periods in %d pages", version, len(got), pages)
			}
			for i := range got {
				check(t, got[i], want[i], true)
			}
		}
		for _, c := range []struct {
			query string
			want  []period
		}{
			{"&$filter=billingPeriodEndDate%20ge%202024-05-01", want[:3]},
			{"&$filter=" + url.QueryEscape("billingPeriodEndDate gt 2024-03-01 and billingPeriodEndDate le '2024-05-01'"), want[2:4]},
			{"&$filter=" + url.QueryEscape("billingPeriodStartDate eq 2024-02-01"), want[4:]},
			{"&$top=2", want[:2]},
			{"&$top=3&$filter=" + url.QueryEscape("billingPeriodEndDate le 2024-06-01"), want[1:4]},
		} {
			got, _ := listPages[legacyPeriodBody](t, srv, tok, path(subA, c.query))
			if len(got) != len(c.want) {
				t.Errorf("%s: %v", c.query, names(got, func(p legacyPeriodBody) string { return p.Name }))
				continue
			}
			for i := range got {
				check(t, got[i], c.want[i], true)
			}
		}
		for _, p := range want {
			got, _ := getAs[legacyPeriodBody](t, srv, tok, "/subscriptions/"+subA+legacyBase+"billingPeriods/"+p.name+"?api-version="+v2017)
			check(t, got, p, true)
		}
		// The invoices list agrees: each invoice names its period.
		invs, _ := listPages[legacyInvoiceBody](t, srv, tok, legacyInvoicesPath(subA, v2018, ""))
		for _, i := range invs {
			for _, p := range want {
				listed := slices.Contains(p.invoices, i.ID)
				named := slices.Contains(i.Properties.BillingPeriodIDs, "/subscriptions/"+subA+legacyBase+"billingPeriods/"+p.name)
				if listed != named {
					t.Errorf("invoice %s and period %s disagree: listed %t, named %t", i.Name, p.name, listed, named)
				}
			}
		}
		// A Reader sees the periods but, without the opt-in, not the invoices.
		reader := srv.Principal(t, "period-reader", "Reader@/subscriptions/"+subA)
		got, _ := listPages[legacyPeriodBody](t, srv, reader, path(subA, ""))
		if len(got) != len(want) {
			t.Fatalf("reader: %d periods", len(got))
		}
		for i := range got {
			check(t, got[i], want[i], false)
		}

		resp, body := get(t, srv, "/subscriptions/"+subA+legacyBase+"billingPeriods/209901-1?api-version="+v2018)
		wantError(t, resp, body, http.StatusNotFound, "BillingPeriodNotFound", "billingPeriodName")
		resp, body = get(t, srv, path(subA, "&$filter=invoicePeriodEndDate%20ge%202024-01-01"))
		wantError(t, resp, body, http.StatusBadRequest, "InvalidFilter", "$filter")
		// Billing periods arrived with 2017-04-24-preview.
		resp, body = get(t, srv, "/subscriptions/"+subA+legacyBase+"billingPeriods?api-version="+v2017Feb)
		e := wantError(t, resp, body, http.StatusBadRequest, "InvalidApiVersionParameter", "api-version")
		if !strings.Contains(e.Error.Message, v2017) || strings.Contains(e.Error.Message, v2017Feb+",") {
			t.Errorf("message %q", e.Error.Message)
		}
		resp, body = send(t, srv, request{path: path(subA, ""), token: srv.Principal(t, "period-stranger", "Reader@/subscriptions/"+subB)})
		wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
	})
}

// TestInvoiceAccess is the access matrix: the billing account's Account
// Admin always sees its invoices; Owner, Contributor, Reader and Billing
// Reader of a subscription only after the opt-in, which only the account's
// admin or an operator may set and which is audited; anyone else gets 403.
func TestInvoiceAccess(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startInvoiceWorld(t, b, httpapi.Config{})
		srv := w.srv
		admin := srv.Principal(t, "contoso-admin", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso")
		fabrikam := srv.Principal(t, "fabrikam-admin", "Account Admin@/providers/Microsoft.Billing/billingAccounts/fabrikam")
		roles := map[string]string{}
		for _, role := range []string{auth.RoleOwner, auth.RoleContributor, auth.RoleReader, auth.RoleBillingReader} {
			roles[role] = srv.Principal(t, "sub-"+strings.ReplaceAll(strings.ToLower(role), " ", "-"), role+"@/subscriptions/"+subA)
		}
		rootReader := srv.Principal(t, "root-reader", "Reader@/")
		writer := srv.Principal(t, "usage-writer", "Usage Writer@/subscriptions/"+subA)
		nobody := srv.Principal(t, "nobody")

		// The reads of subA's invoices, in every API.
		reads := []string{
			legacyInvoicesPath(subA, v2018, ""),
			"/subscriptions/" + subA + legacyBase + "invoices/latest?api-version=" + v2018,
			"/subscriptions/" + subA + legacyBase + "invoices/" + w.a[0].Name + "?api-version=" + v2017,
			accountBase + "default/billingSubscriptions/" + subA + "/invoices?api-version=" + v2024,
			accountBase + "default/billingSubscriptions/" + subA + "/invoices/" + w.a[0].Name + "?api-version=" + v2024,
			accountBase + "contoso/invoices/" + w.a[0].Name + "?api-version=" + v2024,
		}
		canRead := func(t *testing.T, who, token string, want bool) {
			t.Helper()
			for _, p := range reads {
				resp, body := send(t, srv, request{path: p, token: token})
				if want && resp.StatusCode != http.StatusOK {
					t.Errorf("%s: GET %s: %d %s", who, p, resp.StatusCode, clipBody(body))
				}
				if !want {
					wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
				}
			}
		}
		setAccess := func(t *testing.T, token string, enabled bool) (*http.Response, []byte) {
			t.Helper()
			return send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + subA + "/invoiceAccess", token: token,
				body: fmt.Sprintf(`{"enabled":%t}`, enabled)})
		}

		canRead(t, "operator", srv.AdminToken, true)
		canRead(t, "account admin", admin, true)
		for role, token := range roles {
			canRead(t, role+" before the opt-in", token, false)
		}
		canRead(t, "Reader at /, before the opt-in", rootReader, false)
		for who, token := range map[string]string{"fabrikam admin": fabrikam, "usage writer": writer, "nobody": nobody} {
			canRead(t, who, token, false)
		}

		// Only the account's admin (or an operator) may opt in.
		for _, token := range []string{roles[auth.RoleOwner], fabrikam, nobody} {
			resp, body := setAccess(t, token, true)
			wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
			resp, body = send(t, srv, request{path: "/admin/v1/subscriptions/" + subA + "/invoiceAccess", token: token})
			wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		}
		resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + unknownGUID + "/invoiceAccess", token: admin, body: `{"enabled":true}`})
		wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		resp, body = send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + unknownGUID + "/invoiceAccess", token: srv.AdminToken, body: `{"enabled":true}`})
		wantError(t, resp, body, http.StatusNotFound, "SubscriptionNotFound", "subscriptionId")
		for _, bad := range []string{`{}`, `{"enabled":"yes"}`, `{"enabled":true,"x":1}`, ``} {
			resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/subscriptions/" + subA + "/invoiceAccess", token: admin, body: bad})
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("body %q: %d %s", bad, resp.StatusCode, body)
			}
		}
		resp, body = setAccess(t, admin, true)
		if resp.StatusCode != http.StatusOK || string(body) != `{"subscriptionId":"`+subA+`","enabled":true}` {
			t.Fatalf("opt-in: %d %s", resp.StatusCode, body)
		}
		for role, token := range roles {
			canRead(t, role+" after the opt-in", token, true)
		}
		canRead(t, "Reader at /, after the opt-in", rootReader, true)
		for who, token := range map[string]string{"fabrikam admin": fabrikam, "usage writer": writer, "nobody": nobody} {
			canRead(t, who+" after the opt-in", token, false)
		}
		// The opt-in of subA opens nothing of subB.
		resp, body = send(t, srv, request{path: legacyInvoicesPath(subB, v2018, ""), token: srv.Principal(t, "b-reader", "Reader@/subscriptions/"+subB)})
		wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		resp, body = send(t, srv, request{path: legacyInvoicesPath(subB, v2018, ""), token: roles[auth.RoleReader]})
		wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		// A role of subA sees subA's invoices in the account list, and only those.
		list, _ := listPages[struct {
			Name       string          `json:"name"`
			ID         string          `json:"id"`
			Type       string          `json:"type"`
			Properties json.RawMessage `json:"properties"`
		}](t, srv, roles[auth.RoleBillingReader], accountBase+"contoso/invoices?api-version="+v2024)
		if len(list) != 5 {
			t.Errorf("billing reader's account list: %d invoices, want subA's 5", len(list))
		}
		// The operator may set it too; switching off closes the access again.
		resp, body = setAccess(t, srv.AdminToken, false)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("opt-out: %d %s", resp.StatusCode, body)
		}
		for role, token := range roles {
			canRead(t, role+" after the opt-out", token, false)
		}
		canRead(t, "account admin after the opt-out", admin, true)
		resp, body = send(t, srv, request{path: "/admin/v1/subscriptions/" + subA + "/invoiceAccess", token: admin})
		if resp.StatusCode != http.StatusOK || string(body) != `{"subscriptionId":"`+subA+`","enabled":false}` {
			t.Errorf("GET invoiceAccess: %d %s", resp.StatusCode, body)
		}

		// The audit trail holds both changes, by whom.
		events, err := srv.Auth.AuditLog(t.Context(), time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		var changes []string
		for _, e := range events {
			if e.Action == "invoiceAccess.put" {
				changes = append(changes, e.Actor+" "+e.Target+" "+e.Detail+fmt.Sprint(" ", e.Success))
			}
		}
		wantChanges := []string{"contoso-admin /subscriptions/" + subA + " enabled=true true", reckontest.OperatorID + " /subscriptions/" + subA + " enabled=false true"}
		if !slices.Equal(changes, wantChanges) {
			t.Errorf("audit %q, want %q", changes, wantChanges)
		}
	})
}

// TestClosePeriodEndpoint: the operator closes a period on demand and gets
// the invoice; closing again answers the same invoice; the open period,
// an unknown one and a bad force are refused; only operators may close.
func TestClosePeriodEndpoint(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock, svc := startInvoiceServer(t, b, httpapi.Config{})
		putSub(t, srv, subA, "contoso", "Enabled")
		importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
		// Created on 10 June: the period [1 June, 1 July) is open; none has ended.
		path := "/admin/v1/subscriptions/" + subA + "/billingPeriods/202407-1/close?force=true"
		resp, body := send(t, srv, request{method: http.MethodPost, path: path, token: srv.AdminToken})
		wantError(t, resp, body, http.StatusConflict, "PeriodNotEnded", "billingPeriodName")
		clock.Set(time.Date(2024, 7, 2, 0, 0, 0, 0, time.UTC))
		// Within the grace time, only force closes it.
		resp, body = send(t, srv, request{method: http.MethodPost, path: strings.TrimSuffix(path, "?force=true"), token: srv.AdminToken})
		wantError(t, resp, body, http.StatusConflict, "PeriodNotEnded", "billingPeriodName")
		for _, bad := range []string{"?force=yes", "?force="} {
			resp, body = send(t, srv, request{method: http.MethodPost, path: strings.TrimSuffix(path, "?force=true") + bad, token: srv.AdminToken})
			wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", "force")
		}
		reader := srv.Principal(t, "closer", "Owner@/subscriptions/"+subA, "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso")
		resp, body = send(t, srv, request{method: http.MethodPost, path: path, token: reader})
		wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
		inv := closePeriod(t, srv, subA, "202407-1", "?force=true")
		// No usage: the offer's Recurring Charge alone.
		stored, err := svc.Invoice(t.Context(), inv.Name)
		if err != nil || stored.PDFSHA256 != inv.PDFSHA256 || stored.Total.Cmp(inv.Total) != 0 || inv.Total.String() != "10" {
			t.Errorf("closed %+v; stored %+v, %v", inv, stored, err)
		}
		clock.Advance(time.Hour)
		again := closePeriod(t, srv, subA, "202407-1", "")
		if again.Name != inv.Name || !again.IssuedAt.Equal(inv.IssuedAt) {
			t.Errorf("closing again issued %s at %s, want %s at %s", again.Name, again.IssuedAt, inv.Name, inv.IssuedAt)
		}
		resp, body = send(t, srv, request{method: http.MethodPost, path: "/admin/v1/subscriptions/" + subA + "/billingPeriods/209901-1/close", token: srv.AdminToken})
		wantError(t, resp, body, http.StatusNotFound, "BillingPeriodNotFound", "billingPeriodName")
		resp, body = send(t, srv, request{method: http.MethodPost, path: "/admin/v1/subscriptions/x/billingPeriods/202407-1/close", token: srv.AdminToken})
		wantError(t, resp, body, http.StatusBadRequest, "InvalidSubscriptionId", "subscriptionId")
		events, err := srv.Auth.AuditLog(t.Context(), time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range events {
			if e.Action == "billingPeriod.close" && e.Actor == reckontest.OperatorID && strings.Contains(e.Detail, inv.Name) {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d audit events of the close, want 2", n)
		}
	})
}

// operationBody is an operation of Operations_List.
type operationBody struct {
	Name    string `json:"name"`
	Display struct {
		Provider    string `json:"provider"`
		Resource    string `json:"resource"`
		Operation   string `json:"operation"`
		Description string `json:"description"`
	} `json:"display"`
}

// TestBillingOperations: Operations_List of Microsoft.Billing in every
// api-version, for any authenticated caller.
func TestBillingOperations(t *testing.T) {
	srv, _, _ := startInvoiceServer(t, reckontest.SQLite, httpapi.Config{})
	caller := srv.Principal(t, "ops-caller") // no role at all
	for _, v := range []string{v2017Feb, v2017, v2018, v2020, v2024} {
		ops, _ := getAs[listBody[operationBody]](t, srv, caller, "/providers/Microsoft.Billing/operations?api-version="+v)
		got := names(ops.Value, func(o operationBody) string { return o.Name })
		for _, want := range []string{"Microsoft.Billing/invoices/read", "Microsoft.Billing/billingPeriods/read", "Microsoft.Billing/billingAccounts/invoices/download/action"} {
			if !slices.Contains(got, want) {
				t.Errorf("%s: operations %v lack %s", v, got, want)
			}
		}
		if ops.NextLink != "" || ops.Value[0].Display.Provider != "Microsoft Billing" || ops.Value[0].Display.Operation == "" {
			t.Errorf("%s: %+v", v, ops)
		}
	}
	resp, body := get(t, srv, "/providers/Microsoft.Billing/operations?api-version=2015-06-01-preview")
	wantError(t, resp, body, http.StatusBadRequest, "InvalidApiVersionParameter", "api-version")
	resp, body = send(t, srv, request{path: "/providers/Microsoft.Billing/operations?api-version=" + v2018})
	wantError(t, resp, body, http.StatusUnauthorized, "AuthenticationFailed", "")
}

// sha256Hex is the hex sha256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// BenchmarkListInvoices measures the invoice lists over HTTP (one
// subscription with three years of monthly invoices, all 36 on one page,
// with download links; and by billing account) and, as the baseline, the
// service call they make. It reports the median as p50-ns/op besides the
// mean.
//
//	go test ./internal/httpapi -run '^$' -bench ListInvoices -benchtime 2000x
func BenchmarkListInvoices(b *testing.B) {
	srv, clock, svc := startInvoiceServer(b, reckontest.SQLite, httpapi.Config{InvoicePageSize: 100})
	do := func(method, path, body string) []byte {
		resp, data := srv.Do(b, method, path, srv.AdminToken, body)
		if resp.StatusCode/100 != 2 {
			b.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
		return data
	}
	do(http.MethodPut, "/admin/v1/subscriptions/"+subA, `{"displayName":"Bench","billingAccount":"contoso"}`)
	do(http.MethodPost, "/admin/v1/catalog/import?format=ratecard&offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
	first := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
	var recs []string
	for m := range 36 {
		day := first.AddDate(0, m, 3)
		recs = append(recs, fmt.Sprintf(`{"id":"bench-%d","subscriptionId":%q,"meterId":%q,"quantity":%d,"usageStartTime":%q,"usageEndTime":%q,"reportedTime":%q}`,
			m, subA, rcMeterTiered, 20+m, day.Format(time.RFC3339), day.Add(time.Hour).Format(time.RFC3339), day.Add(2*time.Hour).Format(time.RFC3339)))
	}
	do(http.MethodPost, "/metering/v1/usage", "["+strings.Join(recs, ",")+"]")
	periods, err := svc.Periods(context.Background(), subA)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, p := range periods {
		if p.End.Before(clock.Now()) && !p.Start.Before(first) {
			if _, err := svc.Close(context.Background(), subA, p.Name, false); err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	if n < 36 {
		b.Fatalf("closed %d periods", n)
	}
	run := func(b *testing.B, f func()) {
		durs := make([]time.Duration, 0, b.N)
		for b.Loop() {
			start := time.Now()
			f()
			durs = append(durs, time.Since(start))
		}
		slices.Sort(durs)
		b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns/op")
	}
	b.Run("Service", func(b *testing.B) {
		run(b, func() {
			if invs, err := svc.Invoices(context.Background(), subA); err != nil || len(invs) != n {
				b.Fatalf("%d invoices: %v", len(invs), err)
			}
		})
	})
	for _, c := range []struct{ name, path string }{
		{"Subscription", legacyInvoicesPath(subA, v2018, "&$expand=downloadUrl")},
		{"BillingAccount", accountBase + "contoso/invoices?api-version=" + v2024},
	} {
		b.Run(c.name, func(b *testing.B) {
			run(b, func() {
				if body := do(http.MethodGet, c.path, ""); bytes.Contains(body, []byte("nextLink")) {
					b.Fatal("more than one page")
				}
			})
		})
	}
}
