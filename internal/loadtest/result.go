package loadtest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Stats are the figures of one operation (or of all) over a span of time.
// Items are what an operation moves: records accepted for ingest,
// UsageAggregates rows, RateCard meters, invoices listed, PDFs downloaded.
// Latencies are in milliseconds, over every request that got an answer.
type Stats struct {
	Requests       int64   `json:"requests"`
	Errors         int64   `json:"errors"`
	Items          int64   `json:"items"`
	Bytes          int64   `json:"bytes"`
	Skipped        int64   `json:"skipped,omitempty"`
	RequestsPerSec float64 `json:"requestsPerSec"`
	ItemsPerSec    float64 `json:"itemsPerSec"`
	P50Ms          float64 `json:"p50Ms"`
	P95Ms          float64 `json:"p95Ms"`
	P99Ms          float64 `json:"p99Ms"`
	MaxMs          float64 `json:"maxMs"`
	MeanMs         float64 `json:"meanMs"`
}

// ErrorCount counts the failed requests of an operation by HTTP status
// (0: no answer) and ARM error code.
type ErrorCount struct {
	Op     string `json:"op"`
	Status int    `json:"status"`
	Code   string `json:"code"`
	Count  int64  `json:"count"`
}

// ServerSample is the server's memory and goroutines at one moment; -1
// when they could not be read. HeapBytes is the Go heap in use (the rest
// of the RSS is the runtime's idle memory, SQLite's page cache, code).
type ServerSample struct {
	RSSBytes      int64 `json:"rssBytes"`
	HeapBytes     int64 `json:"heapInuseBytes,omitempty"`
	Goroutines    int64 `json:"goroutines"`
	MaxRSSBytes   int64 `json:"maxRssBytes,omitempty"`
	MaxGoroutines int64 `json:"maxGoroutines,omitempty"`
}

// Interval is one --report-every span of the measured run.
type Interval struct {
	// End is the interval's end in seconds since the measurement began;
	// Seconds its length.
	End     float64          `json:"end"`
	Seconds float64          `json:"seconds"`
	Ops     map[string]Stats `json:"ops"`
	Total   Stats            `json:"total"`
	Errors  []ErrorCount     `json:"errors,omitempty"`
	// RejectedRecords are ingested records the server rejected.
	RejectedRecords int64        `json:"rejectedRecords"`
	Server          ServerSample `json:"server"`
	w               *window
}

// IngestStats are the ingestion outcomes, record by record.
type IngestStats struct {
	Accepted       int64            `json:"accepted"`
	Duplicates     int64            `json:"duplicates"`
	Rejected       int64            `json:"rejected"`
	RejectedByCode map[string]int64 `json:"rejectedByCode,omitempty"`
}

// Result is a whole load test.
type Result struct {
	Server          string       `json:"server"`
	Clients         int          `json:"clients"`
	Mix             string       `json:"mix"`
	Batch           int          `json:"batch"`
	Rate            float64      `json:"rate,omitempty"`
	Subscriptions   []string     `json:"subscriptions"`
	Meters          int          `json:"meters"`
	AggregateWindow [2]time.Time `json:"aggregateWindow"`
	Warmup          float64      `json:"warmupSeconds"`
	Planned         float64      `json:"plannedSeconds"`
	Started         time.Time    `json:"started"`
	// Elapsed is the measured time in seconds.
	Elapsed     float64          `json:"elapsedSeconds"`
	Interrupted bool             `json:"interrupted"`
	Ops         map[string]Stats `json:"ops"`
	Total       Stats            `json:"total"`
	Errors      []ErrorCount     `json:"errors"`
	Ingest      IngestStats      `json:"ingest"`
	// Server0 is sampled as the measurement starts, Server1 at its end
	// (with the maxima seen in between).
	Server0   ServerSample `json:"serverStart"`
	Server1   ServerSample `json:"serverEnd"`
	RSSSource string       `json:"rssSource"`
	PID       int          `json:"pid,omitempty"`
	Intervals []Interval   `json:"intervals"`
	Notes     []string     `json:"notes,omitempty"`
}

