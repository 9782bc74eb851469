// Package loadtest drives a running Reckon server over HTTP with N
// concurrent clients for a bounded time, in a configurable mix of what real
// clients do (ingestion batches, UsageAggregates paging, RateCard, invoice
// lists and PDF downloads), and measures throughput, latency percentiles,
// errors by HTTP status and ARM error code, and the server's RSS and
// goroutines, per interval and over the whole run. "reckon loadtest" is its
// command line; docs/loadtest.md describes it.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Config is one load test.
type Config struct {
	// Server is the base URL of the server (http://127.0.0.1:8080).
	Server string
	// HTTP is the client; nil gives one with a connection per client.
	HTTP *http.Client
	// Token returns the bearer token to send; it is called before every
	// request, so it should cache (see CachedToken).
	Token func(ctx context.Context) (string, error)
	// Clients is the number of concurrent clients (≥ 1).
	Clients int
	// Duration is how long the measured load runs; Warmup runs the same
	// load before it, unmeasured.
	Duration, Warmup time.Duration
	// Mix weighs the operations.
	Mix Mix
	// Rate caps the operations started per second, all clients together
	// (an operation is one ingest request, one whole UsageAggregates or
	// invoice list with its pages, one RateCard, one download); 0 is as
	// fast as the clients go.
	Rate float64
	// Subscriptions to load; empty discovers them (GET /subscriptions and
	// the operator API), leaving out deleted ones.
	Subscriptions []string
	// Meters to ingest usage for; empty discovers them (GET
	// /admin/v1/meters, or the RateCard of the first subscription).
	Meters []string
	// Batch is the number of records per ingest request (default 100).
	Batch int
	// Instances is the number of resources per subscription the ingested
	// usage is spread over (default 20).
	Instances int
	// AggregateDays is the UsageAggregates window: that many whole UTC
	// days ending at the last midnight at least an hour ago, Daily,
	// showDetails=true (default 7).
	AggregateDays int
	// ReportEvery is the length of an interval (default 10 s).
	ReportEvery time.Duration
	// Timeout bounds one request (default 60 s).
	Timeout time.Duration
	// PID is the server's process, for its RSS from /proc/PID/status; 0
	// finds the listener of the server's port when the server is on this
	// machine, else the RSS is read from MetricsURL.
	PID int
	// MetricsURL is the server's Prometheus endpoint (default
	// Server+"/metrics"): go_goroutines, and process_resident_memory_bytes
	// when the RSS cannot be read from /proc.
	MetricsURL string
	// Progress receives a line per interval; nil prints none.
	Progress io.Writer
	// Seed makes the clients' random choices repeatable; 0 is random.
	Seed uint64
}

// linkMaxAge is how long a download link is reused after the invoice list
// that gave it (links live an hour by default on the server).
const linkMaxAge = 15 * time.Minute

// shared is what the clients discovered and share.
type shared struct {
	cfg      *Config
	base     string
	subs     []string
	meters   []string
	mu       sync.Mutex
	links    map[string][]string // subscription → download links
	linksAt  map[string]time.Time
	stop     chan struct{} // closed when the run is over: no new operation starts
	pace     chan struct{} // with a Rate, one token per operation
	rec      *recorder
	aggStart time.Time
	aggEnd   time.Time
}

