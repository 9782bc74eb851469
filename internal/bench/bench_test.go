package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// spec is the store of a backend: SQLite in a test directory, or fresh
// databases on the PostgreSQL server of RECKON_TEST_POSTGRES_DSN (a test
// fails, not skips, when that server is unreachable).
func spec(t *testing.T, b reckontest.Backend) StoreSpec {
	if b == reckontest.Postgres {
		return StoreSpec{PostgresDSN: os.Getenv(reckontest.PostgresEnv)}
	}
	return StoreSpec{TempDir: t.TempDir()}
}

// assertNoStoresLeft checks that a run removed its temporary stores.
func assertNoStoresLeft(t *testing.T, s StoreSpec) {
	t.Helper()
	if s.TempDir == "" {
		return
	}
	left, err := os.ReadDir(s.TempDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Errorf("the run left %d entries in its temporary directory, first %s", len(left), left[0].Name())
	}
}

func TestIngestSmall(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		c := IngestConfig{Store: spec(t, b), Records: 20_000, Clients: 4, Batch: 2_000, Subscriptions: 50, Meters: 20,
			InstancesPerSubscription: 10, BaselineTxRecords: 5_000, Seed: 7}
		res, err := RunIngest(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		const n = 20_000
		h := res.HTTP
		if h.Accepted != n || h.Duplicates != 0 || h.Rejected != 0 {
			t.Errorf("HTTP accepted %d, duplicates %d, rejected %d; want %d, 0, 0", h.Accepted, h.Duplicates, h.Rejected, n)
		}
		if h.Stored.Keys != n || h.Stored.Records != n || h.Stored.Segments == 0 {
			t.Errorf("HTTP store holds %+v, want %d keys and records in some segments", h.Stored, n)
		}
		if res.Requests != 10 || h.Latency.N != 10 {
			t.Errorf("%d requests, %d latencies; want 10", res.Requests, h.Latency.N)
		}
		if !(h.Latency.P50 > 0 && h.Latency.P50 <= h.Latency.P99 && h.Latency.P99 <= h.Latency.Max) {
			t.Errorf("latencies not ordered: %+v", h.Latency)
		}
		if h.Seconds <= 0 || h.RecordsPerSec <= 0 || res.BodyBytes < n*150 {
			t.Errorf("HTTP took %v s at %v records/s with %d body bytes", h.Seconds, h.RecordsPerSec, res.BodyBytes)
		}
		if res.Instances <= 0 || res.Instances > 50*10 {
			t.Errorf("%d instances, want 1 to 500", res.Instances)
		}
		bl := res.Baseline
		if bl == nil {
			t.Fatal("no baseline")
		}
		if bl.Stored.Keys != n || bl.Stored.Records != n || bl.Transactions != 4 || bl.RecordsPerSec <= 0 {
			t.Errorf("baseline: %+v", bl)
		}
		if want := h.RecordsPerSec / bl.RecordsPerSec; res.Ratio != want {
			t.Errorf("ratio %v, want %v", res.Ratio, want)
		}
		if len(res.Goals) != 2 || len(res.Failures) != 0 {
			t.Errorf("goals %+v, failures %v", res.Goals, res.Failures)
		}

		var out bytes.Buffer
		WriteIngest(&out, res)
		for _, want := range []string{"HTTP  POST /metering/v1/usage", "raw   store ingest transactions (baseline)", "HTTP / raw", "accepted 20,000 (N = 20,000)", "checks    all passed"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("report lacks %q:\n%s", want, out.String())
			}
		}
		path := filepath.Join(t.TempDir(), "ingest.json")
		if err := WriteJSON(path, res); err != nil {
			t.Fatal(err)
		}
		var back IngestResult
		data, _ := os.ReadFile(path)
		if err := json.Unmarshal(data, &back); err != nil || back.HTTP.Accepted != n || back.Baseline.Stored.Records != n {
			t.Errorf("JSON round trip: %v, %+v", err, back.HTTP)
		}
		assertNoStoresLeft(t, c.Store)
	})
}

