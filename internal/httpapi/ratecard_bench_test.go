package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// rateCardBenchMeters is the size of the benchmark's catalog.
const rateCardBenchMeters = 50_000

// largeRetailBody builds Retail Prices items for at least n meters from the
// real carbonandfinch extract (652 consumption meters), repeated across
// made-up regions: each copy gets new meter ids and a region suffix, and
// keeps the real names, units, tiers and prices.
func largeRetailBody(tb testing.TB, n int) []byte {
	tb.Helper()
	f, err := os.Open("../catalog/testdata/retail/carbonandfinch_first1000_items_2026-08-22.json.gz")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(zr)
	dec.UseNumber() // prices stay the literal text
	var items []map[string]any
	if err := dec.Decode(&items); err != nil {
		tb.Fatal(err)
	}
	meters := map[string]bool{}
	for _, it := range items {
		if it["type"] == "Consumption" {
			meters[it["meterId"].(string)] = true
		}
	}
	copies := (n + len(meters) - 1) / len(meters)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for k := range copies {
		for _, it := range items {
			c := make(map[string]any, len(it))
			for key, v := range it {
				c[key] = v
			}
			if k > 0 {
				h := sha256.Sum256([]byte(it["meterId"].(string) + "/" + strconv.Itoa(k)))
				c["meterId"] = fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
				c["armRegionName"] = fmt.Sprint(it["armRegionName"], k)
				c["location"] = fmt.Sprint(it["location"], " ", k)
			}
			if err := enc.Encode(c); err != nil {
				tb.Fatal(err)
			}
		}
	}
	return b.Bytes()
}

// discardWriter is a ResponseWriter that keeps only the status and size.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkRateCard50k measures the RateCard of a 50,000-meter catalog
// built from real retail prices:
//
//   - http-gzip: a client GET over loopback HTTP with Accept-Encoding: gzip,
//     the body read in full (what a tool sees; the body is cached);
//   - handler-gzip: the handler alone with a cached body (allocations per
//     request are the server's);
//   - render: the handler when the cache is empty (catalog read, encoding,
//     gzip), as after a catalog change;
//   - baseline-read: the catalog's RateCard view read alone (the store's
//     part of render);
//   - baseline-static: net/http writing the same gzipped bytes from a
//     trivial handler (the transport floor of http-gzip).
//
// Each reports its p50 in ms besides Go's mean ns/op.
func BenchmarkRateCard50k(b *testing.B) {
	now := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	srv := reckontest.Start(b, reckontest.Options{Now: func() time.Time { return now }})
	ctx := context.Background()
	if _, _, err := srv.Accounts.Put(ctx, subA, account.Subscription{DisplayName: "bench", BillingAccount: "bench"}); err != nil {
		b.Fatal(err)
	}
	body := largeRetailBody(b, rateCardBenchMeters)
	start := time.Now()
	res, err := srv.Catalog.Import(ctx, catalog.FormatRetailPrices, catalog.ImportParams{Currency: "USD", RegionInfo: "US"}, bytes.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("imported %d MB of retail items: %d meters, %d rates, %d rejected in %v", len(body)>>20, res.Meters.Added, res.Rates.Added, len(res.Rejected), time.Since(start).Round(time.Millisecond))
	if res.Meters.Added < rateCardBenchMeters {
		b.Fatalf("only %d meters", res.Meters.Added)
	}
	path := "/subscriptions/" + subA + "/providers/Microsoft.Commerce/RateCard?api-version=2016-08-31-preview"
	request := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		r.Header.Set("Accept-Encoding", "gzip")
		return r
	}
	// One render, to check the answer and keep its bytes for the baseline.
	w := httptest.NewRecorder()
	srv.API.ServeHTTP(w, request())
	if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" {
		b.Fatalf("RateCard: %d %s", w.Code, w.Header())
	}
	gz := w.Body.Bytes()
	zr, _ := gzip.NewReader(bytes.NewReader(gz))
	plain, _ := io.ReadAll(zr)
	var rc struct{ Meters []json.RawMessage }
	if err := json.Unmarshal(plain, &rc); err != nil || len(rc.Meters) != res.Meters.Added {
		b.Fatalf("RateCard has %d meters (%v), want %d", len(rc.Meters), err, res.Meters.Added)
	}
	b.Logf("RateCard: %d meters, %.1f MB plain, %.1f MB gzipped", len(rc.Meters), float64(len(plain))/(1<<20), float64(len(gz))/(1<<20))

	timed := func(b *testing.B, fn func()) {
		var d []time.Duration
		for b.Loop() {
			t0 := time.Now()
			fn()
			d = append(d, time.Since(t0))
		}
		slices.Sort(d)
		b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "ms-p50")
	}
	b.Run("http-gzip", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		timed(b, func() {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n != int64(len(gz)) {
				b.Fatalf("%d, %d bytes", resp.StatusCode, n)
			}
		})
	})
	b.Run("handler-gzip", func(b *testing.B) {
		b.ReportAllocs()
		timed(b, func() {
			w := &discardWriter{h: http.Header{}}
			srv.API.ServeHTTP(w, request())
			if w.n != len(gz) {
				b.Fatalf("%d bytes", w.n)
			}
		})
	})
	b.Run("render", func(b *testing.B) {
		b.ReportAllocs()
		timed(b, func() {
			httpapi.ResetRateCards(srv.API)
			w := &discardWriter{h: http.Header{}}
			srv.API.ServeHTTP(w, request())
			if w.n != len(gz) {
				b.Fatalf("%d bytes", w.n)
			}
		})
	})
	b.Run("baseline-read", func(b *testing.B) {
		b.ReportAllocs()
		q := catalog.RateCardQuery{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"}
		timed(b, func() {
			if _, err := srv.Catalog.RateCard(ctx, q, now); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("baseline-static", func(b *testing.B) {
		static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Length", strconv.Itoa(len(gz)))
			w.Write(gz)
		}))
		defer static.Close()
		client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
		timed(b, func() {
			resp, err := client.Get(static.URL)
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		})
	})
}
