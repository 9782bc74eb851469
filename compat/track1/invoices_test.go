package track1_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/services/preview/billing/mgmt/2018-03-01-preview/billing"

	ifx "github.com/reckon-billing/reckon/compat/invoicefixture"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

const billingBase = "/providers/Microsoft.Billing/"

// checkTrack1Invoice compares an invoice as the track-1 client decoded it
// (dates as go-autorest date.Date, YYYY-MM-DD only) with the issued one.
func checkTrack1Invoice(t *testing.T, w *ifx.World, got billing.Invoice, want invoicing.Invoice, withURL bool) {
	t.Helper()
	if deref(got.Name) != want.Name || deref(got.ID) != "/subscriptions/"+ifx.Subscription+billingBase+"invoices/"+want.Name ||
		deref(got.Type) != "Microsoft.Billing/invoices" || got.InvoiceProperties == nil {
		t.Fatalf("invoice %s: %+v", want.Name, got)
	}
	p := got.InvoiceProperties
	if p.InvoicePeriodStartDate == nil || !p.InvoicePeriodStartDate.Time.Equal(want.PeriodStart) ||
		p.InvoicePeriodEndDate == nil || !p.InvoicePeriodEndDate.Time.Equal(want.PeriodEnd) {
		t.Errorf("invoice %s: period %v..%v, want %s..%s", want.Name, p.InvoicePeriodStartDate, p.InvoicePeriodEndDate, want.PeriodStart, want.PeriodEnd)
	}
	if p.BillingPeriodIds == nil || !slices.Equal(*p.BillingPeriodIds, []string{"/subscriptions/" + ifx.Subscription + billingBase + "billingPeriods/" + want.PeriodName}) {
		t.Errorf("invoice %s: billingPeriodIds %v", want.Name, p.BillingPeriodIds)
	}
	if (p.DownloadURL != nil) != withURL {
		t.Fatalf("invoice %s: downloadUrl %+v, want one: %t", want.Name, p.DownloadURL, withURL)
	}
	if !withURL {
		return
	}
	if p.DownloadURL.ExpiryTime == nil || !p.DownloadURL.ExpiryTime.Time.Equal(w.Clock.Now().Add(time.Hour).Truncate(time.Second)) || p.DownloadURL.URL == nil {
		t.Fatalf("invoice %s: downloadUrl %+v", want.Name, p.DownloadURL)
	}
	resp, err := w.Client().Get(*p.DownloadURL.URL) // no token
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || hex.EncodeToString(sum[:]) != want.PDFSHA256 {
		t.Errorf("invoice %s: GET downloadUrl: %d %s, sha256 %x, want %s", want.Name, resp.StatusCode, resp.Header.Get("Content-Type"), sum, want.PDFSHA256)
	}
}

