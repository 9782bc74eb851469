package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/money"
)

// TestInvoiceEndToEnd: a month of usage is closed with "reckon close", the
// invoice total equals the figure worked by hand from the records and the
// prices, "reckon invoice pdf" fetches exactly the stored PDF, the lines
// pdftotext reads from it add up to the same total, and a credit note
// reverses it.
func TestInvoiceEndToEnd(t *testing.T) {
	ctx := context.Background()
	getenv, _ := operatorEnv(t)
	client := &http.Client{Timeout: 30 * time.Second}
	dataDir := t.TempDir()
	srv := serveInProcess(t, getenv, client, "http", "--data-dir", dataDir)
	sub := "7c0d9d3e-5b4a-4f7e-9a53-1f6a2b8c4d03"
	meter := "1d7518e5-bc2f-4a93-9057-1b3047856646"
	mustCLI(t, ctx, getenv, "subscription", "put", "--server", srv.base, "--json", `{"displayName":"Invoiced","billingAccount":"acme"}`, sub)
	rc := writeFile(t, "ratecard.json", []byte(`{"OfferTerms":[{"Name":"Recurring Charge","EffectiveDate":"2020-01-01T00:00:00Z","RecurringCharge":5}],
		"Meters":[{"MeterId":"`+meter+`","MeterName":"Tiered VM","MeterCategory":"Compute","MeterSubCategory":"D2","Unit":"1 Hour",
		"MeterTags":[],"MeterRegion":"US East","MeterRates":{"0":1.00,"200":0.90,"500":0.80},"EffectiveDate":"2020-01-01T00:00:00Z",
		"IncludedQuantity":50}],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`))
	mustCLI(t, ctx, getenv, "catalog", "import", "--server", srv.base, "--format", "ratecard", "--offer", "MS-AZR-0003P", "--currency", "USD", "--region", "US", rc)
	// 800 units in May 2024: 50 included; 200 × 1.00 + 300 × 0.90 + 250 × 0.80
	// = 670.00; with the recurring charge of 5: 675.00.
	recs := writeFile(t, "usage.ndjson", []byte(
		`{"id":"i1","subscriptionId":"`+sub+`","meterId":"`+meter+`","quantity":300,"usageStartTime":"2024-05-02T00:00:00Z","usageEndTime":"2024-05-02T01:00:00Z","reportedTime":"2024-05-02T02:00:00Z"}`+"\n"+
			`{"id":"i2","subscriptionId":"`+sub+`","meterId":"`+meter+`","quantity":"500","usageStartTime":"2024-05-20T00:00:00Z","usageEndTime":"2024-05-20T10:00:00Z","reportedTime":"2024-05-21T00:00:00Z"}`+"\n"))
	mustCLI(t, ctx, getenv, "ingest", "--server", srv.base, "--quiet", recs)

	var inv struct {
		Name, PeriodName, Currency, PDFSHA256 string
		Total, SubTotal                       string
	}
	out := mustCLI(t, ctx, getenv, "close", "--server", srv.base, "--subscription", sub, "--period", "202406-1")
	if err := json.Unmarshal([]byte(out), &inv); err != nil || inv.Name != "ACME-000001" || inv.Total != "675" || inv.SubTotal != "675" {
		t.Fatalf("close printed %v %+v\n%s", err, inv, out)
	}
	if again := mustCLI(t, ctx, getenv, "close", "--server", srv.base, "--subscription", sub, "--period", "202406-1"); !strings.Contains(again, `"ACME-000001"`) {
		t.Errorf("closing again issued something else:\n%s", again)
	}
	list := mustCLI(t, ctx, getenv, "invoice", "list", "--server", srv.base, "--subscription", sub)
	if !strings.Contains(list, "ACME-000001") || !strings.Contains(list, `"invoicePeriodEndDate": "2024-06-01"`) {
		t.Errorf("invoice list:\n%s", list)
	}
	pdfPath := filepath.Join(t.TempDir(), "inv.pdf")
	out = mustCLI(t, ctx, getenv, "invoice", "pdf", "ACME-000001", "--server", srv.base, "--subscription", sub, "-o", pdfPath)
	pdf, err := os.ReadFile(pdfPath)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(pdf)
	if hex.EncodeToString(sum[:]) != inv.PDFSHA256 || !strings.Contains(out, inv.PDFSHA256) {
		t.Fatalf("the downloaded PDF's sha256 %x is not the invoice's %s", sum, inv.PDFSHA256)
	}
	checkPDFTotals(t, pdfPath, "675")

	// Exports of the closed month total its invoice, in every format.
	for _, f := range []string{"csv", "csv.gz", "parquet"} {
		out := mustCLI(t, ctx, getenv, "export", "focus", "--data-dir", dataDir, "--out", filepath.Join(t.TempDir(), "focus"),
			"--from", "2024-05-01", "--to", "2024-06-01", "--format", f)
		if !strings.Contains(out, "675 USD") {
			t.Errorf("FOCUS export (%s) printed:\n%s", f, out)
		}
	}
	out = mustCLI(t, ctx, getenv, "export", "details", "--data-dir", dataDir, "--out", filepath.Join(t.TempDir(), "details"),
		"--from", "2024-05-01", "--to", "2024-06-01", "--subscription", sub)
	if !strings.Contains(out, "675 USD (3 rows)") { // two days of usage and the recurring charge
		t.Errorf("cost details export printed:\n%s", out)
	}

	var cn struct{ Name, Kind, Corrects, Total string }
	out = mustCLI(t, ctx, getenv, "invoice", "credit", "ACME-000001", "--server", srv.base, "--reason", "Meter misconfigured")
	if err := json.Unmarshal([]byte(out), &cn); err != nil || cn.Name != "ACME-000002" || cn.Kind != "CreditNote" || cn.Corrects != "ACME-000001" || cn.Total != "-675" {
		t.Errorf("credit note: %v %+v\n%s", err, cn, out)
	}
}

// checkPDFTotals reads a PDF with pdftotext: the amounts of its lines add up
// to the total it shows, which is want.
func checkPDFTotals(t *testing.T, path, want string) {
	t.Helper()
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext (poppler-utils) is not on PATH; CI must run this check")
		}
		t.Skip("pdftotext is not on PATH")
	}
	text, err := exec.Command(bin, "-layout", path, "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := invoicepdf.NewFormat("en-US", money.MustParseCurrency("USD"))
	columns := regexp.MustCompile(`\s{2,}`)
	var lines money.Decimal
	var total *money.Decimal
	for _, row := range strings.Split(string(text), "\n") {
		cells := columns.Split(strings.TrimSpace(row), -1)
		last := cells[len(cells)-1]
		if len(cells) < 2 || !strings.Contains(last, "$") {
			continue
		}
		amount, err := f.ParseAmount(last)
		if err != nil {
			t.Fatalf("row %q: %v", row, err)
		}
		switch first := cells[0]; {
		case strings.HasPrefix(first, "Subtotal"):
		case strings.HasPrefix(first, "Total"):
			total = &amount
		default:
			lines = lines.Add(amount)
		}
	}
	if total == nil || total.String() != want || lines.String() != want {
		t.Errorf("the PDF shows total %v and lines summing to %s, want %s:\n%s", total, lines, want, text)
	}
}
