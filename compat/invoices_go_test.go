package compat_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/billing/armbilling"

	ifx "github.com/reckon-billing/reckon/compat/invoicefixture"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// invoiceCredential is an azcore.TokenCredential handing out a fixed token.
type invoiceCredential struct{ token string }

func (c invoiceCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// armbillingClient returns an armbilling InvoicesClient of sub on w over
// HTTPS, sending token, without retries.
func armbillingClient(t *testing.T, w *ifx.World, sub, token string) *armbilling.InvoicesClient {
	t.Helper()
	c, err := armbilling.NewInvoicesClient(sub, invoiceCredential{token}, &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: "https://login.invalid/", Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: w.URL, Audience: "https://management.core.windows.net/"}}},
		Transport: w.Client(),
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// checkSDKInvoice compares an invoice as armbilling decoded it with the
// issued one.
func checkSDKInvoice(t *testing.T, got *armbilling.Invoice, want invoicing.Invoice, total string) {
	t.Helper()
	if got == nil || got.Properties == nil || got.Name == nil || got.ID == nil {
		t.Fatalf("incomplete invoice %+v", got)
	}
	p := got.Properties
	if *got.Name != want.Name || !strings.HasSuffix(*got.ID, "/invoices/"+want.Name) {
		t.Errorf("invoice %s: name %s id %s", want.Name, *got.Name, *got.ID)
	}
	f, err := strconv.ParseFloat(total, 32)
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]struct {
		c *string
		v *float32
	}{
		"amountDue": {p.AmountDue.Currency, p.AmountDue.Value}, "totalAmount": {p.TotalAmount.Currency, p.TotalAmount.Value},
		"subTotal": {p.SubTotal.Currency, p.SubTotal.Value}, "billedAmount": {p.BilledAmount.Currency, p.BilledAmount.Value},
	} {
		// float32, and every fixture total is exact in it.
		if a.c == nil || *a.c != "USD" || a.v == nil || *a.v != float32(f) {
			t.Errorf("invoice %s: %s %v %v, want %s USD", want.Name, name, deref(a.c), a.v, total)
		}
	}
	if p.TaxAmount == nil || p.TaxAmount.Value == nil || *p.TaxAmount.Value != 0 {
		t.Errorf("invoice %s: taxAmount %+v", want.Name, p.TaxAmount)
	}
	if p.InvoicePeriodStartDate == nil || !p.InvoicePeriodStartDate.Equal(want.PeriodStart) || p.InvoicePeriodEndDate == nil ||
		!p.InvoicePeriodEndDate.Equal(want.PeriodEnd) || p.InvoiceDate == nil || !p.InvoiceDate.Equal(want.InvoiceDate) ||
		p.DueDate == nil || !p.DueDate.Equal(want.DueDate) {
		t.Errorf("invoice %s: dates %v..%v issued %v due %v", want.Name, p.InvoicePeriodStartDate, p.InvoicePeriodEndDate, p.InvoiceDate, p.DueDate)
	}
	if p.Status == nil || *p.Status != armbilling.InvoiceStatusDue || p.DocumentType == nil || *p.DocumentType != armbilling.InvoiceDocumentTypeInvoice ||
		p.InvoiceType == nil || *p.InvoiceType != armbilling.InvoiceTypeAzureServices || deref(p.SubscriptionID) != want.SubscriptionID ||
		len(p.Documents) != 1 || p.Documents[0].Kind == nil || *p.Documents[0].Kind != armbilling.InvoiceDocumentTypeInvoice ||
		deref(p.Documents[0].Name) != want.Name || deref(p.BillingProfileID) == "" {
		t.Errorf("invoice %s: properties %+v", want.Name, p)
	}
}