// Failed reports whether any request failed or any record was rejected.
func (r *Result) Failed() bool { return r.Total.Errors > 0 || r.Ingest.Rejected > 0 }

// WriteJSON writes the result, intervals included, to a file.
func (r *Result) WriteJSON(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ReadJSON reads a result written by WriteJSON.
func ReadJSON(path string) (*Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

type errKey struct {
	op     Op
	status int
	code   string
}

// window accumulates the samples of a span of time.
type window struct {
	h        [numOps]Histogram
	all      Histogram
	n        [numOps]int64
	errs     [numOps]int64
	items    [numOps]int64
	bytes    [numOps]int64
	skipped  [numOps]int64
	errors   map[errKey]int64
	rejected int64
}

func newWindow() *window { return &window{errors: map[errKey]int64{}} }

// recorder collects the samples of every client.
type recorder struct {
	mu        sync.Mutex
	measuring bool
	started   time.Time
	cur       *window
	total     *window
	ingest    IngestStats
}

func newRecorder() *recorder {
	return &recorder{cur: newWindow(), total: newWindow(), ingest: IngestStats{RejectedByCode: map[string]int64{}}}
}

// measure starts the measurement: samples before it (warm-up) are dropped.
func (r *recorder) measure(t time.Time) {
	r.mu.Lock()
	r.measuring, r.started = true, t
	r.mu.Unlock()
}

// request records one request of op: its latency when it got an answer
// (status > 0), and whether it failed.
func (r *recorder) request(op Op, d time.Duration, status int, code string, items, bytes int64, failed bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.measuring {
		return
	}
	for _, w := range [2]*window{r.cur, r.total} {
		w.n[op]++
		if status > 0 {
			w.h[op].Record(d)
			w.all.Record(d)
		}
		w.items[op] += items
		w.bytes[op] += bytes
		if failed {
			w.errs[op]++
			w.errors[errKey{op, status, code}]++
		}
	}
}

// skip records an operation that could not run (a download with no link).
func (r *recorder) skip(op Op) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.measuring {
		r.cur.skipped[op]++
		r.total.skipped[op]++
	}
}

// ingested records the outcome of an ingest request's records.
func (r *recorder) ingested(accepted, duplicates int64, rejected []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.measuring {
		return
	}
	r.ingest.Accepted += accepted
	r.ingest.Duplicates += duplicates
	r.ingest.Rejected += int64(len(rejected))
	for _, c := range rejected {
		r.ingest.RejectedByCode[c]++
	}
	r.cur.rejected += int64(len(rejected))
	r.total.rejected += int64(len(rejected))
}

// takeInterval ends the current interval and returns it.
func (r *recorder) takeInterval() Interval {
	r.mu.Lock()
	w := r.cur
	r.cur = newWindow()
	r.mu.Unlock()
	return Interval{w: w, RejectedRecords: w.rejected}
}

func (iv *Interval) summarize() {
	iv.Ops, iv.Total, iv.Errors = iv.w.stats(iv.Seconds)
	iv.w = nil
}

// finish fills the result's totals.
func (r *recorder) finish(res *Result, end time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	res.Elapsed = end.Sub(r.started).Seconds()
	res.Ops, res.Total, res.Errors = r.total.stats(res.Elapsed)
	if res.Errors == nil {
		res.Errors = []ErrorCount{}
	}
	res.Ingest = r.ingest
	if len(res.Ingest.RejectedByCode) == 0 {
		res.Ingest.RejectedByCode = nil
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func statsOf(h *Histogram, n, errs, items, bytes, skipped int64, secs float64) Stats {
	s := Stats{Requests: n, Errors: errs, Items: items, Bytes: bytes, Skipped: skipped,
		P50Ms: ms(h.Quantile(0.50)), P95Ms: ms(h.Quantile(0.95)), P99Ms: ms(h.Quantile(0.99)), MaxMs: ms(h.Max()), MeanMs: ms(h.Mean())}
	if secs > 0 {
		s.RequestsPerSec = float64(n) / secs
		s.ItemsPerSec = float64(items) / secs
	}
	return s
}

// stats summarises a window of secs seconds.
func (w *window) stats(secs float64) (map[string]Stats, Stats, []ErrorCount) {
	ops := map[string]Stats{}
	var n, errs, items, bytes, skipped int64
	for op := range numOps {
		ops[op.String()] = statsOf(&w.h[op], w.n[op], w.errs[op], w.items[op], w.bytes[op], w.skipped[op], secs)
		n, errs, items, bytes, skipped = n+w.n[op], errs+w.errs[op], items+w.items[op], bytes+w.bytes[op], skipped+w.skipped[op]
	}
	total := statsOf(&w.all, n, errs, items, bytes, skipped, secs)
	total.Items, total.ItemsPerSec = 0, 0 // items of different kinds do not add up
	var ec []ErrorCount
	for k, c := range w.errors {
		ec = append(ec, ErrorCount{Op: k.op.String(), Status: k.status, Code: k.code, Count: c})
	}
	slices.SortFunc(ec, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Op, b.Op), cmp.Compare(a.Status, b.Status), cmp.Compare(a.Code, b.Code))
	})
	return ops, total, ec
}

