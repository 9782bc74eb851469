package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	ifx "github.com/reckon-billing/reckon/compat/invoicefixture"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// ensureArmBilling installs compat/js's locked dependencies when
// @azure/arm-billing is missing.
func ensureArmBilling(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("js", "node_modules", "@azure", "arm-billing", "package.json")); err == nil {
		return
	}
	npm := requireTool(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = "js"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in compat/js: %v\n%s", err, out)
	}
}

// jsInvoice is an invoice as compat/js/list-invoices.js prints it.
type jsInvoice struct {
	Name                   string  `json:"name"`
	Status                 string  `json:"status"`
	DocumentType           string  `json:"documentType"`
	SubscriptionID         string  `json:"subscriptionId"`
	InvoicePeriodStartDate string  `json:"invoicePeriodStartDate"`
	InvoicePeriodEndDate   string  `json:"invoicePeriodEndDate"`
	InvoiceDate            string  `json:"invoiceDate"`
	DueDate                string  `json:"dueDate"`
	TotalAmount            float64 `json:"totalAmount"`
	AmountDue              float64 `json:"amountDue"`
	SubTotal               float64 `json:"subTotal"`
	TaxAmount              float64 `json:"taxAmount"`
	Currency               string  `json:"currency"`
}

type jsInvoiceList struct {
	Pages    int         `json:"pages"`
	Invoices []jsInvoice `json:"invoices"`
}

type jsInvoicesResult struct {
	Subscription jsInvoiceList `json:"subscription"`
	Account      jsInvoiceList `json:"account"`
	Get          jsInvoice     `json:"get"`
	GetByID      jsInvoice     `json:"getById"`
	Download     struct {
		URL         string `json:"url"`
		ExpiryTime  string `json:"expiryTime"`
		Status      int    `json:"status"`
		ContentType string `json:"contentType"`
		SHA256      string `json:"sha256"`
	} `json:"download"`
}

// checkJSInvoice compares an invoice as the JavaScript SDK read it with
// the issued one.
func checkJSInvoice(t *testing.T, got jsInvoice, want invoicing.Invoice, total string) {
	t.Helper()
	f, err := strconv.ParseFloat(total, 64)
	if err != nil {
		t.Fatal(err)
	}
	js := func(tm time.Time) string { return tm.UTC().Format("2006-01-02T15:04:05.000Z") }
	if got.Name != want.Name || got.Status != "Due" || got.DocumentType != "Invoice" || got.SubscriptionID != want.SubscriptionID ||
		got.InvoicePeriodStartDate != js(want.PeriodStart) || got.InvoicePeriodEndDate != js(want.PeriodEnd) ||
		got.InvoiceDate != js(want.InvoiceDate) || got.DueDate != js(want.DueDate) ||
		got.TotalAmount != f || got.AmountDue != f || got.SubTotal != f || got.TaxAmount != 0 || got.Currency != "USD" {
		t.Errorf("invoice %+v, want %s of %s, %s..%s, total %s USD", got, want.Name, want.SubscriptionID, js(want.PeriodStart), js(want.PeriodEnd), total)
	}
}

// TestArmBillingJavaScript reads the invoices through @azure/arm-billing
// 4.1.0 (API 2020-05-01, compat/js/list-invoices.js) over HTTPS: both
// lists with their pages, get and getById, and the download operation,
// whose URL then serves the stored PDF.
func TestArmBillingJavaScript(t *testing.T) {
	node := requireTool(t, "node")
	ensureArmBilling(t)
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		w := ifx.Start(t, b)
		ca := filepath.Join(t.TempDir(), "reckon-test-ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		target := w.Invoices[3]
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, filepath.Join("js", "list-invoices.js"), "--base-url", w.URL, "--subscription", ifx.Subscription,
			"--account", ifx.Account, "--start", "2024-01-01", "--end", "2024-12-31", "--invoice", target.Name)
		cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca, "RECKON_TOKEN="+w.AdminToken)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("node list-invoices.js: %v\n%s", err, stderr.Bytes())
		}
		var got jsInvoicesResult
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Fatalf("output %q: %v", stdout.Bytes(), err)
		}
		totals := map[string]string{w.SiblingInvoice.Name: "0.50"}
		for i, inv := range w.Invoices {
			totals[inv.Name] = ifx.Totals[i]
		}
		for _, c := range []struct {
			name string
			got  jsInvoiceList
			want []invoicing.Invoice
		}{{"listByBillingSubscription", got.Subscription, w.Latest()}, {"listByBillingAccount", got.Account, w.AccountInvoices()}} {
			gotNames := make([]string, len(c.got.Invoices))
			for i, inv := range c.got.Invoices {
				gotNames[i] = inv.Name
			}
			wantNames := make([]string, len(c.want))
			for i, inv := range c.want {
				wantNames[i] = inv.Name
			}
			if !slices.Equal(gotNames, wantNames) || c.got.Pages != (len(c.want)+ifx.PageSize-1)/ifx.PageSize {
				t.Errorf("%s: %v in %d pages, want %v", c.name, gotNames, c.got.Pages, wantNames)
				continue
			}
			for i := range c.want {
				checkJSInvoice(t, c.got.Invoices[i], c.want[i], totals[c.want[i].Name])
			}
		}
		checkJSInvoice(t, got.Get, target, ifx.Totals[3])
		checkJSInvoice(t, got.GetByID, target, ifx.Totals[3])
		d := got.Download
		exp, err := time.Parse(time.RFC3339, d.ExpiryTime) // the SDK turns it into a Date
		if d.Status != 200 || d.ContentType != "application/pdf" || d.SHA256 != target.PDFSHA256 || err != nil ||
			!exp.Equal(w.Clock.Now().Add(time.Hour).Truncate(time.Second)) {
			t.Errorf("download %+v, want the PDF of %s (sha256 %s)", d, target.Name, target.PDFSHA256)
		}
	})
}
