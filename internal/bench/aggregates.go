package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// AggregatesConfig configures the UsageAggregates benchmark.
type AggregatesConfig struct {
	Store StoreSpec
	// Reuse, when set, is a directory that keeps the data set between runs:
	// the first run builds it there (the SQLite file, or for PostgreSQL the
	// name of the database it keeps), later runs with the same sizes reuse it.
	Reuse string
	// Records is the size of the data set (N), spread evenly over the
	// subscriptions.
	Records       int
	Subscriptions int
	// Series is the instance×meter series of each subscription.
	Series int
	Meters int
	// LoadBatch is the records per load transaction.
	LoadBatch int
	// LoadCacheMiB is the SQLite page cache while loading.
	LoadCacheMiB int
	// FirstPageRequests is how many first pages are timed in (a), over
	// different subscriptions.
	FirstPageRequests int
	// PageSubscriptions is how many subscriptions are paged through in (b),
	// for each granularity.
	PageSubscriptions int
	// Clients is how many clients page at once in (b) and (c).
	Clients int
	// RSSDuration is how long (c) pages while sampling the RSS.
	RSSDuration time.Duration
	// Seed makes the data set reproducible (record ids are random UUIDv4).
	Seed uint64
	// Now is the clock that picks the month (the previous calendar month).
	Now func() time.Time
	// Progress receives progress lines and server warnings; nil discards them.
	Progress io.Writer
}

// DefaultAggregates is the full UsageAggregates benchmark.
func DefaultAggregates() AggregatesConfig {
	return AggregatesConfig{Records: 10_000_000, Subscriptions: 1000, Series: 100, Meters: 20, LoadBatch: 500_000, LoadCacheMiB: 1024,
		FirstPageRequests: 200, PageSubscriptions: 50, Clients: 2, RSSDuration: time.Minute, Seed: 1}
}

// SmallAggregates is a smoke-test size of the UsageAggregates benchmark.
func SmallAggregates() AggregatesConfig {
	c := DefaultAggregates()
	c.Records, c.Subscriptions, c.LoadBatch, c.FirstPageRequests, c.PageSubscriptions, c.RSSDuration = 200_000, 50, 100_000, 50, 10, 5*time.Second
	return c
}

// AggregatesResult is the outcome of the UsageAggregates benchmark.
type AggregatesResult struct {
	Machine       Machine      `json:"machine"`
	Backend       string       `json:"backend"`
	Store         string       `json:"store"`
	Reused        bool         `json:"reused"`
	Month         string       `json:"month"`
	Records       int          `json:"records"`
	Subscriptions int          `json:"subscriptions"`
	Series        int          `json:"seriesPerSubscription"`
	Meters        int          `json:"meters"`
	Instances     int          `json:"instances"`
	Stored        StoredCounts `json:"stored"`
	StoreBytes    int64        `json:"storeBytes"`
	// LoadSeconds is how long building the data set took (when it was
	// built in this run, or as recorded when it was).
	LoadSeconds       float64 `json:"loadSeconds"`
	LoadRecordsPerSec float64 `json:"loadRecordsPerSec"`
	LoadMethod        string  `json:"loadMethod"`
	// DailyRows and HourlyRows are the rows of a one-month query of one
	// subscription (the first one), showDetails=true.
	DailyRows  int             `json:"dailyRowsPerSubscription"`
	HourlyRows int             `json:"hourlyRowsPerSubscription"`
	FirstPage  FirstPageResult `json:"firstPage"`
	Paging     []PagingResult  `json:"paging"`
	RSS        RSSResult       `json:"rss"`
	Baseline   string          `json:"baseline"`
	Goals      []Goal          `json:"goals"`
	Failures   []string        `json:"failures,omitempty"`
}

// FirstPageResult is (a): the first page of a one-month Daily query.
type FirstPageResult struct {
	Requests    int     `json:"requests"`
	RowsPerPage int     `json:"rowsPerPage"`
	HTTP        Latency `json:"http"`
	// Raw is the raw scan and decode of the same subscription's month.
	Raw Latency `json:"raw"`
	// Ratio is the HTTP p50 over the raw p50.
	Ratio float64 `json:"ratio"`
}

// PagingResult is (b): every page of one-month queries, one granularity.
type PagingResult struct {
	Granularity   string  `json:"granularity"`
	Subscriptions int     `json:"subscriptions"`
	Clients       int     `json:"clients"`
	Pages         int     `json:"pages"`
	Rows          int     `json:"rows"`
	Seconds       float64 `json:"seconds"`
	RowsPerSec    float64 `json:"rowsPerSec"`
	// RawSeconds is the raw scan and decode of the same subscriptions'
	// months, once each, with as many clients.
	RawSeconds       float64 `json:"rawSeconds"`
	RawRecords       int     `json:"rawRecords"`
	RawRowsPerSec    float64 `json:"rawRowsPerSec"`
	RawRecordsPerSec float64 `json:"rawRecordsPerSec"`
	// Ratio is RowsPerSec over RawRowsPerSec (= RawSeconds / Seconds).
	Ratio float64 `json:"ratio"`
}

