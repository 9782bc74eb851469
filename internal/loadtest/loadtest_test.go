package loadtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"image/png"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestHistogramQuantiles compares the histogram's percentiles with the
// exact nearest-rank percentiles of the same samples, over latencies from
// microseconds to tens of seconds: every one within the bucket precision
// (1/64 above), never below, and max exact.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 2, 7, 100, 10_000} {
		var h Histogram
		samples := make([]time.Duration, n)
		for i := range samples {
			// Log-uniform from 1 µs to 30 s.
			us := math.Exp(rng.Float64() * math.Log(30e6))
			samples[i] = time.Duration(us) * time.Microsecond
			h.Record(samples[i])
		}
		slices.Sort(samples)
		if h.Count() != uint64(n) || h.Max() != samples[n-1] {
			t.Fatalf("n=%d: count %d max %v; want %d %v", n, h.Count(), h.Max(), n, samples[n-1])
		}
		for _, q := range []float64{0.01, 0.5, 0.95, 0.99, 0.999, 1} {
			rank := int(math.Ceil(q * float64(n)))
			want := samples[max(rank, 1)-1]
			got := h.Quantile(q)
			if got < want || float64(got-want) > float64(want)/64+float64(time.Microsecond) {
				t.Errorf("n=%d q=%v: got %v, want %v (within 1/64 above)", n, q, got, want)
			}
		}
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Max() != 0 || empty.Mean() != 0 {
		t.Fatal("empty histogram is not zero")
	}
}

// TestHistogramBuckets checks that every value falls in a bucket whose
// bounds contain it, and that buckets are contiguous.
func TestHistogramBuckets(t *testing.T) {
	prevHigh := uint64(0)
	for i := 0; i < histBuckets; i++ {
		high := bucketHigh(i)
		if i > 0 && high <= prevHigh {
			t.Fatalf("bucket %d high %d not above %d", i, high, prevHigh)
		}
		if bucketOf(high) != i || (i > 0 && bucketOf(prevHigh+1) != i) {
			t.Fatalf("bucket %d: bucketOf(%d)=%d bucketOf(%d)=%d", i, high, bucketOf(high), prevHigh+1, bucketOf(prevHigh+1))
		}
		prevHigh = high
		if high == math.MaxUint64 {
			if i != histBuckets-1 {
				t.Fatalf("last value in bucket %d of %d", i, histBuckets)
			}
			break
		}
	}
	var a, b, all Histogram
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	if a != all {
		t.Fatal("merged histogram differs from the one of all samples")
	}
}

