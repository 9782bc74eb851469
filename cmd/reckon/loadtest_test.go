package main

import (
	"context"
	"errors"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/loadtest"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// loadtestSettle is the servers' settle margin, serve's default: a commit
// may take up to half of it before the server answers 503 ServiceBusy,
// which a machine busy with other tests (or the race detector) must not
// provoke.
const loadtestSettle = 30 * time.Second

// loadtestServer starts a server with the demo data, its ended billing
// periods closed into invoices (so that there are PDFs to download).
func loadtestServer(t *testing.T, b reckontest.Backend) *reckontest.Server {
	t.Helper()
	ctx := context.Background()
	srv := reckontest.Start(t, reckontest.Options{Backend: b, SettleMargin: loadtestSettle})
	began := time.Now()
	if _, err := demo.Load(ctx, demo.Services{Accounts: srv.Accounts, Catalog: srv.Catalog, Usage: srv.Usage}, time.Now()); err != nil {
		t.Fatal(err)
	}
	loaded := time.Now()
	closed, err := srv.Invoicing.CloseDue(ctx)
	t.Logf("demo data loaded in %v, %d periods closed in %v", loaded.Sub(began).Round(time.Millisecond), closed, time.Since(loaded).Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if closed == 0 {
		t.Fatal("the demo data closed no billing period: no invoice to download")
	}
	return srv
}

// storedRecords counts the records in the store, all subscriptions, and
// the distinct record ids among them.
func storedRecords(t *testing.T, srv *reckontest.Server) (records int, ids map[string]bool) {
	t.Helper()
	ctx := context.Background()
	subs, err := srv.Accounts.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range subs {
		names = append(names, s.SubscriptionID)
	}
	keys, err := srv.DB.SubscriptionKeys(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	ids = map[string]bool{}
	for _, k := range keys {
		err := srv.DB.ScanSegments(ctx, k, math.MinInt64, math.MaxInt64, func(_ int64, seg []byte) error {
			return usage.DecodeSegment(seg, func(r *usage.StoredRecord) error {
				records++
				ids[r.ID] = true
				return nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return records, ids
}

// reportRow is one operation's row of the printed report.
type reportRow struct {
	requests, errors     int64
	reqPerSec            float64
	items                string
	p50, p95, p99, maxMs float64
}

var (
	rowRE      = regexp.MustCompile(`(?m)^(ingest|aggregates|ratecard|invoices|download|total) +(\d+) +(\d+) +([\d.]+) +(\S+) +(\S+) +([\d.]+) +([\d.]+) +([\d.]+) +([\d.]+)$`)
	ingestRE   = regexp.MustCompile(`(?m)^ingest: (\d+) records accepted, (\d+) duplicates, (\d+) rejected$`)
	intervalRE = regexp.MustCompile(`(?m)^\[ *(\d+)s\] +([\d.]+) req/s +([\d.]+) rec/s  p50 +([\d.]+) ms  p95 +([\d.]+) ms  p99 +([\d.]+) ms  max +([\d.]+) ms  errors (\d+)  rejected (\d+)  rss ([\d.]+) MiB  heap ([\d.]+) MiB  goroutines (\d+)$`)
	rssRE      = regexp.MustCompile(`(?m)^server: rss ([\d.]+) MiB at start, ([\d.]+) MiB at end, ([\d.]+) MiB max \(VmRSS of /proc/(\d+)/status\)$`)
	errLineRE  = regexp.MustCompile(`(?m)^  (\w+) +(\d+) (\S+) +(\d+)$`)
)

// parseReport reads the final report's table rows.
func parseReport(t *testing.T, out string) map[string]reportRow {
	t.Helper()
	rows := map[string]reportRow{}
	for _, m := range rowRE.FindAllStringSubmatch(out, -1) {
		f := func(i int) float64 {
			v, err := strconv.ParseFloat(m[i], 64)
			if err != nil {
				t.Fatalf("row %q: %v", m[0], err)
			}
			return v
		}
		rows[m[1]] = reportRow{requests: int64(f(2)), errors: int64(f(3)), reqPerSec: f(4), items: m[5], p50: f(7), p95: f(8), p99: f(9), maxMs: f(10)}
	}
	if len(rows) != 6 {
		t.Fatalf("report has %d operation rows, want 6:\n%s", len(rows), out)
	}
	return rows
}

// TestLoadtest runs "reckon loadtest" for 3 s with 4 clients and a mix of
// every operation against a server holding the demo data, and checks that
// it stops by itself on time, that every operation ran without an error,
// that the records it reports accepted are exactly the records added to
// the store, that the printed report parses and agrees with the --json
// file, and that the chart is drawn from that file.
func TestLoadtest(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv := loadtestServer(t, b)
		before, idsBefore := storedRecords(t, srv)
		dir := t.TempDir()
		jsonPath := filepath.Join(dir, "run.json")
		began := time.Now()
		r := runCLI(context.Background(), mapEnv(nil), "loadtest", "--server", srv.URL, "--token", srv.AdminToken,
			"--clients", "4", "--duration", "3s", "--report-every", "1s", "--batch", "50",
			"--mix", "ingest=30,aggregates=25,ratecard=15,invoices=15,download=15", "--json", jsonPath)
		took := time.Since(began)
		if r.err != nil {
			t.Fatalf("loadtest: %v\n%s\n%s", r.err, r.stdout, r.stderr)
		}
		if took < 3*time.Second || took > 3*time.Second+7*time.Second {
			t.Fatalf("a 3 s load test took %v", took)
		}
		out := r.stdout
		rows := parseReport(t, out)
		var sum int64
		for _, op := range loadtest.Ops() {
			row := rows[op.String()]
			if row.requests == 0 || row.errors != 0 {
				t.Errorf("%s: %d requests, %d errors; want some and none", op, row.requests, row.errors)
			}
			if !(row.p50 > 0 && row.p50 <= row.p95 && row.p95 <= row.p99 && row.p99 <= row.maxMs) {
				t.Errorf("%s: percentiles %v %v %v %v not ordered", op, row.p50, row.p95, row.p99, row.maxMs)
			}
			sum += row.requests
		}
		if rows["total"].requests != sum || rows["total"].errors != 0 {
			t.Errorf("total row %+v; want %d requests", rows["total"], sum)
		}
		if !strings.Contains(out, "\nerrors: none\n") || !strings.Contains(out, "load test completed: 4 clients for ") {
			t.Errorf("report lacks its error or header line:\n%s", out)
		}
		m := ingestRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no ingest line:\n%s", out)
		}
		accepted, _ := strconv.Atoi(m[1])
		if accepted == 0 || m[2] != "0" || m[3] != "0" || rows["ingest"].items != m[1] || int64(accepted) != rows["ingest"].requests*50 {
			t.Errorf("ingest line %q, ingest row %+v: want every record of %d requests of 50 accepted", m[0], rows["ingest"], rows["ingest"].requests)
		}
		// The store holds exactly the accepted records more, all distinct.
		after, idsAfter := storedRecords(t, srv)
		if after-before != accepted || len(idsAfter)-len(idsBefore) != accepted {
			t.Errorf("store: %d records before, %d after (%d ids before, %d after); the load test reported %d accepted",
				before, after, len(idsBefore), len(idsAfter), accepted)
		}
		// Interval lines, one a second, with the server's RSS (the
		// server runs in this process, found by its port).
		ivs := intervalRE.FindAllStringSubmatch(out, -1)
		if len(ivs) < 3 || len(ivs) > 4 {
			t.Errorf("%d interval lines; want 3 (or 4 with a last partial one):\n%s", len(ivs), out)
		}
		rss := rssRE.FindStringSubmatch(out)
		if rss == nil || rss[4] != strconv.Itoa(os.Getpid()) {
			t.Errorf("server RSS line missing or not of this process (%d):\n%s", os.Getpid(), out)
		}
		// The JSON file agrees with the printed report.
		res, err := loadtest.ReadJSON(jsonPath)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Intervals) != len(ivs) || res.Ingest.Accepted != int64(accepted) || res.Total.Requests != sum || res.Interrupted {
			t.Errorf("JSON: %d intervals, %d accepted, %d requests, interrupted %v; report: %d, %d, %d",
				len(res.Intervals), res.Ingest.Accepted, res.Total.Requests, res.Interrupted, len(ivs), accepted, sum)
		}
		var ivRequests int64
		for _, iv := range res.Intervals {
			ivRequests += iv.Total.Requests
			if iv.Server.RSSBytes <= 0 || iv.Server.Goroutines <= 0 || iv.Server.HeapBytes <= 0 || iv.Server.HeapBytes > iv.Server.RSSBytes {
				t.Errorf("interval at %.1fs: server %+v", iv.End, iv.Server)
			}
		}
		if ivRequests != sum {
			t.Errorf("intervals add up to %d requests; total %d", ivRequests, sum)
		}
		for _, op := range loadtest.Ops() {
			if res.Ops[op.String()].Requests != rows[op.String()].requests {
				t.Errorf("%s: JSON %d requests, report %d", op, res.Ops[op.String()].Requests, rows[op.String()].requests)
			}
		}
		// The chart of the run, from the JSON file.
		pngPath := filepath.Join(dir, "run.png")
		mustCLI(t, context.Background(), mapEnv(nil), "loadtest", "chart", jsonPath, pngPath)
		f, err := os.Open(pngPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := png.Decode(f); err != nil {
			t.Fatalf("chart: %v", err)
		}
	})
}

// TestLoadtestErrors checks that failed requests are counted by HTTP
// status and ARM code (a malformed token: 401 InvalidAuthenticationToken; a reader
// sending usage: 403 AuthorizationFailed, while its UsageAggregates reads
// succeed), that the exit status is then 1, and that ctrl-C ends a long
// run at once with a report.
func TestLoadtestErrors(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv := reckontest.Start(t, reckontest.Options{Backend: b, SettleMargin: loadtestSettle})
		ctx := context.Background()
		const sub, meter = "10ad7e57-0000-4000-8000-000000000001", "10ad7e57-0000-4000-8000-00000000000a"
		if _, _, err := srv.Accounts.Put(ctx, sub, account.Subscription{DisplayName: "Load", BillingAccount: "loadtest"}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := srv.Catalog.PutMeter(ctx, meter, catalog.Meter{MeterName: "Load", MeterCategory: "Other", Unit: "1"}); err != nil {
			t.Fatal(err)
		}
		common := []string{"loadtest", "--server", srv.URL, "--clients", "2", "--duration", "1s", "--report-every", "1s",
			"--subscriptions", sub, "--meters", meter, "--batch", "5"}

		// A malformed token: every request is a 401.
		r := runCLI(ctx, mapEnv(nil), append(common, "--token", "not-a-token", "--mix", "ingest=1,aggregates=1")...)
		var ee exitError
		if !errors.As(r.err, &ee) || ee != 1 {
			t.Fatalf("wrong token: err %v, want exit status 1\n%s", r.err, r.stdout)
		}
		rows := parseReport(t, r.stdout)
		got := map[string]string{}
		for _, m := range errLineRE.FindAllStringSubmatch(r.stdout, -1) {
			got[m[1]+" "+m[2]+" "+m[3]] = m[4]
		}
		for _, op := range []string{"ingest", "aggregates"} {
			n := strconv.FormatInt(rows[op].requests, 10)
			if rows[op].requests == 0 || rows[op].errors != rows[op].requests || got[op+" 401 InvalidAuthenticationToken"] != n {
				t.Errorf("%s: row %+v, error lines %v; want every request counted as 401 InvalidAuthenticationToken", op, rows[op], got)
			}
		}
		if len(got) != 2 {
			t.Errorf("error lines %v; want exactly the two 401 lines", got)
		}

		// A reader of the subscription: its usage is refused (403), its
		// UsageAggregates reads succeed.
		reader := srv.Principal(t, "loadtest-reader", "Reader@/subscriptions/"+sub)
		r = runCLI(ctx, mapEnv(nil), append(common, "--token", reader, "--mix", "ingest=1,aggregates=1")...)
		if !errors.As(r.err, &ee) || ee != 1 {
			t.Fatalf("reader: err %v, want exit status 1\n%s", r.err, r.stdout)
		}
		rows = parseReport(t, r.stdout)
		got = map[string]string{}
		for _, m := range errLineRE.FindAllStringSubmatch(r.stdout, -1) {
			got[m[1]+" "+m[2]+" "+m[3]] = m[4]
		}
		if n := strconv.FormatInt(rows["ingest"].requests, 10); rows["ingest"].requests == 0 || got["ingest 403 AuthorizationFailed"] != n || len(got) != 1 {
			t.Errorf("reader: ingest row %+v, error lines %v; want every ingest counted as 403 AuthorizationFailed and nothing else", rows["ingest"], got)
		}
		if rows["aggregates"].requests == 0 || rows["aggregates"].errors != 0 {
			t.Errorf("reader: aggregates row %+v; want requests without error", rows["aggregates"])
		}

		// ctrl-C (the context ends) stops a one-hour run at once, with a
		// report of what ran.
		cctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		began := time.Now()
		r = runCLI(cctx, mapEnv(nil), "loadtest", "--server", srv.URL, "--token", srv.AdminToken, "--clients", "2",
			"--duration", "1h", "--subscriptions", sub, "--meters", meter, "--mix", "ingest=1,aggregates=1")
		if took := time.Since(began); took > 10*time.Second {
			t.Fatalf("interrupted run took %v", took)
		}
		if r.err != nil || !strings.Contains(r.stdout, "load test interrupted: 2 clients for ") {
			t.Fatalf("interrupted run: %v\n%s", r.err, r.stdout)
		}
		if rows := parseReport(t, r.stdout); rows["aggregates"].requests == 0 || rows["ingest"].requests == 0 || rows["total"].errors != 0 {
			t.Fatalf("interrupted run: rows %+v", rows)
		}
	})
}
