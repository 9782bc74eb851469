package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCatalogImportAndRate: "reckon catalog import" to a server and
// straight into a store, "reckon offer", and "reckon rate" on what was
// ingested.
func TestCatalogImportAndRate(t *testing.T) {
	ctx := context.Background()
	getenv, _ := operatorEnv(t)
	dataDir := t.TempDir()
	client := &http.Client{Timeout: 30 * time.Second}
	srv := serveInProcess(t, getenv, client, "http", "--data-dir", dataDir)

	sub := "7c0d9d3e-5b4a-4f7e-9a53-1f6a2b8c4d02"
	meter := "1d7518e5-bc2f-4a93-9057-1b3047856645"
	mustCLI(t, ctx, getenv, "subscription", "put", "--server", srv.base, "--json", `{"displayName":"Rated","billingAccount":"acct"}`, sub)
	rc := writeFile(t, "ratecard.json", []byte(`{"OfferTerms":[{"Name":"Recurring Charge","EffectiveDate":"2020-01-01T00:00:00Z","RecurringCharge":5}],
		"Meters":[{"MeterId":"`+meter+`","MeterName":"Tiered","MeterCategory":"Compute","MeterSubCategory":"","Unit":"1 Hour",
		"MeterTags":[],"MeterRegion":"US East","MeterRates":{"0":1.00,"200":0.90,"500":0.80},"EffectiveDate":"2020-01-01T00:00:00Z",
		"IncludedQuantity":50}],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`))
	importArgs := []string{"catalog", "import", "--server", srv.base, "--format", "ratecard", "--offer", "MS-AZR-0003P", "--currency", "USD", "--region", "US", rc}
	var res struct {
		Meters, Rates, Terms struct{ Added, Changed, Unchanged int }
		Rejected             []any
	}
	if err := json.Unmarshal([]byte(mustCLI(t, ctx, getenv, importArgs...)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Meters.Added != 1 || res.Rates.Added != 1 || res.Terms.Added != 1 || len(res.Rejected) != 0 {
		t.Fatalf("first import: %+v", res)
	}
	if err := json.Unmarshal([]byte(mustCLI(t, ctx, getenv, importArgs...)), &res); err != nil {
		t.Fatal(err)
	}
	if res.Meters.Unchanged != 1 || res.Rates.Unchanged != 1 || res.Terms.Unchanged != 1 || res.Rates.Added != 0 {
		t.Fatalf("second import: %+v", res)
	}
	out := mustCLI(t, ctx, getenv, "offer", "get", "--server", srv.base, "MS-AZR-0003P")
	if !strings.Contains(out, `"USD"`) || !strings.Contains(out, `"US"`) {
		t.Errorf("offer get: %s", out)
	}

	// 800 units in one month: 50 included, then 200 × 1.00 + 300 × 0.90 +
	// 250 × 0.80 = 200 + 270 + 200 = 670.00; with the recurring 5: 675.00.
	recs := writeFile(t, "usage.ndjson", []byte(
		`{"id":"r1","subscriptionId":"`+sub+`","meterId":"`+meter+`","quantity":300,"usageStartTime":"2024-05-02T00:00:00Z","usageEndTime":"2024-05-02T01:00:00Z","reportedTime":"2024-05-02T02:00:00Z"}`+"\n"+
			`{"id":"r2","subscriptionId":"`+sub+`","meterId":"`+meter+`","quantity":"500","usageStartTime":"2024-05-20T00:00:00Z","usageEndTime":"2024-05-20T10:00:00Z","reportedTime":"2024-05-21T00:00:00Z"}`+"\n"))
	mustCLI(t, ctx, getenv, "ingest", "--server", srv.base, "--quiet", recs)
	out = mustCLI(t, ctx, getenv, "rate", "--server", srv.base, "--subscription", sub, "--from", "2024-05-01", "--to", "2024-06-01")
	if !strings.Contains(out, "670") || !strings.Contains(grepLines(out, "total"), "675 USD") {
		t.Errorf("rate output:\n%s", out)
	}
	out = mustCLI(t, ctx, getenv, "rate", "--server", srv.base, "--subscription", sub, "--from", "2024-05-01", "--to", "2024-06-01", "--json")
	var st struct{ Total, UsageTotal string }
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Total != "675" || st.UsageTotal != "670" {
		t.Errorf("rate --json: %v %+v", err, st)
	}
	if r := runCLI(ctx, getenv, "rate", "--server", srv.base, "--subscription", sub, "--from", "2024-05-01"); r.err == nil || !strings.Contains(r.err.Error(), "periodEnd") {
		t.Errorf("rate with --from only: %v", r.err)
	}

	// Straight into a store: the demo's real retail prices.
	direct := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "..", "internal", "demo", "data", "retail_prices.json"))
	if err != nil {
		t.Fatal(err)
	}
	out = mustCLI(t, ctx, getenv, "catalog", "import", "--direct", "--data-dir", direct, "--format", "retail-prices", writeFile(t, "retail.json", data))
	var rres struct {
		OfferDurableID, Currency string
		Meters                   struct{ Added int }
	}
	if err := json.Unmarshal([]byte(out), &rres); err != nil || rres.OfferDurableID != "MS-AZR-0003P" || rres.Currency != "USD" || rres.Meters.Added == 0 {
		t.Errorf("direct retail import: %v %+v\n%s", err, rres, out)
	}
	if r := runCLI(ctx, getenv, "catalog", "import", "--direct", "--data-dir", direct, "--format", "csv", rc); r.err == nil {
		t.Error("an unknown format was accepted")
	}
}