func smallAggregates(s StoreSpec) AggregatesConfig {
	return AggregatesConfig{Store: s, Records: 30_000, Subscriptions: 10, Series: 100, Meters: 20, LoadBatch: 10_000, LoadCacheMiB: 64,
		FirstPageRequests: 10, PageSubscriptions: 4, Clients: 2, RSSDuration: 500 * time.Millisecond, Seed: 3,
		Now: func() time.Time { return time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC) }}
}

// checkAggregates asserts what the small data set must give: 3000 records
// per subscription, each of the 100 series every 24.8 hours of October
// 2026, so that no two of a series' records share a day or an hour.
func checkAggregates(t *testing.T, res *AggregatesResult) {
	t.Helper()
	if res.Month != "2026-10" || res.Records != 30_000 || res.Stored.Keys != 30_000 || res.Stored.Records != 30_000 {
		t.Errorf("month %s, %d records, stored %+v; want 2026-10 and 30000", res.Month, res.Records, res.Stored)
	}
	if res.DailyRows != 3000 || res.HourlyRows != 3000 {
		t.Errorf("%d daily and %d hourly rows per subscription, want 3000 and 3000", res.DailyRows, res.HourlyRows)
	}
	// One segment per subscription and hour with records: 3000 records
	// over 744 hours touch every hour.
	if res.Stored.Segments != 10*744 {
		t.Errorf("%d segments, want %d", res.Stored.Segments, 10*744)
	}
	fp := res.FirstPage
	if fp.Requests != 10 || fp.RowsPerPage != 1000 || fp.HTTP.N != 10 || fp.Raw.N != 10 || fp.HTTP.P50 <= 0 || fp.Raw.P50 <= 0 {
		t.Errorf("first page: %+v", fp)
	}
	if len(res.Paging) != 2 {
		t.Fatalf("paging results: %+v", res.Paging)
	}
	for i, g := range []string{"Daily", "Hourly"} {
		p := res.Paging[i]
		if p.Granularity != g || p.Subscriptions != 4 || p.Rows != 4*3000 || p.Pages != 4*3 || p.RawRecords != 4*3000 || p.RowsPerSec <= 0 || p.RawRowsPerSec <= 0 {
			t.Errorf("paging %s: %+v", g, p)
		}
	}
	if rs := res.RSS; rs.Samples < 2 || rs.MinMiB <= 0 || rs.ServerStartMiB <= 0 || rs.MaxMiB < rs.MinMiB || rs.Rows == 0 || rs.Rows%1000 != 0 && rs.Rows%3000 != 0 {
		t.Errorf("RSS: %+v", rs)
	}
	if len(res.Goals) != 4 || len(res.Failures) != 0 {
		t.Errorf("goals %+v, failures %v", res.Goals, res.Failures)
	}
}

func TestAggregatesSmall(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		c := smallAggregates(spec(t, b))
		res, err := RunAggregates(t.Context(), c)
		if err != nil {
			t.Fatal(err)
		}
		checkAggregates(t, res)
		if res.Reused || res.LoadSeconds <= 0 {
			t.Errorf("reused %t, load %v s; want a fresh load", res.Reused, res.LoadSeconds)
		}
		var out bytes.Buffer
		WriteAggregates(&out, res)
		for _, want := range []string{"(a) first page", "HTTP  GET UsageAggregates", "raw   scan and decode of the month", "(b) every page",
			"Daily, showDetails=true", "Hourly, showDetails=true", "(c) VmRSS", "checks    all passed"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("report lacks %q:\n%s", want, out.String())
			}
		}
		assertNoStoresLeft(t, c.Store)
	})
}

