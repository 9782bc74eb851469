// Package invoicefixture is the world the invoice compatibility tests
// build in Reckon, and what every Azure client must read back: a
// subscription with six monthly invoices of known amounts, a second
// subscription of the same billing account, and a third of another.
//
// It is an ordinary (non-test) package so that the tests of the main module
// (compat/) and those of the separate track-1 module (compat/track1/) share
// one fixture, like package ratecardfixture.
package invoicefixture

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// The fixture's subscriptions and billing accounts.
const (
	// Subscription (of Account) has an invoice for every period from
	// 202403-1 to 202408-1.
	Subscription = "8d2f6a1c-3b5e-4c7d-9e0f-1a2b3c4d5e6f"
	// Sibling (of Account) has one invoice, for 202408-1.
	Sibling = "9e3a7b2d-4c6f-4d8e-8f1a-2b3c4d5e6f70"
	// Stranger is of OtherAccount; its invoice is nobody else's business.
	Stranger = "1f4b8c3e-5d7a-4e9f-9a2b-3c4d5e6f7081"
	Account  = "contoso"
	// OtherAccount is Stranger's billing account.
	OtherAccount = "fabrikam"
	// Meter is the one meter, priced 0.5 USD a unit.
	Meter = "2a5c9d4f-6e8b-4fa0-8b3c-4d5e6f708192"
	// PageSize is the server's page size, small so that lists page.
	PageSize = 2
)

// Now is the server's clock: every period up to August 2024 has ended,
// with its grace time.
var Now = time.Date(2024, 8, 10, 12, 0, 0, 0, time.UTC)

// Periods are Subscription's closed periods, oldest first; Quantities the
// units used in each, and Totals the exact amounts invoiced (0.5 USD a
// unit: every total is exact in float32).
var (
	Periods    = []string{"202403-1", "202404-1", "202405-1", "202406-1", "202407-1", "202408-1"}
	Quantities = []int{3, 7, 11, 13, 17, 19}
	Totals     = []string{"1.50", "3.50", "5.50", "6.50", "8.50", "9.50"}
)

// World is a running server with the fixture's invoices.
type World struct {
	// Server serves HTTPS (Server.Client trusts it) with the invoice APIs.
	*reckontest.Server
	Clock     *reckontest.Clock
	Invoicing *invoicing.Service
	// Invoices are Subscription's invoices in the order of Periods.
	Invoices []invoicing.Invoice
	// SiblingInvoice and StrangerInvoice are the others' invoices.
	SiblingInvoice, StrangerInvoice invoicing.Invoice
}