// RSSResult is (c): the resident set size while paging.
type RSSResult struct {
	Seconds    float64 `json:"seconds"`
	Samples    int     `json:"samples"`
	StartMiB   float64 `json:"startMiB"`
	MinMiB     float64 `json:"minMiB"`
	MaxMiB     float64 `json:"maxMiB"`
	EndMiB     float64 `json:"endMiB"`
	HeapMaxMiB float64 `json:"heapMaxMiB"`
	// ServerStartMiB is the RSS when the server had just started, before
	// any query: what (c) adds to it is caches and buffers.
	ServerStartMiB float64 `json:"serverStartMiB"`
	Pages          int     `json:"pages"`
	Rows           int     `json:"rows"`
	RowsPerSec     float64 `json:"rowsPerSec"`
}

// aggPlan is a data set: it is deterministic, so that a reused store can be
// checked against what it must answer.
type aggPlan struct {
	Version       int       `json:"version"`
	Backend       string    `json:"backend"`
	Database      string    `json:"database,omitempty"`
	Records       int       `json:"records"`
	Subscriptions int       `json:"subscriptions"`
	Series        int       `json:"series"`
	Meters        int       `json:"meters"`
	Month         time.Time `json:"month"`
	Seed          uint64    `json:"seed"`
	LoadSeconds   float64   `json:"loadSeconds,omitempty"`
	LoadBatch     int       `json:"loadBatch,omitempty"`
}

const planVersion = 1

const manifestName = "reckon-bench.json"

func (p *aggPlan) perSub() int    { return p.Records / p.Subscriptions }
func (p *aggPlan) end() time.Time { return p.Month.AddDate(0, 1, 0) }
func (p *aggPlan) hours() int     { return int(p.end().Sub(p.Month) / time.Hour) }
func (p *aggPlan) resources() int { return (p.Series + 1) / 2 }

// hourOf is the usage hour (from the month's start) of a subscription's
// record i: a subscription's records are spread evenly over the month.
func (p *aggPlan) hourOf(i int) int { return i * p.hours() / p.perSub() }

// firstOf is the first record of hour h.
func (p *aggPlan) firstOf(h int) int { return (h*p.perSub() + p.hours() - 1) / p.hours() }

// Series j is resource j%resources metered by meterOf(j): every series of a
// subscription is a distinct (instance, meter) pair.
func (p *aggPlan) meterOf(j int) int { return (j/p.resources() + 2*(j%p.resources())) % p.Meters }

// reportedAt is when the records of hour h were reported: five minutes
// after the hour, inside the month.
func (p *aggPlan) reportedAt(h int) time.Time {
	t := p.Month.Add(time.Duration(h+1)*time.Hour + 5*time.Minute)
	if last := p.end().Add(-time.Minute); t.After(last) {
		t = last
	}
	return t
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// quantity is record i of subscription s: a JSON integer in three cases
// out of ten, else a decimal string with six decimals.
func (p *aggPlan) quantity(s, i int) (uint64, bool) {
	x := splitmix64(p.Seed*0x9e3779b97f4a7c15 ^ uint64(s)<<32 ^ uint64(i))
	if x%10 < 3 {
		return (1 + (x>>8)%100) * 1_000_000_000, true
	}
	return (1 + (x>>8)%50_000_000) * 1000, false
}

func (p *aggPlan) resource(sub string, s, r int) resource {
	envs := []string{"prod", "staging", "dev", "test"}
	tags := map[string]string{"env": envs[r%len(envs)], "team": fmt.Sprintf("team-%02d", s%40)}
	if r%2 == 0 {
		tags["costCenter"] = fmt.Sprintf("CC-%04d", (s*31+r)%10000)
	}
	raw, _ := json.Marshal(tags)
	return resource{
		uri:      fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-%d/providers/Microsoft.Compute/virtualMachines/vm-%03d", sub, r%5, r),
		location: locations[(s+r)%len(locations)],
		tags:     raw,
	}
}

// subExpect is what a one-month query of a subscription must answer.
type subExpect struct {
	daily, hourly int
	total         uint64 // nanounits
}

func (p *aggPlan) expect(s int) subExpect {
	H, K, R := p.hours(), p.Series, p.perSub()
	days := H / 24
	dayHit := make([]bool, K*days)
	hourHit := make([]bool, K*H)
	var e subExpect
	for i := range R {
		h, j := p.hourOf(i), i%K
		if !dayHit[j*days+h/24] {
			dayHit[j*days+h/24] = true
			e.daily++
		}
		if !hourHit[j*H+h] {
			hourHit[j*H+h] = true
			e.hourly++
		}
		q, _ := p.quantity(s, i)
		e.total += q
	}
	return e
}

func (c *AggregatesConfig) check() error {
	switch {
	case c.Records <= 0, c.Subscriptions <= 0, c.Series <= 0, c.Meters < 2, c.LoadBatch <= 0,
		c.FirstPageRequests <= 0, c.PageSubscriptions <= 0, c.Clients <= 0:
		return errors.New("bench: --records, --subscriptions, --series, --load-batch, --first-page-requests, --page-subscriptions and --clients must be positive, --meters at least 2")
	case c.Records/c.Subscriptions < c.Series:
		return fmt.Errorf("bench: %d records over %d subscriptions is fewer than %d series per subscription", c.Records, c.Subscriptions, c.Series)
	}
	return c.Store.check()
}

// month is the previous calendar month, fully settled.
func previousMonth(now time.Time) time.Time {
	now = now.UTC().Add(-time.Hour) // a month that ended a moment ago may not have settled
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -1, 0)
}