// TestArmbillingInvoices drives the billing-account Invoices API through
// the unmodified armbilling v1.0.0 (API 2024-04-01) over HTTPS: the list
// pagers (by billing account with period dates, by billing subscription),
// the three gets, both download operations polled until done, then the PDF
// fetched from the URL and compared with the stored sha256, and the error
// mapping.
func TestArmbillingInvoices(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := ifx.Start(t, b)
		c := armbillingClient(t, w, ifx.Subscription, w.AdminToken)
		totals := map[string]string{w.SiblingInvoice.Name: "0.50"}
		for i, inv := range w.Invoices {
			totals[inv.Name] = ifx.Totals[i]
		}

		t.Run("ListByBillingAccount", func(t *testing.T) {
			want := w.AccountInvoices()
			for _, opts := range []*armbilling.InvoicesClientListByBillingAccountOptions{
				nil,
				{PeriodStartDate: to.Ptr(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), PeriodEndDate: to.Ptr(time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC))},
			} {
				var got []*armbilling.Invoice
				pages := 0
				for p := c.NewListByBillingAccountPager(ifx.Account, opts); p.More(); {
					page, err := p.NextPage(t.Context())
					if err != nil {
						t.Fatalf("page %d: %v", pages+1, err)
					}
					pages++
					got = append(got, page.Value...)
				}
				if len(got) != len(want) || pages != (len(want)+ifx.PageSize-1)/ifx.PageSize {
					t.Fatalf("%d invoices in %d pages, want %d", len(got), pages, len(want))
				}
				for i := range got {
					checkSDKInvoice(t, got[i], want[i], totals[want[i].Name])
				}
			}
			// Period dates select: the invoices of April to June.
			var got []string
			for p := c.NewListByBillingAccountPager(ifx.Account, &armbilling.InvoicesClientListByBillingAccountOptions{
				PeriodStartDate: to.Ptr(time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)), PeriodEndDate: to.Ptr(time.Date(2024, 6, 30, 0, 0, 0, 0, time.UTC)),
			}); p.More(); {
				page, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				for _, inv := range page.Value {
					got = append(got, *inv.Name)
				}
			}
			if want := []string{w.Invoices[4].Name, w.Invoices[3].Name, w.Invoices[2].Name}; !slices.Equal(got, want) {
				t.Errorf("April to June: %v, want %v", got, want)
			}
		})

		t.Run("ListByBillingSubscription", func(t *testing.T) {
			want := w.Latest()
			var got []*armbilling.Invoice
			for p := c.NewListByBillingSubscriptionPager(&armbilling.InvoicesClientListByBillingSubscriptionOptions{Top: to.Ptr[int64](5)}); p.More(); {
				page, err := p.NextPage(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, page.Value...)
			}
			if len(got) != 5 {
				t.Fatalf("top 5: %d invoices", len(got))
			}
			for i := range got {
				checkSDKInvoice(t, got[i], want[i], totals[want[i].Name])
				if !strings.Contains(*got[i].ID, "/billingSubscriptions/"+ifx.Subscription+"/") {
					t.Errorf("id %s", *got[i].ID)
				}
			}
		})

		t.Run("Get", func(t *testing.T) {
			inv := w.Invoices[2]
			r1, err := c.GetByBillingAccount(t.Context(), ifx.Account, inv.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSDKInvoice(t, &r1.Invoice, inv, ifx.Totals[2])
			r2, err := c.GetByBillingSubscription(t.Context(), inv.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSDKInvoice(t, &r2.Invoice, inv, ifx.Totals[2])
			r3, err := c.Get(t.Context(), inv.Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkSDKInvoice(t, &r3.Invoice, inv, ifx.Totals[2])

			_, err = c.GetByBillingAccount(t.Context(), ifx.Account, "CONTOSO-999999", nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "InvoiceNotFound" {
				t.Errorf("unknown invoice: %v", err)
			}
			// The stranger's invoice is in another account.
			_, err = c.GetByBillingSubscription(t.Context(), w.StrangerInvoice.Name, nil)
			if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "InvoiceNotFound" {
				t.Errorf("another subscription's invoice: %v", err)
			}
			// A principal without any role is refused.
			nobody := armbillingClient(t, w, ifx.Subscription, w.Principal(t, "armbilling-nobody"))
			_, err = nobody.GetByBillingSubscription(t.Context(), inv.Name, nil)
			if !errors.As(err, &re) || re.StatusCode != http.StatusForbidden || re.ErrorCode != "AuthorizationFailed" {
				t.Errorf("no role: %v", err)
			}
		})

		t.Run("Download", func(t *testing.T) {
			check := func(t *testing.T, res armbilling.DocumentDownloadResult, inv invoicing.Invoice) {
				t.Helper()
				if res.URL == nil || res.ExpiryTime == nil {
					t.Fatalf("result %+v", res)
				}
				exp, err := time.Parse(time.RFC3339, *res.ExpiryTime)
				if err != nil || !exp.Equal(w.Clock.Now().Add(time.Hour).Truncate(time.Second)) {
					t.Errorf("expiryTime %s: %v", *res.ExpiryTime, err)
				}
				// The link needs no token.
				resp, err := w.Client().Get(*res.URL)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(body)
				if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || hex.EncodeToString(sum[:]) != inv.PDFSHA256 ||
					!strings.HasPrefix(string(body), "%PDF-") {
					t.Errorf("GET %s: %d %s, sha256 %x, want %s", *res.URL, resp.StatusCode, resp.Header.Get("Content-Type"), sum, inv.PDFSHA256)
				}
			}
			poll := &runtime.PollUntilDoneOptions{Frequency: time.Second}
			p1, err := c.BeginDownloadByBillingAccount(t.Context(), ifx.Account, w.Invoices[0].Name, nil)
			if err != nil {
				t.Fatal(err)
			}
			if p1.Done() {
				t.Error("the operation is done before it was polled; want 202 and a poll")
			}
			r1, err := p1.PollUntilDone(t.Context(), poll)
			if err != nil {
				t.Fatal(err)
			}
			check(t, r1.DocumentDownloadResult, w.Invoices[0])

			p2, err := c.BeginDownloadByBillingSubscription(t.Context(), w.Invoices[5].Name,
				&armbilling.InvoicesClientBeginDownloadByBillingSubscriptionOptions{DocumentName: to.Ptr(w.Invoices[5].Name)})
			if err != nil {
				t.Fatal(err)
			}
			r2, err := p2.PollUntilDone(t.Context(), poll)
			if err != nil {
				t.Fatal(err)
			}
			check(t, r2.DocumentDownloadResult, w.Invoices[5])

			_, err = c.BeginDownloadByBillingAccount(t.Context(), ifx.Account, "CONTOSO-999999", nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "InvoiceNotFound" {
				t.Errorf("download of an unknown invoice: %v", err)
			}
		})
	})
}