func do(t testing.TB, srv *reckontest.Server, method, path, body string) []byte {
	t.Helper()
	resp, data := srv.Do(t, method, path, srv.AdminToken, body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	return data
}

// Options adjust StartWith.
type Options struct {
	// Wrap, if not nil, wraps the server's handler (for instance to record
	// the requests a client makes).
	Wrap func(http.Handler) http.Handler
}

// Start builds the world on backend b. Invoices are rendered by the real
// renderer (package invoicepdf); the server pages lists by PageSize.
func Start(t testing.TB, b reckontest.Backend) *World {
	t.Helper()
	return StartWith(t, b, Options{})
}

// StartWith is Start with options.
func StartWith(t testing.TB, b reckontest.Backend, o Options) *World {
	t.Helper()
	clock := reckontest.NewClock(Now)
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
	svc := invoicing.NewService(base.DB, base.Accounts, base.Charges, invoicepdf.New(invoicepdf.Options{}), clock.Now, invoicing.Config{SettleMargin: time.Second})
	api := httpapi.New(httpapi.Config{InvoicePageSize: PageSize}, httpapi.Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Accounts: base.Accounts, Catalog: base.Catalog, Usage: base.Usage, Charges: base.Charges, Auth: base.Auth, TokenKey: tokenKey,
		Registry: prometheus.NewRegistry(), Ready: base.DB.Ping, Now: clock.Now, Invoicing: svc, DownloadKey: downloadKey})
	srv := *base
	srv.API = api
	var h http.Handler = api
	if o.Wrap != nil {
		h = o.Wrap(api)
	}
	srv.Server = httptest.NewTLSServer(h)
	t.Cleanup(srv.Server.Close)
	w := &World{Server: &srv, Clock: clock, Invoicing: svc}

	for _, s := range []struct{ id, acct string }{{Subscription, Account}, {Sibling, Account}, {Stranger, OtherAccount}} {
		do(t, &srv, http.MethodPut, "/admin/v1/subscriptions/"+s.id, `{"displayName":"Invoice compat `+s.id[:4]+`","billingAccount":"`+s.acct+`"}`)
	}
	q := url.Values{"format": {"ratecard"}, "offerDurableId": {"MS-AZR-0003P"}, "currency": {"USD"}, "locale": {"en-US"}, "regionInfo": {"US"}}
	do(t, &srv, http.MethodPost, "/admin/v1/catalog/import?"+q.Encode(), `{"OfferTerms":[],"Meters":[{"MeterId":"`+Meter+
		`","MeterName":"Compute Hours","MeterCategory":"Virtual Machines","MeterSubCategory":"D2 v3","MeterRegion":"US East","Unit":"1 Hour",`+
		`"MeterRates":{"0":0.5},"MeterTags":[],"IncludedQuantity":0,"EffectiveDate":"2020-01-01T00:00:00Z"}],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`)
	var recs []string
	rec := func(id, sub string, qty int, day time.Time) {
		recs = append(recs, fmt.Sprintf(`{"id":%q,"subscriptionId":%q,"meterId":%q,"quantity":%d,"usageStartTime":%q,"usageEndTime":%q,"reportedTime":%q}`,
			id, sub, Meter, qty, day.Format(time.RFC3339), day.Add(time.Hour).Format(time.RFC3339), day.Add(2*time.Hour).Format(time.RFC3339)))
	}
	for i, qty := range Quantities {
		rec(fmt.Sprintf("inv-%d", i), Subscription, qty, time.Date(2024, time.Month(2+i), 10, 0, 0, 0, 0, time.UTC))
	}
	rec("sibling", Sibling, 1, time.Date(2024, 7, 11, 0, 0, 0, 0, time.UTC))
	rec("stranger", Stranger, 1, time.Date(2024, 7, 12, 0, 0, 0, 0, time.UTC))
	do(t, &srv, http.MethodPost, "/metering/v1/usage", "["+strings.Join(recs, ",")+"]")

	for i, p := range Periods {
		inv, err := svc.Close(ctx, Subscription, p, false)
		if err != nil {
			t.Fatalf("close %s: %v", p, err)
		}
		if inv.Total.String() != strings.TrimRight(strings.TrimRight(Totals[i], "0"), ".") {
			t.Fatalf("invoice of %s: total %s, want %s", p, inv.Total, Totals[i])
		}
		w.Invoices = append(w.Invoices, *inv)
		clock.Advance(time.Minute)
	}
	for _, s := range []struct {
		sub string
		dst *invoicing.Invoice
	}{{Sibling, &w.SiblingInvoice}, {Stranger, &w.StrangerInvoice}} {
		inv, err := svc.Close(ctx, s.sub, "202408-1", false)
		if err != nil {
			t.Fatalf("close %s: %v", s.sub, err)
		}
		*s.dst = *inv
		clock.Advance(time.Minute)
	}
	return w
}

// Latest returns Subscription's invoices newest first.
func (w *World) Latest() []invoicing.Invoice {
	out := make([]invoicing.Invoice, len(w.Invoices))
	for i, inv := range w.Invoices {
		out[len(out)-1-i] = inv
	}
	return out
}

// AccountInvoices returns Account's invoices newest first: by period end,
// then issue time (the sibling's 202408-1 was issued after Subscription's).
func (w *World) AccountInvoices() []invoicing.Invoice {
	l := w.Latest()
	return append([]invoicing.Invoice{w.SiblingInvoice}, l...)
}