// RunAggregates runs the UsageAggregates benchmark. It returns the result
// even when a check fails; the error then lists the failures.
func RunAggregates(ctx context.Context, c AggregatesConfig) (*AggregatesResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LoadCacheMiB <= 0 {
		c.LoadCacheMiB = SQLiteCacheMiB
	}
	plan := &aggPlan{Version: planVersion, Backend: c.Store.backend(), Records: c.Records / c.Subscriptions * c.Subscriptions,
		Subscriptions: c.Subscriptions, Series: c.Series, Meters: c.Meters, Month: previousMonth(c.Now()), Seed: c.Seed}
	res := &AggregatesResult{Machine: ThisMachine(), Backend: plan.Backend, Records: plan.Records, Subscriptions: plan.Subscriptions,
		Series: plan.Series, Meters: plan.Meters}

	bs, err := openDataSet(ctx, &c, plan, res)
	if err != nil {
		return nil, err
	}
	defer bs.close()
	res.Month = plan.Month.Format("2006-01")
	res.Store = bs.Desc
	res.LoadSeconds = plan.LoadSeconds
	if plan.LoadSeconds > 0 {
		res.LoadRecordsPerSec = float64(plan.Records) / plan.LoadSeconds
	}
	res.LoadMethod = "store.DB.Ingest transactions of " + strconv.Itoa(plan.LoadBatch) + " records (usage.IngestTx: keys and segments written directly, one segment per subscription and reported hour, explicit reported times); records validated by usage.Validate in parallel"
	res.Instances = plan.Subscriptions * plan.resources()
	if res.Stored, err = countStored(ctx, bs.dsn); err != nil {
		return nil, err
	}
	res.StoreBytes = storeSize(ctx, bs)
	e0 := plan.expect(0)
	res.DailyRows, res.HourlyRows = e0.daily, e0.hourly
	fail := func(format string, args ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, args...)) }
	if res.Stored.Keys != int64(plan.Records) || res.Stored.Records != int64(plan.Records) {
		fail("the store holds %d keys and %d records, want %d", res.Stored.Keys, res.Stored.Records, plan.Records)
	}

	srv, err := startServer(ctx, bs.DB, newLogger(c.Progress), 0)
	if err != nil {
		return nil, err
	}
	defer srv.close()
	if rss, ok := RSSBytes(); ok {
		res.RSS.ServerStartMiB = float64(rss) / (1 << 20)
	}
	q := &aggQueries{plan: plan, srv: srv, client: httpClient(c.Clients + 1), expect: map[int]subExpect{}}
	defer q.client.CloseIdleConnections()
	// As many raw connections as clients: their page caches live in this
	// process too, and would count in the RSS of (c).
	if q.raw, err = openRaw(bs.dsn, c.Clients); err != nil {
		return nil, err
	}
	defer q.raw.Close()
	q.rawQuery = rawRebind(bs.dsn, `SELECT data FROM usage_segments WHERE subscription_key = ? AND reported_us >= ? AND reported_us < ?`)
	ids := make([]string, plan.Subscriptions)
	for i := range ids {
		ids[i] = subscriptionGUID(plan.Seed, i)
	}
	keys, err := bs.DB.SubscriptionKeys(ctx, ids)
	if err != nil {
		return nil, err
	}
	q.subKeys = make([]int64, len(ids))
	for i, id := range ids {
		q.subKeys[i] = keys[id]
	}
	res.Baseline = "raw SQL through the driver alone: " + q.rawQuery + " (one query per subscription and month, no ORDER BY), usage.DecodeSegment over every record; no aggregation, no HTTP, no JSON"

	firstSubs := spread(plan.Subscriptions, c.FirstPageRequests, 0)
	pageSubs := spread(plan.Subscriptions, c.PageSubscriptions, 1)
	for _, s := range append(slices.Clone(firstSubs), pageSubs...) {
		if _, ok := q.expect[s]; !ok {
			q.expect[s] = plan.expect(s)
		}
	}
	// Warm the caches for both paths alike: one raw pass over every
	// subscription measured.
	progressf(c.Progress, "aggregates: warming up")
	if _, err := q.rawPass(ctx, unique(append(slices.Clone(firstSubs), pageSubs...)), c.Clients, fail); err != nil {
		return nil, err
	}
	for _, s := range firstSubs[:min(5, len(firstSubs))] {
		if _, _, _, err := q.get(ctx, q.url(s, "Daily"), new(bytes.Buffer)); err != nil {
			return nil, err
		}
	}

	// (a) First page, one client.
	progressf(c.Progress, "aggregates: (a) %d first pages, Daily, one month", len(firstSubs))
	fp := FirstPageResult{Requests: len(firstSubs)}
	var httpLat, rawLat []time.Duration
	var buf bytes.Buffer
	for _, s := range firstSubs {
		t := time.Now()
		rows, _, next, err := q.get(ctx, q.url(s, "Daily"), &buf)
		if err != nil {
			return nil, err
		}
		httpLat = append(httpLat, time.Since(t))
		e := q.expect[s]
		if want := min(e.daily, usage.PageSize); rows != want || (next != "") != (e.daily > usage.PageSize) {
			fail("(a) subscription %d: first page has %d rows (nextLink %t), want %d (nextLink %t)", s, rows, next != "", want, e.daily > usage.PageSize)
		}
		fp.RowsPerPage = rows
	}
	for _, s := range firstSubs {
		t := time.Now()
		n, sum, err := q.rawScan(ctx, s)
		if err != nil {
			return nil, err
		}
		rawLat = append(rawLat, time.Since(t))
		if e := q.expect[s]; n != plan.perSub() || sum != e.total {
			fail("(a) raw scan of subscription %d: %d records totalling %d, want %d totalling %d", s, n, sum, plan.perSub(), e.total)
		}
	}
	fp.HTTP, fp.Raw = summarize(httpLat), summarize(rawLat)
	fp.Ratio = fp.HTTP.P50 / fp.Raw.P50
	res.FirstPage = fp

	// (b) Every page, Daily and Hourly, against one raw pass.
	progressf(c.Progress, "aggregates: (b) paging through %d subscriptions, %d clients", len(pageSubs), c.Clients)
	raw, err := q.rawPass(ctx, pageSubs, c.Clients, fail)
	if err != nil {
		return nil, err
	}
	for _, g := range []string{"Daily", "Hourly"} {
		run, err := q.pageMany(ctx, pageSubs, []string{g}, c.Clients, time.Time{}, fail)
		if err != nil {
			return nil, err
		}
		pr := PagingResult{Granularity: g, Subscriptions: len(pageSubs), Clients: c.Clients, Pages: run.pages, Rows: run.rows,
			Seconds: run.wall.Seconds(), RawSeconds: raw.wall.Seconds(), RawRecords: raw.records}
		pr.RowsPerSec = float64(pr.Rows) / pr.Seconds
		pr.RawRowsPerSec = float64(pr.Rows) / pr.RawSeconds
		pr.RawRecordsPerSec = float64(pr.RawRecords) / pr.RawSeconds
		pr.Ratio = pr.RowsPerSec / pr.RawRowsPerSec
		res.Paging = append(res.Paging, pr)
		progressf(c.Progress, "aggregates: (b) %s: %.0f rows/s", g, pr.RowsPerSec)
	}

	// (c) RSS while paging for a while.
	if c.RSSDuration > 0 {
		progressf(c.Progress, "aggregates: (c) paging for %s while sampling the RSS", c.RSSDuration)
		q.raw.Close() // the baseline is done: only the server and its clients remain
		runtime.GC()
		debug.FreeOSMemory()
		rss, err := q.rssRun(ctx, c.Clients, c.RSSDuration, fail)
		if err != nil {
			return nil, err
		}
		rss.ServerStartMiB = res.RSS.ServerStartMiB
		res.RSS = rss
	}

	res.Goals = append(res.Goals, Goal{Name: "(a) first page, Daily, one month", Target: "p50 < 50 ms",
		Value: fmt.Sprintf("p50 %.1f ms", fp.HTTP.P50), Met: fp.HTTP.P50 < 50})
	for _, pr := range res.Paging {
		res.Goals = append(res.Goals, Goal{Name: "(b) paging, " + pr.Granularity, Target: "≥ 100,000 rows/s",
			Value: groupf(pr.RowsPerSec) + " rows/s", Met: pr.RowsPerSec >= 100_000})
	}
	if c.RSSDuration > 0 {
		spreadMiB := res.RSS.MaxMiB - res.RSS.MinMiB
		res.Goals = append(res.Goals, Goal{Name: "(c) RSS while paging", Target: "flat within 100 MB",
			Value: fmt.Sprintf("%.0f–%.0f MiB (spread %.0f MiB)", res.RSS.MinMiB, res.RSS.MaxMiB, spreadMiB), Met: spreadMiB*(1<<20) <= 100e6})
	}
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("bench: aggregates checks failed: %v", res.Failures)
	}
	return res, nil
}