// TestInvoicesTrack1 drives the subscription-level Billing API
// (2018-03-01-preview) through the track-1 billing.InvoicesClient and
// PeriodsClient: ListComplete with $expand, $filter and $top over several
// pages, Get, GetLatest, the periods list (filtered, paged) and get, and
// an error.
func TestInvoicesTrack1(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := ifx.Start(t, b)
		rec := &recordingSender{next: w.Client()}
		c := billing.NewInvoicesClientWithBaseURI(w.URL, ifx.Subscription)
		setClient(&c.Client, rec, w.AdminToken)
		latest := w.Latest()

		// Everything, newest first, over three pages of two.
		it, err := c.ListComplete(t.Context(), "", "", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []billing.Invoice
		for it.NotDone() {
			got = append(got, it.Value())
			if err := it.NextWithContext(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != len(latest) || len(rec.queries) != 3 {
			t.Fatalf("%d invoices in %d requests, want %d in 3", len(got), len(rec.queries), len(latest))
		}
		for i := range got {
			checkTrack1Invoice(t, w, got[i], latest[i], false)
		}

		// $expand, $filter and $top: the most recent 3 of the four periods
		// ending from April to July, with download links.
		rec.queries = nil
		top := int32(3)
		it, err = c.ListComplete(t.Context(), "downloadUrl", "invoicePeriodEndDate ge 2024-04-01 and invoicePeriodEndDate le 2024-07-01", "", &top)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for it.NotDone() {
			got = append(got, it.Value())
			if err := it.NextWithContext(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		want := []invoicing.Invoice{w.Invoices[4], w.Invoices[3], w.Invoices[2]}
		if len(got) != len(want) || len(rec.queries) != 2 {
			t.Fatalf("filtered: %d invoices in %d requests", len(got), len(rec.queries))
		}
		for i := range got {
			checkTrack1Invoice(t, w, got[i], want[i], true)
		}
		if q := rec.queries[0]; q.Get("$expand") != "downloadUrl" || q.Get("$top") != "3" || !strings.HasPrefix(q.Get("$filter"), "invoicePeriodEndDate ge") {
			t.Errorf("first request %v", q)
		}
		if q := rec.queries[1]; q.Get("$skiptoken") == "" || q.Get("$filter") != rec.queries[0].Get("$filter") {
			t.Errorf("second request %v", q)
		}

		inv, err := c.Get(t.Context(), w.Invoices[1].Name)
		if err != nil {
			t.Fatal(err)
		}
		checkTrack1Invoice(t, w, inv, w.Invoices[1], true)
		inv, err = c.GetLatest(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		checkTrack1Invoice(t, w, inv, latest[0], true)
		_, err = c.Get(t.Context(), w.StrangerInvoice.Name)
		checkDetailedError(t, "another subscription's invoice", err, http.StatusNotFound, "InvoiceNotFound")

		// Billing periods: 202403-1 to the open 202409-1, newest first.
		pc := billing.NewPeriodsClientWithBaseURI(w.URL, ifx.Subscription)
		setClient(&pc.Client, rec, w.AdminToken)
		pit, err := pc.ListComplete(t.Context(), "", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var periods []billing.Period
		for pit.NotDone() {
			periods = append(periods, pit.Value())
			if err := pit.NextWithContext(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		wantPeriods := []string{"202409-1", "202408-1", "202407-1", "202406-1", "202405-1", "202404-1", "202403-1"}
		var gotPeriods []string
		for _, p := range periods {
			gotPeriods = append(gotPeriods, deref(p.Name).(string))
		}
		if !slices.Equal(gotPeriods, wantPeriods) {
			t.Fatalf("periods %v, want %v", gotPeriods, wantPeriods)
		}
		byName := map[string]invoicing.Invoice{}
		for _, inv := range w.Invoices {
			byName[inv.PeriodName] = inv
		}
		for i, p := range periods {
			end := time.Date(2024, time.Month(9-i), 1, 0, 0, 0, 0, time.UTC)
			wantIDs := []string{}
			if inv, ok := byName[*p.Name]; ok {
				wantIDs = []string{"/subscriptions/" + ifx.Subscription + billingBase + "invoices/" + inv.Name}
			}
			if p.PeriodProperties == nil || p.BillingPeriodEndDate == nil || !p.BillingPeriodEndDate.Time.Equal(end) ||
				p.BillingPeriodStartDate == nil || !p.BillingPeriodStartDate.Time.Equal(end.AddDate(0, -1, 0)) ||
				p.InvoiceIds == nil || !slices.Equal(*p.InvoiceIds, wantIDs) || deref(p.Type) != "Microsoft.Billing/billingPeriods" {
				t.Errorf("period %s: %+v %+v", *p.Name, p, p.PeriodProperties)
			}
		}
		ptop := int32(2)
		page, err := pc.List(t.Context(), "billingPeriodEndDate le 2024-06-01", "", &ptop)
		if err != nil {
			t.Fatal(err)
		}
		if vs := page.Values(); len(vs) != 2 || *vs[0].Name != "202406-1" || *vs[1].Name != "202405-1" {
			t.Errorf("filtered periods %+v", vs)
		}
		p, err := pc.Get(t.Context(), "202405-1")
		if err != nil || p.InvoiceIds == nil || len(*p.InvoiceIds) != 1 || !strings.HasSuffix((*p.InvoiceIds)[0], "/"+w.Invoices[2].Name) {
			t.Errorf("period 202405-1: %+v, %v", p, err)
		}
		_, err = pc.Get(t.Context(), "209901-1")
		checkDetailedError(t, "unknown period", err, http.StatusNotFound, "BillingPeriodNotFound")
	})
}
