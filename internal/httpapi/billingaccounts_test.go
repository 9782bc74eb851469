package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

type amountBody struct {
	Currency string      `json:"currency"`
	Value    json.Number `json:"value"`
}

// armInvoiceBody is an invoice of the billing-account API, decoded
// strictly.
type armInvoiceBody struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		AmountDue              amountBody `json:"amountDue"`
		BilledAmount           amountBody `json:"billedAmount"`
		SubTotal               amountBody `json:"subTotal"`
		TaxAmount              amountBody `json:"taxAmount"`
		TotalAmount            amountBody `json:"totalAmount"`
		InvoiceDate            string     `json:"invoiceDate"`
		DueDate                string     `json:"dueDate"`
		InvoicePeriodStartDate string     `json:"invoicePeriodStartDate"`
		InvoicePeriodEndDate   string     `json:"invoicePeriodEndDate"`
		Status                 string     `json:"status"`
		DocumentType           string     `json:"documentType"`
		Documents              []struct {
			Kind   string `json:"kind"`
			Name   string `json:"name"`
			Source string `json:"source"`
			URL    string `json:"url"`
		} `json:"documents"`
		InvoiceType               string `json:"invoiceType"`
		IsMonthlyInvoice          bool   `json:"isMonthlyInvoice"`
		BillingProfileID          string `json:"billingProfileId"`
		BillingProfileDisplayName string `json:"billingProfileDisplayName"`
		SubscriptionID            string `json:"subscriptionId"`
		SubscriptionDisplayName   string `json:"subscriptionDisplayName"`
		CreditForDocumentID       string `json:"creditForDocumentId"`
	} `json:"properties"`
}

func armName(i armInvoiceBody) string { return i.Name }

func invNames(invs ...invoicing.Invoice) []string {
	return names(invs, func(i invoicing.Invoice) string { return i.Name })
}

// wantARMInvoice checks an invoice of the billing-account API against the
// issued one, addressed by account or by subscription.
func (w *invoiceWorld) wantARMInvoice(t *testing.T, got armInvoiceBody, want invoicing.Invoice, bySubscription bool) {
	t.Helper()
	id, typ := "/providers/Microsoft.Billing/billingAccounts/"+want.BillingAccount+"/invoices/"+want.Name, "Microsoft.Billing/billingAccounts/invoices"
	if bySubscription {
		id = "/providers/Microsoft.Billing/billingAccounts/" + want.BillingAccount + "/billingSubscriptions/" + want.SubscriptionID + "/invoices/" + want.Name
		typ = "Microsoft.Billing/billingAccounts/billingSubscriptions/invoices"
	}
	if got.ID != id || got.Name != want.Name || got.Type != typ {
		t.Errorf("%s: id %q name %q type %q, want %q %q", want.Name, got.ID, got.Name, got.Type, id, typ)
	}
	cur := money.MustParseCurrency(want.Currency)
	tax := money.DecimalFromInt(0)
	if want.Tax != nil {
		tax = want.Tax.Amount
	}
	p := got.Properties
	for _, a := range []struct {
		name string
		got  amountBody
		want money.Decimal
	}{
		{"amountDue", p.AmountDue, want.Total}, {"billedAmount", p.BilledAmount, want.SubTotal}, {"subTotal", p.SubTotal, want.SubTotal},
		{"taxAmount", p.TaxAmount, tax}, {"totalAmount", p.TotalAmount, want.Total},
	} {
		if a.got.Currency != "USD" || string(a.got.Value) != cur.FormatAmount(a.want) {
			t.Errorf("%s: %s = %+v, want %s USD", want.Name, a.name, a.got, cur.FormatAmount(a.want))
		}
	}
	kind, status := "Invoice", "Due"
	if want.Kind == invoicing.KindCreditNote {
		kind, status = "CreditNote", "Other"
	}
	day := want.IssuedAt.UTC().Truncate(24 * time.Hour)
	if p.InvoiceDate != day.Format(time.RFC3339) || p.DueDate != day.AddDate(0, 0, 30).Format(time.RFC3339) ||
		p.InvoicePeriodStartDate != want.PeriodStart.Format(time.RFC3339) || p.InvoicePeriodEndDate != want.PeriodEnd.Format(time.RFC3339) ||
		p.Status != status || p.DocumentType != kind || p.InvoiceType != "AzureServices" || p.IsMonthlyInvoice != (kind == "Invoice") ||
		p.BillingProfileID != "/providers/Microsoft.Billing/billingAccounts/"+want.BillingAccount+"/billingProfiles/default" ||
		p.BillingProfileDisplayName != want.BillingAccount || p.SubscriptionID != want.SubscriptionID || p.SubscriptionDisplayName != "Sub "+want.SubscriptionID[:4] {
		t.Errorf("%s: properties %+v", want.Name, p)
	}
	if len(p.Documents) != 1 || p.Documents[0].Kind != kind || p.Documents[0].Name != want.Name || p.Documents[0].Source != "DRS" ||
		p.Documents[0].URL != w.srv.URL+id+"/download" {
		t.Errorf("%s: documents %+v", want.Name, p.Documents)
	}
	wantCredit := ""
	if want.Corrects != "" {
		wantCredit = "/providers/Microsoft.Billing/billingAccounts/" + want.BillingAccount + "/invoices/" + want.Corrects
	}
	if p.CreditForDocumentID != wantCredit {
		t.Errorf("%s: creditForDocumentId %q, want %q", want.Name, p.CreditForDocumentID, wantCredit)
	}
}

