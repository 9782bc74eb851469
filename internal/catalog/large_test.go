package catalog_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// LargeRetailEnv names a directory of Retail Prices files (*.json) that
// TestImportLargeRetail imports as one body, timing it on each backend:
// for instance the azure-pricing-radar extracts (12 MB, 40,097 items).
// The test is skipped when the variable is not set.
const LargeRetailEnv = "RECKON_TEST_RETAIL_PRICES_DIR"

func TestImportLargeRetail(t *testing.T) {
	dir := os.Getenv(LargeRetailEnv)
	if dir == "" {
		t.Skip(LargeRetailEnv + " is not set")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.json in %s: %v", dir, err)
	}
	var body []byte
	for _, f := range files {
		if filepath.Base(f) == "last-checked.json" {
			continue // azure-pricing-radar's timestamp, not prices
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body = append(append(body, b...), '\n')
	}
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		p := catalog.ImportParams{Currency: "USD", RegionInfo: "US", EffectiveDate: day("2026-08-22")}
		start := time.Now()
		res, err := e.svc.Import(ctx, catalog.FormatRetailPrices, p, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		first := time.Since(start)
		start = time.Now()
		again, err := e.svc.Import(ctx, catalog.FormatRetailPrices, p, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		second := time.Since(start)
		start = time.Now()
		view, err := e.svc.RateCard(ctx, catalog.RateCardQuery{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"}, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%d bytes, %d items: import %v (meters %+v, rates %+v, rejected %d, skipped %v); again %v (rates %+v); RateCard of %d meters %v",
			len(body), res.Items, first, res.Meters, res.Rates, len(res.Rejected), res.SkippedReasons, second, again.Rates, len(view.Meters), time.Since(start))
		if res.Rates.Added != len(view.Meters) || again.Rates.Unchanged != res.Rates.Added || len(res.Rejected) != 0 {
			t.Fatalf("rates %+v then %+v, RateCard %d meters", res.Rates, again.Rates, len(view.Meters))
		}
	})
}