// spread picks n subscriptions of total, evenly spaced; offset shifts them
// by half a step so that two calls pick different ones.
func spread(total, n, offset int) []int {
	out := make([]int, n)
	for k := range n {
		if n <= total {
			out[k] = (k*total/n + offset*total/(2*n)) % total
		} else {
			out[k] = (k + offset) % total
		}
	}
	return out
}

func unique(s []int) []int {
	slices.Sort(s)
	return slices.Compact(s)
}

// openDataSet opens the data set: reused from c.Reuse, or built now.
func openDataSet(ctx context.Context, c *AggregatesConfig, plan *aggPlan, res *AggregatesResult) (*benchStore, error) {
	if c.Reuse != "" {
		if err := os.MkdirAll(c.Reuse, 0o700); err != nil {
			return nil, fmt.Errorf("bench: --reuse: %w", err)
		}
		data, err := os.ReadFile(filepath.Join(c.Reuse, manifestName))
		switch {
		case err == nil:
			var old aggPlan
			if err := json.Unmarshal(data, &old); err != nil {
				return nil, fmt.Errorf("bench: --reuse: %s: %w", manifestName, err)
			}
			if old.Version != plan.Version || old.Backend != plan.Backend || old.Records != plan.Records || old.Subscriptions != plan.Subscriptions ||
				old.Series != plan.Series || old.Meters != plan.Meters || old.Seed != plan.Seed {
				return nil, fmt.Errorf("bench: --reuse %s holds another data set (%s, %d records, %d subscriptions, %d series, %d meters); remove it or choose another directory",
					c.Reuse, old.Backend, old.Records, old.Subscriptions, old.Series, old.Meters)
			}
			*plan = old
			progressf(c.Progress, "aggregates: reusing the data set in %s (%d records, month %s)", c.Reuse, plan.Records, plan.Month.Format("2006-01"))
			res.Reused = true
			if plan.Backend == "postgres" {
				dsn, err := withDatabase(c.Store.PostgresDSN, plan.Database)
				if err != nil {
					return nil, err
				}
				return openPostgresStore(ctx, dsn, plan.Database)
			}
			return openSQLiteStore(ctx, c.Reuse, SQLiteCacheMiB)
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("bench: --reuse: %w", err)
		}
		if _, err := os.Stat(filepath.Join(c.Reuse, "reckon.db")); err == nil {
			return nil, fmt.Errorf("bench: --reuse %s holds a store without %s (an interrupted load?); remove it", c.Reuse, manifestName)
		}
	}

	// Build it.
	var bs *benchStore
	var err error
	switch {
	case c.Reuse != "" && plan.Backend == "postgres":
		var dsn, name string
		dsn, name, _, err = createPostgresDatabase(ctx, c.Store.PostgresDSN, "reckon_bench_aggregates")
		if err != nil {
			return nil, err
		}
		plan.Database = name
		bs, err = openPostgresStore(ctx, dsn, name)
	case c.Reuse != "":
		bs, err = openSQLiteStore(ctx, c.Reuse, c.LoadCacheMiB)
	default:
		bs, err = c.Store.freshStore(ctx, "aggregates", c.LoadCacheMiB, c.Progress)
	}
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := loadDataSet(ctx, c, plan, bs.DB); err != nil {
		bs.close()
		return nil, err
	}
	plan.LoadSeconds, plan.LoadBatch = time.Since(t0).Seconds(), c.LoadBatch
	progressf(c.Progress, "aggregates: loaded %d records in %.1f s", plan.Records, plan.LoadSeconds)
	if c.Reuse != "" {
		data, _ := json.MarshalIndent(plan, "", "  ")
		if err := os.WriteFile(filepath.Join(c.Reuse, manifestName), data, 0o600); err != nil {
			bs.close()
			return nil, err
		}
	}
	if plan.Backend == "sqlite" {
		// Serve with the page cache "reckon serve" uses, not the loader's.
		bs.DB.Close()
		dir := filepath.Dir(bs.dsn[len("sqlite:"):])
		reopened, err := openSQLiteStore(ctx, dir, SQLiteCacheMiB)
		if err != nil {
			bs.cleanup()
			return nil, err
		}
		reopened.cleanup = bs.cleanup
		bs = reopened
	}
	return bs, nil
}