// Run runs a load test and returns its result. It stops by itself after
// Warmup+Duration; when ctx is cancelled (ctrl-C) it stops early, drops
// the requests cut short, and still returns the result of what ran
// (Interrupted set). An error is returned only when the load test could not
// start (discovery failed).
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	sh := &shared{cfg: &cfg, base: cfg.Server, links: map[string][]string{}, linksAt: map[string]time.Time{},
		stop: make(chan struct{}), rec: newRecorder()}
	if err := sh.discover(ctx); err != nil {
		return nil, err
	}
	// The last midnight at least an hour ago: long settled, whatever the
	// server's settle margin.
	aggEnd := time.Now().UTC().Add(-time.Hour).Truncate(24 * time.Hour)
	sh.aggStart, sh.aggEnd = aggEnd.AddDate(0, 0, -cfg.AggregateDays), aggEnd

	res := &Result{Server: cfg.Server, Clients: cfg.Clients, Mix: cfg.Mix.String(), Batch: cfg.Batch, Rate: cfg.Rate,
		Subscriptions: sh.subs, Meters: len(sh.meters), Warmup: cfg.Warmup.Seconds(), Planned: cfg.Duration.Seconds(),
		AggregateWindow: [2]time.Time{sh.aggStart, sh.aggEnd}}
	mon := newMonitor(ctx, &cfg, res)

	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	if cfg.Rate > 0 {
		sh.pace = make(chan struct{})
		go sh.pacer(time.Duration(float64(time.Second) / cfg.Rate))
	}
	var wg sync.WaitGroup
	for i := range cfg.Clients {
		wg.Add(1)
		w := &worker{sh: sh, rng: rand.New(rand.NewPCG(seed, uint64(i)+1)), ctx: ctx}
		go func() {
			defer wg.Done()
			w.loop()
		}()
	}

	// Warm-up, then the measured run with its intervals.
	if cfg.Warmup > 0 {
		select {
		case <-time.After(cfg.Warmup):
		case <-ctx.Done():
		}
	}
	sh.rec.measure(time.Now())
	res.Started = sh.rec.started
	mon.sample(&res.Server0)
	deadline := time.NewTimer(cfg.Duration)
	defer deadline.Stop()
	tick := time.NewTicker(cfg.ReportEvery)
	defer tick.Stop()
	intervalStart := sh.rec.started
loop:
	for {
		select {
		case <-tick.C:
			now := time.Now()
			res.Intervals = append(res.Intervals, mon.interval(sh.rec, intervalStart, now))
			intervalStart = now
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			res.Interrupted = true
			break loop
		}
	}
	close(sh.stop)
	wg.Wait()
	end := time.Now()
	if end.Sub(intervalStart) >= 100*time.Millisecond || len(res.Intervals) == 0 {
		res.Intervals = append(res.Intervals, mon.interval(sh.rec, intervalStart, end))
	} // else a sliver after the last tick: its samples count in the total only
	sh.rec.finish(res, end)
	mon.sample(&res.Server1)
	res.Server1.MaxRSSBytes = max(res.Server1.RSSBytes, mon.maxRSS)
	res.Server1.MaxGoroutines = max(res.Server1.Goroutines, mon.maxGoroutines)
	res.RSSSource = mon.rssSource
	return res, nil
}

// pacer hands out one operation every interval until the run stops; a
// token no client is waiting for is dropped, so clients slower than the
// rate never catch up in bursts.
func (sh *shared) pacer(every time.Duration) {
	t := time.NewTicker(max(every, time.Microsecond))
	defer t.Stop()
	for {
		select {
		case <-t.C:
			select {
			case sh.pace <- struct{}{}:
			case <-sh.stop:
				return
			}
		case <-sh.stop:
			return
		}
	}
}

func (c *Config) defaults() error {
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("loadtest: server %q is not an http(s) URL", c.Server)
	}
	for len(c.Server) > 0 && c.Server[len(c.Server)-1] == '/' {
		c.Server = c.Server[:len(c.Server)-1]
	}
	if c.Clients <= 0 {
		return errors.New("loadtest: at least one client")
	}
	if c.Rate < 0 {
		return errors.New("loadtest: the rate must not be negative")
	}
	if c.Duration <= 0 {
		return errors.New("loadtest: the duration must be positive")
	}
	if c.Mix.total() == 0 {
		c.Mix = DefaultMix
	}
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Instances <= 0 {
		c.Instances = 20
	}
	if c.AggregateDays <= 0 {
		c.AggregateDays = 7
	}
	if c.ReportEvery <= 0 {
		c.ReportEvery = 10 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 60 * time.Second
	}
	if c.MetricsURL == "" {
		c.MetricsURL = c.Server + "/metrics"
	}
	if c.Token == nil {
		c.Token = func(context.Context) (string, error) { return "", nil }
	}
	if c.HTTP == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = c.Clients * 2
		tr.MaxIdleConnsPerHost = c.Clients * 2
		c.HTTP = &http.Client{Transport: tr}
	}
	return nil
}