// TestBillingAccountInvoices drives the billing-account Invoices API
// (2024-04-01 and 2020-05-01): lists by billing account, billing profile
// and billing subscription with period dates, top, skip and paging; gets;
// "default"; every property against the issued invoice, and the hand-worked
// amounts of two invoices.
func TestBillingAccountInvoices(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := startInvoiceWorld(t, b, httpapi.Config{})
		srv, tok := w.srv, w.srv.AdminToken
		// Newest first: by period end, then issue time.
		contoso := []invoicing.Invoice{w.d, w.b, w.a[3], w.a[2], w.cn, w.a[1], w.a[0]}
		ofA := []invoicing.Invoice{w.a[3], w.a[2], w.cn, w.a[1], w.a[0]}
		stored := func(inv invoicing.Invoice) invoicing.Invoice {
			s, err := w.inv.Invoice(t.Context(), inv.Name)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}

		t.Run("Amounts", func(t *testing.T) {
			// The charges test's usage, worked by hand. February: 500 units of
			// the tiered meter, 10 included: 100 × 1.99 + 390 × 0.99 = 585.10,
			// + 10 recurring − 150 credit = 445.10. March: 127.60 (see
			// TestCharges). The credit note reverses March.
			for _, c := range []struct {
				inv   invoicing.Invoice
				total string
			}{{w.a[0], "445.10"}, {w.a[1], "127.60"}, {w.cn, "-127.60"}, {w.a[2], "10.00"}} {
				got, _ := getAs[armInvoiceBody](t, srv, tok, accountBase+"contoso/invoices/"+c.inv.Name+"?api-version="+v2024)
				p := got.Properties
				if p.TotalAmount.Value.String() != c.total || p.AmountDue.Value.String() != c.total || p.SubTotal.Value.String() != c.total ||
					p.TaxAmount.Value.String() != "0.00" {
					t.Errorf("%s: total %s due %s subTotal %s tax %s, want %s and no tax", c.inv.Name, p.TotalAmount.Value, p.AmountDue.Value,
						p.SubTotal.Value, p.TaxAmount.Value, c.total)
				}
				w.wantARMInvoice(t, got, stored(c.inv), false)
			}
		})

		t.Run("ListByAccount", func(t *testing.T) {
			for _, version := range []string{v2024, v2020} {
				for _, path := range []string{accountBase + "contoso/invoices?api-version=" + version,
					accountBase + "contoso/billingProfiles/default/invoices?api-version=" + version} {
					got, pages := listPages[armInvoiceBody](t, srv, tok, path)
					if !slices.Equal(names(got, armName), invNames(contoso...)) || pages != 4 {
						t.Fatalf("%s: %v in %d pages, want %v", path, names(got, armName), pages, invNames(contoso...))
					}
					for i := range got {
						w.wantARMInvoice(t, got[i], contoso[i], false)
					}
				}
			}
			got, _ := listPages[armInvoiceBody](t, srv, tok, accountBase+"fabrikam/invoices?api-version="+v2024)
			if !slices.Equal(names(got, armName), invNames(w.c)) {
				t.Errorf("fabrikam: %v", names(got, armName))
			}
		})

		t.Run("Selection", func(t *testing.T) {
			for _, c := range []struct {
				query string
				want  []invoicing.Invoice
			}{
				{"&periodStartDate=2024-04-01&periodEndDate=2024-04-30", []invoicing.Invoice{w.a[2]}},
				{"&periodStartDate=2024-03-15&periodEndDate=2024-04-15", []invoicing.Invoice{w.a[2], w.cn, w.a[1]}},
				{"&periodStartDate=2024-01-01&periodEndDate=2024-12-31", contoso},
				{"&periodStartDate=05-01-2024", contoso[:3]},
				{"&periodEndDate=2024-02-29", []invoicing.Invoice{w.a[0]}},
				{"&periodStartDate=2025-01-01", nil},
				{"&top=3", contoso[:3]},
				{"&skip=2&top=3", contoso[2:5]},
				{"&skip=5", contoso[5:]},
				{"&skip=10", nil},
				{"&top=2&periodStartDate=2024-03-01&count=true", contoso[:2]},
			} {
				got, _ := listPages[armInvoiceBody](t, srv, tok, accountBase+"contoso/invoices?api-version="+v2024+c.query)
				if !slices.Equal(names(got, armName), invNames(c.want...)) {
					t.Errorf("%s: %v, want %v", c.query, names(got, armName), invNames(c.want...))
				}
			}
			for _, c := range []struct{ query, target string }{
				{"&top=51", "top"}, {"&top=0", "top"}, {"&skip=-1", "skip"}, {"&skip=x", "skip"},
				{"&filter=status%20eq%20'Due'", "filter"}, {"&orderBy=invoiceDate", "orderBy"}, {"&search=x", "search"},
				{"&count=maybe", "count"}, {"&periodStartDate=2024-13-01", "periodStartDate"}, {"&periodEndDate=yesterday", "periodEndDate"},
				{"&periodStartDate=2024-05-01&periodEndDate=2024-04-01", "periodEndDate"},
			} {
				resp, body := get(t, srv, accountBase+"contoso/invoices?api-version="+v2024+c.query)
				wantError(t, resp, body, http.StatusBadRequest, "InvalidProperty", c.target)
			}
		})

		t.Run("Default", func(t *testing.T) {
			// The operator sees two accounts: "default" is ambiguous.
			resp, body := get(t, srv, accountBase+"default/invoices?api-version="+v2024)
			e := wantError(t, resp, body, http.StatusBadRequest, "AmbiguousBillingAccount", "billingAccountName")
			if !strings.Contains(e.Error.Message, "contoso, fabrikam") {
				t.Errorf("message %q", e.Error.Message)
			}
			contosoAdmin := srv.Principal(t, "default-contoso", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso")
			fabrikamAdmin := srv.Principal(t, "default-fabrikam", "Account Admin@/providers/Microsoft.Billing/billingAccounts/fabrikam")
			got, _ := listPages[armInvoiceBody](t, srv, contosoAdmin, accountBase+"default/invoices?api-version="+v2020)
			if !slices.Equal(names(got, armName), invNames(contoso...)) {
				t.Errorf("contoso admin's default: %v", names(got, armName))
			}
			got, _ = listPages[armInvoiceBody](t, srv, fabrikamAdmin, accountBase+"DEFAULT/invoices?api-version="+v2020)
			if !slices.Equal(names(got, armName), invNames(w.c)) {
				t.Errorf("fabrikam admin's default: %v", names(got, armName))
			}
			resp, body = send(t, srv, request{path: accountBase + "default/invoices?api-version=" + v2024, token: srv.Principal(t, "default-nobody")})
			wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
			// Invoices_Get: billingAccounts/default/invoices/{name} finds the
			// invoice by name, if the caller may see it.
			inv, _ := getAs[armInvoiceBody](t, srv, tok, accountBase+"default/invoices/"+w.a[1].Name+"?api-version="+v2024)
			w.wantARMInvoice(t, inv, stored(w.a[1]), false)
			inv, _ = getAs[armInvoiceBody](t, srv, fabrikamAdmin, accountBase+"default/invoices/"+w.c.Name+"?api-version="+v2024)
			w.wantARMInvoice(t, inv, stored(w.c), false)
			resp, body = send(t, srv, request{path: accountBase + "default/invoices/" + w.a[1].Name + "?api-version=" + v2024, token: fabrikamAdmin})
			wantError(t, resp, body, http.StatusNotFound, "InvoiceNotFound", "invoiceName")
		})

		t.Run("GetByAccount", func(t *testing.T) {
			for _, version := range []string{v2024, v2020} {
				for _, want := range contoso {
					got, _ := getAs[armInvoiceBody](t, srv, tok, accountBase+"contoso/invoices/"+want.Name+"?api-version="+version)
					w.wantARMInvoice(t, got, stored(want), false)
				}
			}
			for _, c := range []struct {
				path, token, code string
				status            int
			}{
				{accountBase + "fabrikam/invoices/" + w.a[1].Name, tok, "InvoiceNotFound", 404},
				{accountBase + "contoso/invoices/NOPE-000001", tok, "InvoiceNotFound", 404},
				{accountBase + "nope/invoices?", tok, "BillingAccountNotFound", 404},
				{accountBase + "contoso/billingProfiles/other/invoices?", tok, "BillingProfileNotFound", 404},
				{accountBase + "contoso/invoices/" + w.a[1].Name, srv.Principal(t, "get-fabrikam", "Account Admin@/providers/Microsoft.Billing/billingAccounts/fabrikam"), "AuthorizationFailed", 403},
				{accountBase + "contoso/invoices/NOPE-000001", srv.Principal(t, "get-reader", "Reader@/subscriptions/"+subA), "AuthorizationFailed", 403},
				{accountBase + "nope/invoices?", srv.Principal(t, "get-contoso", "Account Admin@/providers/Microsoft.Billing/billingAccounts/contoso"), "AuthorizationFailed", 403},
			} {
				sep := "?"
				if strings.HasSuffix(c.path, "?") {
					sep = ""
				}
				resp, body := send(t, srv, request{path: c.path + sep + "api-version=" + v2024, token: c.token})
				target := map[string]string{"InvoiceNotFound": "invoiceName", "BillingAccountNotFound": "billingAccountName",
					"BillingProfileNotFound": "billingProfileName"}[c.code]
				wantError(t, resp, body, c.status, c.code, target)
			}
			resp, body := get(t, srv, accountBase+"contoso/invoices/"+w.a[1].Name)
			wantError(t, resp, body, http.StatusBadRequest, "MissingApiVersionParameter", "api-version")
			resp, body = get(t, srv, accountBase+"contoso/invoices?api-version="+v2018)
			wantError(t, resp, body, http.StatusBadRequest, "InvalidApiVersionParameter", "api-version")
		})

		t.Run("BillingSubscription", func(t *testing.T) {
			for _, acct := range []string{"default", "contoso"} {
				path := accountBase + acct + "/billingSubscriptions/" + subA + "/invoices?api-version=" + v2024
				got, _ := listPages[armInvoiceBody](t, srv, tok, path)
				if !slices.Equal(names(got, armName), invNames(ofA...)) {
					t.Fatalf("%s: %v", path, names(got, armName))
				}
				for i := range got {
					w.wantARMInvoice(t, got[i], ofA[i], true)
				}
				one, _ := getAs[armInvoiceBody](t, srv, tok, accountBase+acct+"/billingSubscriptions/"+strings.ToUpper(subA)+"/invoices/"+w.cn.Name+"?api-version="+v2020)
				w.wantARMInvoice(t, one, stored(w.cn), true)
			}
			// az billing invoice list: 2020-05-01 with both dates.
			got, _ := listPages[armInvoiceBody](t, srv, tok, accountBase+"default/billingSubscriptions/"+subA+"/invoices?api-version="+v2020+"&periodStartDate=2024-03-01&periodEndDate=2024-04-30")
			if !slices.Equal(names(got, armName), invNames(w.a[2], w.cn, w.a[1])) {
				t.Errorf("dates: %v", names(got, armName))
			}
			for _, c := range []struct {
				path, code, target string
				status             int
			}{
				{"default/billingSubscriptions/" + subA + "/invoices/" + w.b.Name, "InvoiceNotFound", "invoiceName", 404},
				{"fabrikam/billingSubscriptions/" + subA + "/invoices", "SubscriptionNotFound", "subscriptionId", 404},
				{"default/billingSubscriptions/" + unknownGUID + "/invoices", "SubscriptionNotFound", "subscriptionId", 404},
				{"default/billingSubscriptions/sub-a/invoices", "InvalidSubscriptionId", "subscriptionId", 400},
			} {
				resp, body := get(t, srv, accountBase+c.path+"?api-version="+v2024)
				wantError(t, resp, body, c.status, c.code, c.target)
			}
			stranger := srv.Principal(t, "sub-stranger", "Owner@/subscriptions/"+subB)
			for _, p := range []string{"default/billingSubscriptions/" + subA + "/invoices", "default/billingSubscriptions/" + unknownGUID + "/invoices"} {
				resp, body := send(t, srv, request{path: accountBase + p + "?api-version=" + v2024, token: stranger})
				wantError(t, resp, body, http.StatusForbidden, "AuthorizationFailed", "")
			}
		})
	})
}