func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("bench: --db: %w", err)
	}
	u.Path = "/" + name
	return u.String(), nil
}

func storeSize(ctx context.Context, bs *benchStore) int64 {
	if bs.DB.Dialect() == store.Postgres {
		raw, err := openRaw(bs.dsn, 1)
		if err != nil {
			return 0
		}
		defer raw.Close()
		var n int64
		raw.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&n)
		return n
	}
	path := bs.dsn[len("sqlite:"):]
	var n int64
	for _, suffix := range []string{"", "-wal"} {
		if st, err := os.Stat(path + suffix); err == nil {
			n += st.Size()
		}
	}
	return n
}

type loadChunk struct {
	rows    []usage.KeyRow
	segs    []usage.Segment
	records int
	err     error
}

// loadDataSet writes the data set with the store's ingest transactions:
// workers validate records and pack segments while one writer commits
// chunks of hours in order.
func loadDataSet(ctx context.Context, c *AggregatesConfig, p *aggPlan, db *store.DB) error {
	progressf(c.Progress, "aggregates: creating %d subscriptions and %d meters", p.Subscriptions, p.Meters)
	subIDs, meterIDs, err := populate(ctx, db, p.Seed, p.Subscriptions, p.Meters)
	if err != nil {
		return err
	}
	subKeyMap, err := db.SubscriptionKeys(ctx, subIDs)
	if err != nil {
		return err
	}
	meterKeyMap, err := db.MeterKeys(ctx, meterIDs)
	if err != nil {
		return err
	}
	subKeys := make([]int64, len(subIDs))
	for i, id := range subIDs {
		subKeys[i] = subKeyMap[id]
	}
	meterKeys := make([]int64, len(meterIDs))
	for i, id := range meterIDs {
		meterKeys[i] = meterKeyMap[id]
	}

	// Resources and their instance keys.
	nRes := p.resources()
	res := make([]resource, p.Subscriptions*nRes)
	insts := make([]usage.NewInstance, len(res))
	now := time.Now()
	for s := range p.Subscriptions {
		for r := range nRes {
			rs := p.resource(subIDs[s], s, r)
			res[s*nRes+r] = rs
			in := usage.RecordInput{ID: "x", SubscriptionID: subIDs[s], MeterID: meterIDs[0], Quantity: json.RawMessage("1"),
				UsageStartTime: p.Month.Format(time.RFC3339), UsageEndTime: p.Month.Add(time.Hour).Format(time.RFC3339),
				ResourceURI: rs.uri, Location: rs.location, Tags: rs.tags}
			rec, rej := usage.Validate(&in, now, true)
			if rej != nil {
				return fmt.Errorf("bench: resource %d/%d: %s", s, r, rej.Message)
			}
			insts[s*nRes+r] = usage.NewInstance{SubscriptionKey: subKeys[s], Hash: rec.Instance.Hash, Data: rec.Instance.Data}
		}
	}
	instKeys := make([]int64, len(insts))
	for lo := 0; lo < len(insts); lo += 10_000 {
		hi := min(lo+10_000, len(insts))
		err := db.Ingest(ctx, func(tx usage.IngestTx) error {
			keys, err := tx.InstanceKeys(ctx, insts[lo:hi])
			copy(instKeys[lo:], keys)
			return err
		})
		if err != nil {
			return fmt.Errorf("bench: instances: %w", err)
		}
	}

	H := p.hours()
	perHour := max(1, p.Records/H)
	hoursPerChunk := max(1, min(H, c.LoadBatch/perHour))
	nChunks := (H + hoursPerChunk - 1) / hoursPerChunk
	progressf(c.Progress, "aggregates: loading %d records over %d subscriptions (%d transactions)", p.Records, p.Subscriptions, nChunks)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := runtime.GOMAXPROCS(0)
	results := make([]chan loadChunk, nChunks)
	for i := range results {
		results[i] = make(chan loadChunk, 1)
	}
	sem := make(chan struct{}, workers+1)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					return
				}
				k := int(next.Add(1) - 1)
				if k >= nChunks {
					<-sem
					return
				}
				h0, h1 := k*hoursPerChunk, min((k+1)*hoursPerChunk, H)
				results[k] <- buildChunk(ctx, p, h0, h1, subIDs, meterIDs, subKeys, meterKeys, res, instKeys, now)
			}
		}()
	}
	// On an early return, stop the workers before waiting for them: they
	// may be blocked on sem, which only the writer below drains.
	defer func() {
		cancel()
		wg.Wait()
	}()
	start := time.Now()
	done, lastReport := 0, time.Now()
	for k := range nChunks {
		var ch loadChunk
		select {
		case ch = <-results[k]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if ch.err != nil {
			return ch.err
		}
		err := db.Ingest(ctx, func(tx usage.IngestTx) error {
			existing, err := tx.InsertKeys(ctx, ch.rows)
			if err != nil {
				return err
			}
			if len(existing) > 0 {
				return fmt.Errorf("%d keys already existed in a fresh store", len(existing))
			}
			return tx.InsertSegments(ctx, ch.segs)
		})
		<-sem
		if err != nil {
			return fmt.Errorf("bench: load: %w", err)
		}
		done += ch.records
		if time.Since(lastReport) > 10*time.Second || k == nChunks-1 {
			lastReport = time.Now()
			el := time.Since(start).Seconds()
			progressf(c.Progress, "aggregates: loaded %d/%d records (%.0f%%), %.0f records/s", done, p.Records, 100*float64(done)/float64(p.Records), float64(done)/el)
		}
	}
	return nil
}