// TestAggregatesReuse builds a data set in a directory, reuses it, and
// refuses it for another size.
func TestAggregatesReuse(t *testing.T) {
	dir := t.TempDir()
	c := smallAggregates(StoreSpec{TempDir: t.TempDir()})
	c.Reuse, c.RSSDuration = dir, 0
	first, err := RunAggregates(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if first.Reused {
		t.Error("the first run reports a reused data set")
	}
	if _, err := os.Stat(filepath.Join(dir, manifestName)); err != nil {
		t.Fatalf("no manifest: %v", err)
	}
	second, err := RunAggregates(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	if !second.Reused || second.LoadSeconds != first.LoadSeconds || second.Stored != first.Stored {
		t.Errorf("second run: reused %t, load %v s, stored %+v; want reused, %v s, %+v", second.Reused, second.LoadSeconds, second.Stored, first.LoadSeconds, first.Stored)
	}
	if second.Paging[0].Rows != first.Paging[0].Rows || second.Paging[1].Rows != first.Paging[1].Rows {
		t.Errorf("the reused data set pages %d/%d rows, the fresh one %d/%d", second.Paging[0].Rows, second.Paging[1].Rows, first.Paging[0].Rows, first.Paging[1].Rows)
	}
	c.Records = 40_000
	if _, err := RunAggregates(t.Context(), c); err == nil || !strings.Contains(err.Error(), "holds another data set") {
		t.Errorf("reusing a data set of another size: %v", err)
	}
}

func TestParsePage(t *testing.T) {
	// A quantity key inside a string is escaped and must not count; the
	// nextLink's escapes must be decoded.
	body := []byte(`{"value":[` +
		`{"id":"x","properties":{"meterName":"say \"quantity\":9","instanceData":"{\"quantity\":5}","quantity":1.5}},` +
		`{"id":"y","properties":{"infoFields":{},"quantity":2}},` +
		`{"id":"z","properties":{"quantity":0.000000001}}` +
		`],"nextLink":"http://127.0.0.1:1/subscriptions/s?a=1\u0026continuationToken=abc%2Bd"}`)
	rows, sum, next, err := parsePage(body)
	if err != nil {
		t.Fatal(err)
	}
	if rows != 3 || sum != 3_500_000_001 || next != "http://127.0.0.1:1/subscriptions/s?a=1&continuationToken=abc%2Bd" {
		t.Errorf("rows %d, sum %d, next %q", rows, sum, next)
	}
	rows, sum, next, err = parsePage([]byte(`{"value":[]}`))
	if err != nil || rows != 0 || sum != 0 || next != "" {
		t.Errorf("empty page: %d %d %q %v", rows, sum, next, err)
	}
	if _, _, _, err := parsePage([]byte(`{"error":{"code":"X","message":"y"}}`)); err == nil {
		t.Error("an error envelope parsed as a page")
	}
}

func TestSummarize(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(201-i)*time.Millisecond)
	}
	l := summarize(ds)
	if l.N != 200 || l.P50 != 100 || l.P95 != 190 || l.P99 != 198 || l.Max != 200 || l.Mean != 100.5 {
		t.Errorf("%+v", l)
	}
	if ds[0] != 200*time.Millisecond {
		t.Error("summarize sorted its argument")
	}
}

func TestPlanSpreadsEvenly(t *testing.T) {
	p := &aggPlan{Records: 10_000_000, Subscriptions: 1000, Series: 100, Meters: 20, Month: time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), Seed: 1}
	if p.hours() != 744 {
		t.Fatalf("October has %d hours", p.hours())
	}
	// Every record falls in exactly one hour: the hours partition [0, R).
	if p.firstOf(0) != 0 || p.firstOf(p.hours()) != p.perSub() {
		t.Errorf("hours cover [%d, %d), want [0, %d)", p.firstOf(0), p.firstOf(p.hours()), p.perSub())
	}
	for h := range p.hours() {
		for _, i := range []int{p.firstOf(h), p.firstOf(h+1) - 1} {
			if p.hourOf(i) != h {
				t.Fatalf("record %d is in hour %d, not %d", i, p.hourOf(i), h)
			}
		}
	}
	// 10,000 records of 100 series: every series on each of the 31 days,
	// never twice in an hour.
	e := p.expect(0)
	if e.daily != 3100 || e.hourly != 10_000 {
		t.Errorf("daily %d, hourly %d; want 3100 and 10000", e.daily, e.hourly)
	}
	// Series are distinct (instance, meter) pairs.
	seen := map[[2]int]bool{}
	for j := range p.Series {
		k := [2]int{j % p.resources(), p.meterOf(j)}
		if seen[k] {
			t.Fatalf("series %d repeats %v", j, k)
		}
		seen[k] = true
	}
	if got := p.reportedAt(743); !got.Before(p.end()) {
		t.Errorf("the last hour is reported at %v, not inside the month", got)
	}
}