// CachedToken returns a token source that signs in with signIn, keeps the
// token, and signs in again when it is about to expire (a minute before the
// expiry signIn reports, or after 50 minutes when it reports none).
func CachedToken(signIn func(ctx context.Context) (token string, expires time.Time, err error)) func(ctx context.Context) (string, error) {
	var mu sync.Mutex
	var tok string
	var refresh time.Time
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if tok != "" && time.Now().Before(refresh) {
			return tok, nil
		}
		t, exp, err := signIn(ctx)
		if err != nil {
			return "", err
		}
		tok = t
		if exp.IsZero() {
			refresh = time.Now().Add(50 * time.Minute)
		} else {
			refresh = exp.Add(-time.Minute)
		}
		return tok, nil
	}
}

// monitor samples the server's RSS and goroutines.
type monitor struct {
	ctx           context.Context
	cfg           *Config
	pid           int
	rssSource     string
	maxRSS        int64
	maxGoroutines int64
	warned        bool
}

func newMonitor(ctx context.Context, cfg *Config, res *Result) *monitor {
	m := &monitor{ctx: ctx, cfg: cfg, pid: cfg.PID}
	if m.pid == 0 {
		if u, err := url.Parse(cfg.Server); err == nil && isLocalHost(u.Hostname()) {
			port, _ := strconv.Atoi(u.Port())
			if port == 0 {
				port = map[string]int{"http": 80, "https": 443}[u.Scheme]
			}
			if pid, err := ListenerPID(port); err == nil {
				m.pid = pid
			} else {
				res.Notes = append(res.Notes, "server process not found ("+err.Error()+"): RSS from "+cfg.MetricsURL)
			}
		}
	}
	if m.pid != 0 {
		if _, err := ReadVmRSS(m.pid); err != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("cannot read /proc/%d/status (%v): RSS from %s", m.pid, err, cfg.MetricsURL))
			m.pid = 0
		}
	}
	if m.pid != 0 {
		m.rssSource = fmt.Sprintf("VmRSS of /proc/%d/status", m.pid)
	} else {
		m.rssSource = "process_resident_memory_bytes of " + cfg.MetricsURL
	}
	res.PID = m.pid
	return m
}

// sample reads the server's figures into s; a figure it cannot read is -1.
func (m *monitor) sample(s *ServerSample) {
	s.RSSBytes, s.Goroutines, s.HeapBytes = -1, -1, -1
	ctx, cancel := context.WithTimeout(context.WithoutCancel(m.ctx), 5*time.Second)
	defer cancel()
	met, err := ReadMetrics(ctx, m.cfg.HTTP, m.cfg.MetricsURL)
	if err == nil {
		s.Goroutines, s.RSSBytes, s.HeapBytes = met.Goroutines, met.RSSBytes, met.HeapBytes
	}
	if m.pid != 0 {
		if rss, err := ReadVmRSS(m.pid); err == nil {
			s.RSSBytes = rss
		} else {
			s.RSSBytes = -1
		}
	}
	m.maxRSS = max(m.maxRSS, s.RSSBytes)
	m.maxGoroutines = max(m.maxGoroutines, s.Goroutines)
}

// interval closes the interval [from, to), samples the server, and prints
// its line.
func (m *monitor) interval(rec *recorder, from, to time.Time) Interval {
	iv := rec.takeInterval()
	iv.End = to.Sub(rec.started).Seconds()
	iv.Seconds = to.Sub(from).Seconds()
	iv.summarize()
	m.sample(&iv.Server)
	if m.cfg.Progress != nil {
		fmt.Fprintln(m.cfg.Progress, iv.Line())
	}
	return iv
}

// isTimeout reports a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