// buildChunk validates and packs the records of hours [h0, h1).
func buildChunk(ctx context.Context, p *aggPlan, h0, h1 int, subIDs, meterIDs []string, subKeys, meterKeys []int64, res []resource, instKeys []int64, now time.Time) loadChunk {
	var ch loadChunk
	nRes := p.resources()
	var stored []usage.StoredRecord
	for h := h0; h < h1; h++ {
		if err := ctx.Err(); err != nil {
			ch.err = err
			return ch
		}
		start := p.Month.Add(time.Duration(h) * time.Hour)
		startS, endS := start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339)
		reported := p.reportedAt(h)
		reportedS := reported.Format(time.RFC3339)
		lo, hi := p.firstOf(h), p.firstOf(h+1)
		for s := range p.Subscriptions {
			stored = stored[:0]
			for i := lo; i < hi; i++ {
				j := i % p.Series
				r := j % nRes
				m := p.meterOf(j)
				qn, integer := p.quantity(s, i)
				rs := &res[s*nRes+r]
				in := usage.RecordInput{ID: uuid.NewString(), SubscriptionID: subIDs[s], MeterID: meterIDs[m], Quantity: quantityJSON(qn, integer),
					UsageStartTime: startS, UsageEndTime: endS, ResourceURI: rs.uri, Location: rs.location, Tags: rs.tags, ReportedTime: reportedS}
				rec, rej := usage.Validate(&in, now, true)
				if rej != nil {
					ch.err = fmt.Errorf("bench: generated record is not valid: %s: %s", rej.Code, rej.Message)
					return ch
				}
				ch.rows = append(ch.rows, usage.KeyRow{Key: rec.Key, Fingerprint: rec.Fingerprint, SubscriptionKey: subKeys[s]})
				stored = append(stored, usage.StoredRecord{ID: rec.ID, MeterKey: meterKeys[m], InstanceKey: instKeys[s*nRes+r],
					Start: rec.Start.UnixMicro(), End: rec.End.UnixMicro(), Quantity: rec.Quantity})
			}
			for len(stored) > 0 {
				n := min(len(stored), usage.MaxSegmentRecords)
				ch.segs = append(ch.segs, usage.Segment{SubscriptionKey: subKeys[s], ReportedAt: reported.UnixMicro(), Records: n, Data: usage.EncodeSegment(stored[:n])})
				ch.records += n
				stored = stored[n:]
			}
		}
	}
	slices.SortFunc(ch.rows, func(a, b usage.KeyRow) int { return bytes.Compare(a.Key[:], b.Key[:]) })
	return ch
}