func TestParseMix(t *testing.T) {
	m, err := ParseMix("ingest=20, aggregates=40,ratecard=20,invoices=15,download=5")
	if err != nil || m != DefaultMix || m.String() != "ingest=20,aggregates=40,ratecard=20,invoices=15,download=5" {
		t.Fatalf("got %v %v", m, err)
	}
	if m, err := ParseMix("ratecard=1"); err != nil || m != (Mix{OpRateCard: 1}) {
		t.Fatalf("ratecard=1: %v %v", m, err)
	}
	for _, bad := range []string{"", "ingest", "ingest=x", "ingest=-1", "foo=1", "ingest=0", "ingest=1,ingest=2"} {
		if _, err := ParseMix(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	// The draw follows the weights.
	rng := rand.New(rand.NewPCG(3, 4))
	var counts [numOps]int
	for range 100_000 {
		counts[DefaultMix.pick(rng)]++
	}
	for op, w := range DefaultMix {
		got := float64(counts[op]) / 100_000
		if math.Abs(got-float64(w)/100) > 0.01 {
			t.Errorf("%v drawn %.3f of the time; want %.2f", Op(op), got, float64(w)/100)
		}
	}
}

func TestParseMetricsAndStatus(t *testing.T) {
	m, err := parseMetrics(strings.NewReader("# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\n" +
		"go_goroutines_other 7\nprocess_resident_memory_bytes 1.23456789e+08\nprocess_virtual_memory_bytes 9e+09\n" +
		"go_memstats_heap_inuse_bytes 4.5514752e+07\n"))
	if err != nil || m.Goroutines != 42 || m.RSSBytes != 123456789 || m.HeapBytes != 45514752 {
		t.Fatalf("got %+v %v", m, err)
	}
	m, err = parseMetrics(strings.NewReader("reckon_x 1\n"))
	if err != nil || m.Goroutines != -1 || m.RSSBytes != -1 || m.HeapBytes != -1 {
		t.Fatalf("absent: got %+v %v", m, err)
	}
	rss, err := parseVmRSS([]byte("Name:\treckon\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nThreads: 9\n"))
	if err != nil || rss != 12345*1024 {
		t.Fatalf("VmRSS: %d %v", rss, err)
	}
	// This process's own RSS, from /proc.
	if rss, err := ReadVmRSS(os.Getpid()); err != nil || rss < 1<<20 {
		t.Fatalf("own VmRSS: %d %v", rss, err)
	}
}

// TestListeningInodes reads a /proc/net/tcp table: only LISTEN (0A)
// sockets of the port count.
func TestListeningInodes(t *testing.T) {
	table := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 100 0 0 10 0
`
	got := listeningInodes([]byte(table), 8080)
	if len(got) != 1 || !got["1111"] {
		t.Fatalf("got %v; want only 1111", got)
	}
}

// TestChart draws a chart of a made-up run and checks it is a PNG of the
// expected size with the series drawn (pixels of the first colours).
func TestChart(t *testing.T) {
	r := &Result{Server: "http://127.0.0.1:8080", Clients: 4, Mix: DefaultMix.String(), Elapsed: 1800, Started: time.Now()}
	for i := range 180 {
		iv := Interval{End: float64(i+1) * 10, Seconds: 10, Ops: map[string]Stats{},
			Total:  Stats{Requests: 1000 + int64(i%2)*10, RequestsPerSec: 100 + float64(i%2), P50Ms: 3, P95Ms: 10 + float64(i%3), P99Ms: 25, MaxMs: 40},
			Server: ServerSample{RSSBytes: 80<<20 + int64(i%5)<<20, Goroutines: 30}}
		for _, op := range Ops() {
			iv.Ops[op.String()] = Stats{Requests: 200, Items: 20000, RequestsPerSec: 20, ItemsPerSec: 2000}
		}
		r.Intervals = append(r.Intervals, iv)
	}
	// The summary: six blocks of five minutes, each with its figures.
	var sum bytes.Buffer
	r.WriteSummary(&sum, 5*time.Minute)
	lines := strings.Split(strings.TrimSpace(sum.String()), "\n")
	if len(lines) != 8 || lines[2] != "| 0:00–5:00 | 100.5 | 2000 | 3.00 | 11.00 | 25.00 | 25.00 | 40.00 | 0 | 84.0 (84.0) | 30 (30) |" ||
		!strings.HasPrefix(lines[7], "| 25:00–30:00 |") || !strings.HasSuffix(lines[7], "| 0 | 84.0 (84.0) | 30 (30) |") {
		t.Errorf("summary:\n%s", sum.String())
	}
	path := filepath.Join(t.TempDir(), "c.png")
	if err := WriteChart(r, path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != chartW || b.Dy() < 5*panelH {
		t.Fatalf("chart is %v", b)
	}
	colored := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 == uint32(palette[0].R) && g>>8 == uint32(palette[0].G) && bl>>8 == uint32(palette[0].B) {
				colored++
			}
		}
	}
	if colored < 5*800 { // five panels, a line across each
		t.Fatalf("%d pixels of the first series' colour; the lines are not drawn", colored)
	}
}

// TestRunRateAndStop runs the load against a stand-in server: the run
// stops by itself after its duration, --rate caps the operations, the
// RateCard is asked for with gzip and read decompressed, and an answer that
// is not what the API promises counts as an error of its own code.
func TestRunRateAndStop(t *testing.T) {
	var gzipAsked, calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch {
		case strings.HasSuffix(r.URL.Path, "/RateCard"):
			if r.Header.Get("Accept-Encoding") == "gzip" && r.Header.Get("Authorization") == "Bearer tok" {
				gzipAsked.Add(1)
			}
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write([]byte(`{"Meters":[{"MeterId":"a"},{"MeterId":"b"}]}`))
			zw.Close()
		case strings.HasSuffix(r.URL.Path, "/UsageAggregates"):
			w.Write([]byte(`{"oops":1}`)) // no value: not a UsageAggregates page
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	began := time.Now()
	res, err := Run(context.Background(), Config{Server: srv.URL, Token: func(context.Context) (string, error) { return "tok", nil },
		Clients: 3, Duration: time.Second, Rate: 20, Mix: Mix{OpRateCard: 3, OpAggregates: 1}, ReportEvery: 500 * time.Millisecond,
		Subscriptions: []string{"s"}, Meters: []string{"m"}})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("a 1 s run took %v", took)
	}
	rc, agg := res.Ops["ratecard"], res.Ops["aggregates"]
	if n := rc.Requests + agg.Requests; n < 10 || n > 25 {
		t.Errorf("%d operations in 1 s at a rate of 20/s", n)
	}
	if rc.Errors != 0 || rc.Items != 2*rc.Requests || gzipAsked.Load() < rc.Requests {
		t.Errorf("ratecard %+v, %d asked with gzip", rc, gzipAsked.Load())
	}
	if agg.Errors != agg.Requests || len(res.Errors) != 1 || res.Errors[0] != (ErrorCount{Op: "aggregates", Status: 200, Code: "InvalidAnswer", Count: agg.Requests}) {
		t.Errorf("aggregates %+v, errors %+v; want every one an InvalidAnswer", agg, res.Errors)
	}
	if len(res.Intervals) != 2 || res.PID != os.Getpid() {
		t.Errorf("%d intervals, pid %d; want 2 and this process", len(res.Intervals), res.PID)
	}
}
