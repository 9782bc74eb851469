package compat_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ifx "github.com/reckon-billing/reckon/compat/invoicefixture"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The principals of TestAzureCLIBilling: the Account Admin of the invoice
// fixture's billing account, and a Reader of its subscription, whose
// invoices the admin has not opened to the subscription's roles.
const (
	billingAdminID       = "7c2e9a41-0b3d-4f6e-8a1c-2d3e4f5a6b7c"
	billingAdminSecret   = "billing-admin-secret-Hk3~pQ9_mW2.zR5"
	billingReaderID      = "3a8f1c6e-2d4b-4e7a-9c0f-5b6a7d8e9f01"
	billingReaderSecret  = "billing-reader-secret-Tn6~xJ4_vB8.cL1"
	azBillingPeriodStart = "2024-01-01"
	azBillingPeriodEnd   = "2024-12-31"
)

// requestLog records the requests a server answers, with their status.
type requestLog struct {
	mu   sync.Mutex
	reqs []loggedRequest
}

// loggedRequest is a request as the server saw it.
type loggedRequest struct {
	Method string
	URL    *url.URL
	Status int
}

func (r loggedRequest) String() string {
	return r.Method + " " + r.URL.RequestURI() + " → " + http.StatusText(r.Status)
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (l *requestLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		u := *r.URL
		l.mu.Lock()
		l.reqs = append(l.reqs, loggedRequest{Method: r.Method, URL: &u, Status: sw.status})
		l.mu.Unlock()
	})
}

// take returns the requests logged since the last call.
func (l *requestLog) take() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reqs
	l.reqs = nil
	return r
}

// checkRequests checks that one az command made pages GET requests to path
// with api-version version and answered them all with status: the first
// without a $skiptoken, each further one with the $skiptoken of the
// previous page's nextLink (which the server alone makes).
func checkRequests(t *testing.T, what string, reqs []loggedRequest, path, version string, pages, status int) {
	t.Helper()
	bad := len(reqs) != pages
	for i, r := range reqs {
		q := r.URL.Query()
		if r.Method != http.MethodGet || r.URL.Path != path || q.Get("api-version") != version || r.Status != status ||
			(i == 0) != (q.Get("$skiptoken") == "") {
			bad = true
		}
		if q.Get("periodStartDate") != "" && (q.Get("periodStartDate") != azBillingPeriodStart || q.Get("periodEndDate") != azBillingPeriodEnd) {
			bad = true
		}
	}
	if bad {
		var lines []string
		for _, r := range reqs {
			lines = append(lines, r.String())
		}
		t.Errorf("%s: requests\n  %s\nwant %d GET %s?api-version=%s (then with the nextLink's $skiptoken), answered %d",
			what, strings.Join(lines, "\n  "), pages, path, version, status)
	}
}

// azPeriod is a billing period as "az billing period list" prints it.
type azPeriod struct {
	ID                     string    `json:"id"`
	Name                   string    `json:"name"`
	Type                   string    `json:"type"`
	BillingPeriodStartDate string    `json:"billingPeriodStartDate"`
	BillingPeriodEndDate   string    `json:"billingPeriodEndDate"`
	InvoiceIDs             *[]string `json:"invoiceIds"`
}

// azAmount is an Amount as az prints it (a float, in JSON).
type azAmount struct {
	Currency string      `json:"currency"`
	Value    json.Number `json:"value"`
}