// aggQueries runs the measured queries of one data set.
type aggQueries struct {
	plan     *aggPlan
	srv      *server
	client   *http.Client
	raw      *sql.DB
	rawQuery string
	subKeys  []int64
	expect   map[int]subExpect // read-only once the runs start
}

func (q *aggQueries) url(s int, granularity string) string {
	return q.srv.URL + "/subscriptions/" + subscriptionGUID(q.plan.Seed, s) + "/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview" +
		"&reportedStartTime=" + q.plan.Month.Format("2006-01-02T15:04:05Z") + "&reportedEndTime=" + q.plan.end().Format("2006-01-02T15:04:05Z") +
		"&aggregationGranularity=" + granularity + "&showDetails=true"
}

// get fetches one page and reads what the benchmark needs from it.
func (q *aggQueries) get(ctx context.Context, u string, buf *bytes.Buffer) (rows int, sum uint64, next string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+q.srv.AdminToken)
	resp, err := q.client.Do(req)
	if err != nil {
		return 0, 0, "", err
	}
	body, err := readBody(buf, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, 0, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, "", fmt.Errorf("bench: GET %s: status %d: %.300s", u, resp.StatusCode, body)
	}
	return parsePage(body)
}

var (
	quantityKey = []byte(`"quantity":`)
	nextLinkKey = []byte(`,"nextLink":`)
	pageStart   = []byte(`{"value":[`)
)

// parsePage counts the rows of a UsageAggregates page, sums their
// quantities exactly and returns its nextLink, without decoding the whole
// page: a client that reads only what it needs keeps the measurement about
// the server. (The keys cannot occur unescaped inside JSON strings.)
func parsePage(body []byte) (rows int, sum uint64, next string, err error) {
	if !bytes.HasPrefix(body, pageStart) {
		return 0, 0, "", fmt.Errorf("bench: not a UsageAggregates page: %.200s", body)
	}
	p := body
	for {
		i := bytes.Index(p, quantityKey)
		if i < 0 {
			break
		}
		p = p[i+len(quantityKey):]
		j := bytes.IndexAny(p, ",}")
		if j < 0 {
			return 0, 0, "", errors.New("bench: truncated page")
		}
		v, err := money.ParseQuantity(string(p[:j]))
		if err != nil {
			return 0, 0, "", fmt.Errorf("bench: quantity %q: %w", p[:j], err)
		}
		rows++
		sum += uint64(v)
	}
	if k := bytes.LastIndex(body, nextLinkKey); k >= 0 {
		if err := json.Unmarshal(bytes.TrimSuffix(body[k+len(nextLinkKey):], []byte("}")), &next); err != nil {
			return 0, 0, "", fmt.Errorf("bench: nextLink: %w", err)
		}
	}
	return rows, sum, next, nil
}