// Line is the interval's one-line summary, as printed during the run.
func (iv *Interval) Line() string {
	ing := iv.Ops[OpIngest.String()]
	return fmt.Sprintf("[%6.0fs] %8.1f req/s %9.1f rec/s  p50 %7.2f ms  p95 %7.2f ms  p99 %7.2f ms  max %8.2f ms  errors %d  rejected %d  rss %s  heap %s  goroutines %d",
		iv.End, iv.Total.RequestsPerSec, ing.ItemsPerSec, iv.Total.P50Ms, iv.Total.P95Ms, iv.Total.P99Ms, iv.Total.MaxMs,
		iv.Total.Errors, iv.RejectedRecords, mib(iv.Server.RSSBytes), mib(iv.Server.HeapBytes), iv.Server.Goroutines)
}

func mib(b int64) string {
	if b <= 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

// itemNames say what each operation's items are.
var itemNames = [numOps]string{"records accepted", "rows", "meters", "invoices", "PDFs"}

// WriteReport prints the result as the final report of "reckon loadtest".
// Its layout is stable (tests and scripts parse it): a header, one table
// row per operation and a total row, then the ingest, error and server
// lines.
func (r *Result) WriteReport(w io.Writer) {
	state := "completed"
	if r.Interrupted {
		state = "interrupted"
	}
	rate := ""
	if r.Rate > 0 {
		rate = fmt.Sprintf(", at most %g operations/s", r.Rate)
	}
	fmt.Fprintf(w, "\nload test %s: %d clients for %.1fs against %s%s\n", state, r.Clients, r.Elapsed, r.Server, rate)
	fmt.Fprintf(w, "mix %s; %d subscriptions, %d meters, %d records per ingest request; UsageAggregates %s to %s, Daily\n",
		r.Mix, len(r.Subscriptions), r.Meters, r.Batch, r.AggregateWindow[0].Format(time.DateOnly), r.AggregateWindow[1].Format(time.DateOnly))
	fmt.Fprintf(w, "\n%-10s %9s %7s %9s %10s %11s %9s %9s %9s %9s\n", "operation", "requests", "errors", "req/s", "items", "items/s", "p50 ms", "p95 ms", "p99 ms", "max ms")
	row := func(name string, s Stats, items bool) {
		it, its := "-", "-"
		if items {
			it, its = fmt.Sprint(s.Items), fmt.Sprintf("%.1f", s.ItemsPerSec)
		}
		fmt.Fprintf(w, "%-10s %9d %7d %9.1f %10s %11s %9.2f %9.2f %9.2f %9.2f\n", name, s.Requests, s.Errors, s.RequestsPerSec, it, its, s.P50Ms, s.P95Ms, s.P99Ms, s.MaxMs)
	}
	for _, op := range Ops() {
		row(op.String(), r.Ops[op.String()], true)
	}
	row("total", r.Total, false)
	fmt.Fprint(w, "items:")
	for i, op := range Ops() {
		sep := ","
		if i == 0 {
			sep = ""
		}
		fmt.Fprintf(w, "%s %s = %s", sep, op, itemNames[op])
	}
	fmt.Fprintln(w)
	for _, op := range Ops() {
		if s := r.Ops[op.String()].Skipped; s > 0 {
			fmt.Fprintf(w, "%s: skipped %d times (no invoice download link to fetch)\n", op, s)
		}
	}
	fmt.Fprintf(w, "\ningest: %d records accepted, %d duplicates, %d rejected\n", r.Ingest.Accepted, r.Ingest.Duplicates, r.Ingest.Rejected)
	codes := make([]string, 0, len(r.Ingest.RejectedByCode))
	for c := range r.Ingest.RejectedByCode {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "  rejected %-24s %d\n", c, r.Ingest.RejectedByCode[c])
	}
	if len(r.Errors) == 0 {
		fmt.Fprintln(w, "errors: none")
	} else {
		fmt.Fprintln(w, "errors:")
		for _, e := range r.Errors {
			code := e.Code
			if code == "" {
				code = "-"
			}
			fmt.Fprintf(w, "  %-10s %3d %-32s %d\n", e.Op, e.Status, code, e.Count)
		}
	}
	fmt.Fprintf(w, "server: rss %s at start, %s at end, %s max (%s)\n", mib(r.Server0.RSSBytes), mib(r.Server1.RSSBytes), mib(r.Server1.MaxRSSBytes), r.RSSSource)
	fmt.Fprintf(w, "server: go heap in use %s at start, %s at end\n", mib(r.Server0.HeapBytes), mib(r.Server1.HeapBytes))
	fmt.Fprintf(w, "server: goroutines %d at start, %d at end, %d max\n", r.Server0.Goroutines, r.Server1.Goroutines, r.Server1.MaxGoroutines)
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

// WriteSummary prints the intervals grouped into blocks of the given
// length as a Markdown table: throughput over the block; the median over
// its intervals of each interval's p50, p95 and p99 (the intervals keep no
// histogram, so a block's exact percentiles are not known), the worst
// interval p99 and the maximum; errors; and the server's RSS and goroutines
// at the block's end (and their maxima over it).
func (r *Result) WriteSummary(w io.Writer, block time.Duration) {
	fmt.Fprintln(w, "| time (m:ss) | req/s | records/s | p50 ms | p95 ms | p99 ms | worst p99 ms | max ms | errors | RSS MiB (max) | goroutines (max) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	secs := block.Seconds()
	for i := 0; i < len(r.Intervals); {
		from := r.Intervals[i].End - r.Intervals[i].Seconds
		limit := (math.Floor(from/secs) + 1) * secs
		j := i
		var reqs, recs, errs, rej int64
		var span, worst, mx float64
		var p50, p95, p99 []float64
		var rssMax, gMax int64
		for ; j < len(r.Intervals) && (j == i || r.Intervals[j].End <= limit+0.5); j++ {
			iv := &r.Intervals[j]
			reqs += iv.Total.Requests
			recs += iv.Ops[OpIngest.String()].Items
			errs += iv.Total.Errors
			rej += iv.RejectedRecords
			span += iv.Seconds
			p50, p95, p99 = append(p50, iv.Total.P50Ms), append(p95, iv.Total.P95Ms), append(p99, iv.Total.P99Ms)
			worst, mx = max(worst, iv.Total.P99Ms), max(mx, iv.Total.MaxMs)
			rssMax, gMax = max(rssMax, iv.Server.RSSBytes), max(gMax, iv.Server.Goroutines)
		}
		last := &r.Intervals[j-1]
		errText := strconv.FormatInt(errs, 10)
		if rej > 0 {
			errText += fmt.Sprintf(" (+%d records rejected)", rej)
		}
		fmt.Fprintf(w, "| %s–%s | %.1f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %s | %.1f (%.1f) | %d (%d) |\n",
			clock(from), clock(last.End), float64(reqs)/span, float64(recs)/span, median(p50), median(p95), median(p99), worst, mx,
			errText, float64(last.Server.RSSBytes)/(1<<20), float64(rssMax)/(1<<20), last.Server.Goroutines, gMax)
		i = j
	}
}

// clock writes seconds as m:ss.
func clock(sec float64) string {
	s := int(math.Round(sec))
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