// azInvoice is an invoice (API 2020-05-01) as "az billing invoice list"
// and "show" print it: the properties flattened into the resource.
type azInvoice struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	Type                   string   `json:"type"`
	AmountDue              azAmount `json:"amountDue"`
	BilledAmount           azAmount `json:"billedAmount"`
	SubTotal               azAmount `json:"subTotal"`
	TaxAmount              azAmount `json:"taxAmount"`
	TotalAmount            azAmount `json:"totalAmount"`
	InvoicePeriodStartDate string   `json:"invoicePeriodStartDate"`
	InvoicePeriodEndDate   string   `json:"invoicePeriodEndDate"`
	InvoiceDate            string   `json:"invoiceDate"`
	DueDate                string   `json:"dueDate"`
	Status                 string   `json:"status"`
	DocumentType           string   `json:"documentType"`
	InvoiceType            string   `json:"invoiceType"`
	SubscriptionID         string   `json:"subscriptionId"`
	BillingProfileID       string   `json:"billingProfileId"`
	Documents              []struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"documents"`
}

// decodeAz decodes what az printed, numbers as json.Number.
func decodeAz(t *testing.T, what, out string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, out)
	}
}

// wantPeriod is a billing period the subscription must list.
type wantPeriod struct {
	name, start, end string
	invoice          string // the invoice issued for it, or ""
}

// fixturePeriods are the invoice fixture subscription's billing periods,
// newest first: the open one of August 2024 (the fixture's clock is 10
// August), then the closed ones with their invoices. A period is named
// after the month that follows it (202403-1 is February 2024).
func fixturePeriods(w *ifx.World) []wantPeriod {
	ps := []wantPeriod{{name: "202409-1", start: "2024-08-01", end: "2024-09-01"}}
	for i := len(ifx.Periods) - 1; i >= 0; i-- {
		start := time.Date(2024, time.Month(2+i), 1, 0, 0, 0, 0, time.UTC)
		ps = append(ps, wantPeriod{name: ifx.Periods[i], start: start.Format(time.DateOnly), end: start.AddDate(0, 1, 0).Format(time.DateOnly),
			invoice: w.Invoices[i].Name})
	}
	return ps
}

// checkAzPeriods compares the periods az listed with the fixture's; the
// invoice ids are shown only to a caller who may see the invoices.
func checkAzPeriods(t *testing.T, what, out string, want []wantPeriod, seesInvoices bool) {
	t.Helper()
	var got []azPeriod
	decodeAz(t, what, out, &got)
	if len(got) != len(want) {
		t.Fatalf("%s: %d periods, want %d:\n%s", what, len(got), len(want), out)
	}
	prefix := "/subscriptions/" + ifx.Subscription + "/providers/Microsoft.Billing/"
	for i, p := range got {
		wp := want[i]
		if p.Name != wp.name || p.ID != prefix+"billingPeriods/"+wp.name || p.Type != "Microsoft.Billing/billingPeriods" ||
			p.BillingPeriodStartDate != wp.start || p.BillingPeriodEndDate != wp.end {
			t.Errorf("%s: period %d is %+v, want %s from %s to %s", what, i, p, wp.name, wp.start, wp.end)
		}
		switch {
		case !seesInvoices:
			if p.InvoiceIDs != nil {
				t.Errorf("%s: period %s shows invoice ids %v to a caller who may not see the invoices", what, p.Name, *p.InvoiceIDs)
			}
		case wp.invoice == "":
			if p.InvoiceIDs == nil || len(*p.InvoiceIDs) != 0 {
				t.Errorf("%s: period %s: invoice ids %v, want none (the period is open)", what, p.Name, p.InvoiceIDs)
			}
		default:
			if p.InvoiceIDs == nil || !slices.Equal(*p.InvoiceIDs, []string{prefix + "invoices/" + wp.invoice}) {
				t.Errorf("%s: period %s: invoice ids %v, want [%s]", what, p.Name, p.InvoiceIDs, prefix+"invoices/"+wp.invoice)
			}
		}
	}
}

// checkAzInvoice compares an invoice az printed with the issued one, whose
// total is total (a decimal), listed under idPrefix.
func checkAzInvoice(t *testing.T, what string, got azInvoice, want invoicing.Invoice, total, idPrefix, typ string) {
	t.Helper()
	wantTotal, err := money.ParseQuantity(total)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != want.Name || got.ID != idPrefix+want.Name || got.Type != typ {
		t.Errorf("%s: invoice %s: name %q id %q type %q, want id %s%s type %s", what, want.Name, got.Name, got.ID, got.Type, idPrefix, want.Name, typ)
	}
	for name, a := range map[string]azAmount{"amountDue": got.AmountDue, "billedAmount": got.BilledAmount, "subTotal": got.SubTotal,
		"totalAmount": got.TotalAmount, "taxAmount": got.TaxAmount} {
		w := wantTotal
		if name == "taxAmount" {
			w = 0
		}
		q, err := money.ParseQuantity(a.Value.String())
		if a.Currency != "USD" || err != nil || q != w {
			t.Errorf("%s: invoice %s: %s %s %s, want %s USD", what, want.Name, name, a.Value, a.Currency, w)
		}
	}
	for name, d := range map[string]struct {
		got  string
		want time.Time
	}{"invoicePeriodStartDate": {got.InvoicePeriodStartDate, want.PeriodStart}, "invoicePeriodEndDate": {got.InvoicePeriodEndDate, want.PeriodEnd},
		"invoiceDate": {got.InvoiceDate, want.InvoiceDate}, "dueDate": {got.DueDate, want.DueDate}} {
		if g, err := time.Parse(time.RFC3339, d.got); err != nil || !g.Equal(d.want) {
			t.Errorf("%s: invoice %s: %s %q, want %s", what, want.Name, name, d.got, d.want.Format(time.RFC3339))
		}
	}
	if got.Status != "Due" || got.DocumentType != "Invoice" || got.InvoiceType != "AzureServices" || got.SubscriptionID != want.SubscriptionID ||
		got.BillingProfileID != "/providers/Microsoft.Billing/billingAccounts/"+ifx.Account+"/billingProfiles/default" ||
		len(got.Documents) != 1 || got.Documents[0].Kind != "Invoice" || got.Documents[0].Name != want.Name ||
		!strings.HasSuffix(got.Documents[0].URL, got.ID+"/download") {
		t.Errorf("%s: invoice %s: %+v; want status Due, an Invoice of AzureServices of subscription %s, one document",
			what, want.Name, got, want.SubscriptionID)
	}
}

// checkAzInvoices compares the invoices az listed with want, newest first.
func checkAzInvoices(t *testing.T, what, out string, want []invoicing.Invoice, totals map[string]string, idPrefix, typ string) {
	t.Helper()
	var got []azInvoice
	decodeAz(t, what, out, &got)
	var names, wantNames []string
	for _, inv := range got {
		names = append(names, inv.Name)
	}
	for _, inv := range want {
		wantNames = append(wantNames, inv.Name)
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("%s: invoices %v, want %v", what, names, wantNames)
	}
	for i := range got {
		checkAzInvoice(t, what, got[i], want[i], totals[want[i].Name], idPrefix, typ)
	}
}

// refused checks that an az command failed with the server's error code,
// naming scope if it is not "", and printed nothing of the invoices.
func refused(t *testing.T, what, out, errOut string, status int, code, scope string, w *ifx.World) {
	t.Helper()
	if status == 0 || !strings.Contains(errOut, "("+code+")") || !strings.Contains(errOut, scope) {
		t.Errorf("%s: exit status %d, want non-zero and (%s) naming %q:\n%s%s", what, status, code, scope, out, errOut)
	}
	if strings.TrimSpace(out) != "" || strings.Contains(errOut, "amountDue") {
		t.Errorf("%s: printed invoices:\n%s%s", what, out, errOut)
	}
	for _, inv := range append(w.AccountInvoices(), w.StrangerInvoice) {
		if code != "InvoiceNotFound" && strings.Contains(out+errOut, inv.Name) {
			t.Errorf("%s: names invoice %s:\n%s%s", what, inv.Name, out, errOut)
		}
	}
}

// TestAzureCLIBilling drives Debian's azure-cli (az) billing commands
// against Reckon's invoice fixture over HTTPS, signed in (az login
// --service-principal through Reckon's token endpoint) as the Account
// Admin of the fixture's billing account, then as a Reader of its
// subscription without the admin's opt-in:
//   - "az billing period list" (API 2018-03-01-preview, following
//     nextLink): every period of the subscription with its dates, the
//     invoice ids to the admin only;
//   - "az billing invoice list" (API 2020-05-01, following nextLink), by
//     billing subscription (no --account-name) and by billing account: the
//     fixture's invoices, newest first, with their exact totals;
//   - "az billing invoice show --name" (billingAccounts/default): the
//     invoice;
//   - the reader: both lists refused (403 AuthorizationFailed), the invoice
//     not found (404 InvoiceNotFound, as if it did not exist), the periods
//     readable.
func TestAzureCLIBilling(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		var reqs requestLog
		w := ifx.StartWith(t, b, ifx.Options{Wrap: reqs.wrap})
		az := newAzCLI(t, w.Server)
		az.secrets = append(az.secrets, billingAdminSecret, billingReaderSecret)
		defer func() {
			t.Logf("az timings (%s):\n  %s", b, strings.Join(az.timings, "\n  "))
		}()
		w.Principal(t, billingAdminID, "Account Admin@/providers/Microsoft.Billing/billingAccounts/"+ifx.Account)
		w.Principal(t, billingReaderID, "Reader@/subscriptions/"+ifx.Subscription)
		for id, secret := range map[string]string{billingAdminID: billingAdminSecret, billingReaderID: billingReaderSecret} {
			if _, _, err := w.Auth.PutPrincipal(t.Context(), reckontest.OperatorID, id, auth.PrincipalInput{DisplayName: id, Secret: secret}); err != nil {
				t.Fatalf("give %s a secret: %v", id, err)
			}
		}
		// The subscription's roles may not see its invoices.
		if on, err := w.Invoicing.InvoiceAccess(t.Context(), ifx.Subscription); err != nil || on {
			t.Fatalf("invoice access of the subscription's roles: %v, %v; want off", on, err)
		}
		tenant := w.Auth.TenantID()
		totals := map[string]string{w.SiblingInvoice.Name: "0.50"}
		for i, inv := range w.Invoices {
			totals[inv.Name] = ifx.Totals[i]
		}
		periods := fixturePeriods(w)
		pages := func(n int) int { return (n + ifx.PageSize - 1) / ifx.PageSize }
		const (
			periodsVersion  = "2018-03-01-preview"
			invoicesVersion = "2020-05-01"
		)
		periodsPath := "/subscriptions/" + ifx.Subscription + "/providers/Microsoft.Billing/billingPeriods"
		subInvoicesPath := "/providers/Microsoft.Billing/billingAccounts/default/billingSubscriptions/" + ifx.Subscription + "/invoices"
		acctInvoicesPath := "/providers/Microsoft.Billing/billingAccounts/" + ifx.Account + "/invoices"
		subInvoiceType := "Microsoft.Billing/billingAccounts/billingSubscriptions/invoices"
		acctInvoiceType := "Microsoft.Billing/billingAccounts/invoices"
		listBySub := []string{"billing", "invoice", "list", "--period-start-date", azBillingPeriodStart, "--period-end-date", azBillingPeriodEnd,
			"--subscription", ifx.Subscription}
		listByAcct := []string{"billing", "invoice", "list", "--period-start-date", azBillingPeriodStart, "--period-end-date", azBillingPeriodEnd,
			"--account-name", ifx.Account}
		shown := w.Invoices[2]

		az.ok(t, "cloud", "register", "-n", "ReckonTest", "--endpoint-resource-manager", w.URL)
		az.ok(t, "cloud", "set", "-n", "ReckonTest")

		// The Account Admin: az lists both subscriptions of its account.
		out := az.ok(t, "login", "--service-principal", "-u", billingAdminID, "-p", billingAdminSecret, "--tenant", tenant)
		var accounts []azAccount
		decodeAz(t, "az login as the admin", out, &accounts)
		var subs []string
		for _, a := range accounts {
			subs = append(subs, a.ID)
		}
		slices.Sort(subs)
		if want := []string{ifx.Subscription, ifx.Sibling}; !slices.Equal(subs, want) {
			t.Errorf("az login as the admin: subscriptions %v, want %v (those of billing account %s)", subs, want, ifx.Account)
		}
		reqs.take()

		out = az.ok(t, "billing", "period", "list", "--subscription", ifx.Subscription)
		checkAzPeriods(t, "az billing period list (admin)", out, periods, true)
		checkRequests(t, "az billing period list (admin)", reqs.take(), periodsPath, periodsVersion, pages(len(periods)), http.StatusOK)

		out = az.ok(t, listBySub...)
		checkAzInvoices(t, "az billing invoice list (admin, by subscription)", out, w.Latest(), totals,
			"/providers/Microsoft.Billing/billingAccounts/"+ifx.Account+"/billingSubscriptions/"+ifx.Subscription+"/invoices/", subInvoiceType)
		checkRequests(t, "az billing invoice list (admin, by subscription)", reqs.take(), subInvoicesPath, invoicesVersion, pages(len(w.Invoices)), http.StatusOK)

		out = az.ok(t, listByAcct...)
		checkAzInvoices(t, "az billing invoice list --account-name (admin)", out, w.AccountInvoices(), totals, acctInvoicesPath+"/", acctInvoiceType)
		checkRequests(t, "az billing invoice list --account-name (admin)", reqs.take(), acctInvoicesPath, invoicesVersion, pages(len(w.AccountInvoices())), http.StatusOK)

		out = az.ok(t, "billing", "invoice", "show", "--name", shown.Name)
		var inv azInvoice
		decodeAz(t, "az billing invoice show (admin)", out, &inv)
		checkAzInvoice(t, "az billing invoice show (admin)", inv, shown, totals[shown.Name], acctInvoicesPath+"/", acctInvoiceType)
		checkRequests(t, "az billing invoice show (admin)", reqs.take(), "/providers/Microsoft.Billing/billingAccounts/default/invoices/"+shown.Name,
			invoicesVersion, 1, http.StatusOK)

		// The Reader of the subscription, without the opt-in. Its login
		// replaces the admin's for the subscription.
		out = az.ok(t, "login", "--service-principal", "-u", billingReaderID, "-p", billingReaderSecret, "--tenant", tenant)
		accounts = nil
		decodeAz(t, "az login as the reader", out, &accounts)
		if len(accounts) != 1 || accounts[0].ID != ifx.Subscription || accounts[0].User.Name != billingReaderID {
			t.Errorf("az login as the reader: %+v, want subscription %s only", accounts, ifx.Subscription)
		}
		reqs.take()

		out = az.ok(t, "billing", "period", "list", "--subscription", ifx.Subscription)
		checkAzPeriods(t, "az billing period list (reader)", out, periods, false)
		checkRequests(t, "az billing period list (reader)", reqs.take(), periodsPath, periodsVersion, pages(len(periods)), http.StatusOK)

		out, errOut, status := az.run(t, listBySub...)
		refused(t, "az billing invoice list (reader, by subscription)", out, errOut, status, "AuthorizationFailed",
			"over scope '/subscriptions/"+ifx.Subscription+"'", w)
		checkRequests(t, "az billing invoice list (reader, by subscription)", reqs.take(), subInvoicesPath, invoicesVersion, 1, http.StatusForbidden)

		out, errOut, status = az.run(t, listByAcct...)
		refused(t, "az billing invoice list --account-name (reader)", out, errOut, status, "AuthorizationFailed",
			"over scope '/providers/Microsoft.Billing/billingAccounts/"+ifx.Account+"'", w)
		checkRequests(t, "az billing invoice list --account-name (reader)", reqs.take(), acctInvoicesPath, invoicesVersion, 1, http.StatusForbidden)

		// By name, an invoice the caller may not see does not exist.
		out, errOut, status = az.run(t, "billing", "invoice", "show", "--name", shown.Name)
		refused(t, "az billing invoice show (reader)", out, errOut, status, "InvoiceNotFound", "Invoice '"+shown.Name+"' was not found.", w)
		if status != 3 {
			t.Errorf("az billing invoice show (reader): exit status %d, want 3 (az's resource-not-found)", status)
		}
		checkRequests(t, "az billing invoice show (reader)", reqs.take(), "/providers/Microsoft.Billing/billingAccounts/default/invoices/"+shown.Name,
			invoicesVersion, 1, http.StatusNotFound)
	})
}