// pageAll follows nextLink from the first page to the last.
func (q *aggQueries) pageAll(ctx context.Context, s int, g string, buf *bytes.Buffer) (rows, pages int, sum uint64, err error) {
	u := q.url(s, g)
	for u != "" {
		n, sm, next, err := q.get(ctx, u, buf)
		if err != nil {
			return 0, 0, 0, err
		}
		rows, sum, pages, u = rows+n, sum+sm, pages+1, next
		if pages > 100_000 {
			return 0, 0, 0, errors.New("bench: more than 100000 pages")
		}
	}
	return rows, pages, sum, nil
}

type pagingRun struct {
	rows, pages int
	wall        time.Duration
}

// pageMany pages through subs (each with each granularity) from clients
// goroutines; with a deadline it cycles until then. Every answer is checked
// against the data set.
func (q *aggQueries) pageMany(ctx context.Context, subs []int, grans []string, clients int, deadline time.Time, fail func(string, ...any)) (pagingRun, error) {
	type job struct {
		s int
		g string
	}
	var jobs []job
	for _, s := range subs {
		for _, g := range grans {
			jobs = append(jobs, job{s, g})
		}
	}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		run     pagingRun
		firstEr error
		wg      sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if deadline.IsZero() && k >= len(jobs) || !deadline.IsZero() && time.Now().After(deadline) {
					return
				}
				j := jobs[k%len(jobs)]
				rows, pages, sum, err := q.pageAll(ctx, j.s, j.g, &buf)
				mu.Lock()
				if err != nil {
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					cancel()
					return
				}
				run.rows += rows
				run.pages += pages
				e := q.expectOf(j.s)
				want := e.daily
				if j.g == "Hourly" {
					want = e.hourly
				}
				if rows != want || sum != e.total {
					fail("(b) subscription %d, %s: %d rows totalling %s, want %d totalling %s", j.s, j.g, rows, money.Quantity(sum), want, money.Quantity(e.total))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	run.wall = time.Since(start)
	return run, firstEr
}

// expectOf returns a subscription's expectation; callers hold q's lock
// when runs are concurrent (pageMany does).
func (q *aggQueries) expectOf(s int) subExpect {
	e, ok := q.expect[s]
	if !ok {
		e = q.plan.expect(s)
		q.expect[s] = e
	}
	return e
}

// rawScan reads and decodes a subscription's month with the driver alone.
func (q *aggQueries) rawScan(ctx context.Context, s int) (records int, sum uint64, err error) {
	rows, err := q.raw.QueryContext(ctx, q.rawQuery, q.subKeys[s], q.plan.Month.UnixMicro(), q.plan.end().UnixMicro())
	if err != nil {
		return 0, 0, fmt.Errorf("bench: raw scan: %w", err)
	}
	defer rows.Close()
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&data); err != nil {
			return 0, 0, err
		}
		err := usage.DecodeSegment(data, func(r *usage.StoredRecord) error {
			records++
			sum += uint64(r.Quantity)
			return nil
		})
		if err != nil {
			return 0, 0, err
		}
	}
	return records, sum, rows.Err()
}

type rawRun struct {
	records int
	wall    time.Duration
}

// rawPass scans subs once each from clients goroutines.
func (q *aggQueries) rawPass(ctx context.Context, subs []int, clients int, fail func(string, ...any)) (rawRun, error) {
	var mu sync.Mutex
	var run rawRun
	start := time.Now()
	err := parallel(ctx, clients, len(subs), func(k int) error {
		n, sum, err := q.rawScan(ctx, subs[k])
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		run.records += n
		if e := q.expectOf(subs[k]); n != q.plan.perSub() || sum != e.total {
			fail("raw scan of subscription %d: %d records totalling %d, want %d totalling %d", subs[k], n, sum, q.plan.perSub(), e.total)
		}
		return nil
	})
	run.wall = time.Since(start)
	return run, err
}

// rssRun pages Daily and Hourly over every subscription in turn for d,
// sampling the process's RSS every 250 ms.
func (q *aggQueries) rssRun(ctx context.Context, clients int, d time.Duration, fail func(string, ...any)) (RSSResult, error) {
	var r RSSResult
	sample := func() {
		rss, ok := RSSBytes()
		if !ok {
			return
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		mib := float64(rss) / (1 << 20)
		if r.Samples == 0 {
			r.StartMiB, r.MinMiB, r.MaxMiB = mib, mib, mib
		}
		r.Samples++
		r.MinMiB, r.MaxMiB, r.EndMiB = min(r.MinMiB, mib), max(r.MaxMiB, mib), mib
		r.HeapMaxMiB = max(r.HeapMaxMiB, float64(ms.HeapInuse)/(1<<20))
	}
	sample()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				sample()
			case <-stop:
				sample()
				return
			}
		}
	}()
	all := make([]int, q.plan.Subscriptions)
	for i := range all {
		all[i] = i
	}
	run, err := q.pageMany(ctx, all, []string{"Daily", "Hourly"}, clients, time.Now().Add(d), fail)
	close(stop)
	<-sampled
	r.Seconds, r.Pages, r.Rows = run.wall.Seconds(), run.pages, run.rows
	r.RowsPerSec = float64(run.rows) / run.wall.Seconds()
	return r, err
}
