package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
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

// IngestConfig configures the ingest benchmark.
type IngestConfig struct {
	Store StoreSpec
	// Records is how many records are sent (N).
	Records int
	// Clients is how many HTTP clients send at once (C).
	Clients int
	// Batch is the records per request body (B).
	Batch int
	// Subscriptions and Meters size the catalog the records refer to.
	Subscriptions int
	Meters        int
	// InstancesPerSubscription is how many resources each subscription
	// meters (each with its resourceUri, location and tags).
	InstancesPerSubscription int
	// BaselineTxRecords is the records per transaction of the baseline.
	BaselineTxRecords int
	// SkipBaseline skips the raw bulk load.
	SkipBaseline bool
	// Seed makes the generated fields (not the record ids, which are random
	// UUIDv4) reproducible.
	Seed uint64
	// Progress receives progress lines and server warnings; nil discards them.
	Progress io.Writer
}

// DefaultIngest is the full ingest benchmark.
func DefaultIngest() IngestConfig {
	return IngestConfig{Records: 1_000_000, Clients: 4, Batch: 10_000, Subscriptions: 1000, Meters: 20,
		InstancesPerSubscription: 10, BaselineTxRecords: 50_000, Seed: 1}
}

// SmallIngest is a smoke-test size of the ingest benchmark (seconds).
func SmallIngest() IngestConfig {
	c := DefaultIngest()
	c.Records, c.Batch, c.Subscriptions, c.BaselineTxRecords = 50_000, 5_000, 100, 10_000
	return c
}

// IngestResult is the outcome of the ingest benchmark.
type IngestResult struct {
	Machine       Machine `json:"machine"`
	Backend       string  `json:"backend"`
	Store         string  `json:"store"`
	BaselineStore string  `json:"baselineStore,omitempty"`
	Records       int     `json:"records"`
	Clients       int     `json:"clients"`
	Batch         int     `json:"batch"`
	Subscriptions int     `json:"subscriptions"`
	Meters        int     `json:"meters"`
	Instances     int     `json:"instances"`
	Requests      int     `json:"requests"`
	BodyBytes     int64   `json:"bodyBytes"`
	// PrepareSeconds is the untimed generation and encoding of the bodies.
	PrepareSeconds float64         `json:"prepareSeconds"`
	HTTP           IngestHTTP      `json:"http"`
	Baseline       *IngestBaseline `json:"baseline,omitempty"`
	// Ratio is HTTP records/s over baseline records/s.
	Ratio    float64  `json:"ratio,omitempty"`
	Goals    []Goal   `json:"goals"`
	Failures []string `json:"failures,omitempty"`
}

// IngestHTTP is the measured HTTP ingestion.
type IngestHTTP struct {
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
	MiBPerSec     float64 `json:"mibPerSec"`
	// Latency is per request, from sending the body to reading the answer.
	Latency    Latency      `json:"latency"`
	Accepted   int          `json:"accepted"`
	Duplicates int          `json:"duplicates"`
	Rejected   int          `json:"rejected"`
	Retries    int          `json:"retries"`
	Stored     StoredCounts `json:"stored"`
}

// IngestBaseline is the raw idempotent bulk load of the same records.
type IngestBaseline struct {
	Method        string       `json:"method"`
	TxRecords     int          `json:"txRecords"`
	Transactions  int          `json:"transactions"`
	Seconds       float64      `json:"seconds"`
	RecordsPerSec float64      `json:"recordsPerSec"`
	Stored        StoredCounts `json:"stored"`
	// PrepareSeconds is the untimed validation, key derivation and sorting.
	PrepareSeconds float64 `json:"prepareSeconds"`
}

// StoredCounts is what a store holds after a run.
type StoredCounts struct {
	Keys     int64 `json:"keys"`
	Records  int64 `json:"records"`
	Segments int64 `json:"segments"`
}

type resource struct {
	uri, location string
	tags          json.RawMessage
}

type ingestRec struct {
	id    string
	q     uint64 // nanounits
	hour  int32  // hours before the workload's base hour
	sub   int32
	res   int16
	meter int16
	// integer sends the quantity as a JSON integer, else as a decimal string.
	integer bool
}

type ingestWorkload struct {
	base     time.Time
	subIDs   []string
	meterIDs []string
	res      [][]resource
	recs     []ingestRec
}

func (c *IngestConfig) check() error {
	switch {
	case c.Records <= 0, c.Clients <= 0, c.Batch <= 0, c.Subscriptions <= 0, c.Meters <= 0, c.InstancesPerSubscription <= 0:
		return errors.New("bench: --records, --clients, --batch, --subscriptions, --meters and --instances must be positive")
	case c.Batch > usage.MaxRecordsPerRequest:
		return fmt.Errorf("bench: --batch must be at most %d", usage.MaxRecordsPerRequest)
	case c.BaselineTxRecords <= 0 && !c.SkipBaseline:
		return errors.New("bench: --baseline-tx must be positive")
	}
	return c.Store.check()
}

// newIngestWorkload generates the records: random UUIDv4 ids, one-hour
// usage intervals in the last 30 days, quantities as JSON integers or
// decimal strings, and a resource (resourceUri, location, 2–3 tags) per
// record.
func newIngestWorkload(c *IngestConfig, subIDs, meterIDs []string, now time.Time) *ingestWorkload {
	rng := rand.New(rand.NewPCG(c.Seed, 0x1e57))
	w := &ingestWorkload{base: now.UTC().Truncate(time.Hour), subIDs: subIDs, meterIDs: meterIDs}
	w.res = make([][]resource, len(subIDs))
	envs := []string{"prod", "staging", "dev", "test"}
	for s, sub := range subIDs {
		w.res[s] = make([]resource, c.InstancesPerSubscription)
		for r := range w.res[s] {
			tags := map[string]string{"env": envs[rng.IntN(len(envs))], "team": fmt.Sprintf("team-%02d", rng.IntN(40))}
			if rng.IntN(2) == 0 {
				tags["costCenter"] = fmt.Sprintf("CC-%04d", rng.IntN(10000))
			}
			raw, _ := json.Marshal(tags)
			w.res[s][r] = resource{
				uri: fmt.Sprintf("/subscriptions/%s/resourceGroups/rg-%d/providers/Microsoft.Compute/virtualMachines/vm-%03d",
					sub, r%4, r),
				location: locations[rng.IntN(len(locations))],
				tags:     raw,
			}
		}
	}
	w.recs = make([]ingestRec, c.Records)
	for i := range w.recs {
		r := &w.recs[i]
		r.id = uuid.NewString()
		r.sub = int32(rng.IntN(len(subIDs)))
		r.res = int16(rng.IntN(c.InstancesPerSubscription))
		r.meter = int16(rng.IntN(len(meterIDs)))
		r.hour = int32(1 + rng.IntN(30*24-1))
		if rng.IntN(10) < 3 {
			r.integer = true
			r.q = uint64(1+rng.IntN(100)) * 1_000_000_000
		} else {
			r.q = uint64(1+rng.Int64N(100_000_000)) * 1000 // six decimals, up to 100 units
		}
	}
	return w
}

func quantityJSON(q uint64, integer bool) json.RawMessage {
	s := money.Quantity(q).String()
	if integer {
		return json.RawMessage(s)
	}
	return json.RawMessage(`"` + s + `"`)
}

// input is the wire form of record i.
func (w *ingestWorkload) input(i int) usage.RecordInput {
	r := &w.recs[i]
	res := &w.res[r.sub][r.res]
	start := w.base.Add(-time.Duration(r.hour) * time.Hour)
	return usage.RecordInput{
		ID: r.id, SubscriptionID: w.subIDs[r.sub], MeterID: w.meterIDs[r.meter],
		Quantity:       quantityJSON(r.q, r.integer),
		UsageStartTime: start.Format(time.RFC3339), UsageEndTime: start.Add(time.Hour).Format(time.RFC3339),
		ResourceURI: res.uri, Location: res.location, Tags: res.tags,
	}
}

// bodies encodes the records as NDJSON request bodies of batch records.
func (w *ingestWorkload) bodies(batch int) ([][]byte, int64) {
	n := (len(w.recs) + batch - 1) / batch
	out := make([][]byte, n)
	parallel(context.Background(), runtime.GOMAXPROCS(0), n, func(b int) error {
		lo, hi := b*batch, min((b+1)*batch, len(w.recs))
		var buf bytes.Buffer
		buf.Grow((hi - lo) * 420)
		enc := json.NewEncoder(&buf)
		for i := lo; i < hi; i++ {
			in := w.input(i)
			enc.Encode(&in)
		}
		out[b] = buf.Bytes()
		return nil
	})
	var total int64
	for _, b := range out {
		total += int64(len(b))
	}
	return out, total
}

// RunIngest runs the ingest benchmark. It returns the result even when a
// check fails (accepted ≠ N, …); the error then lists the failures.
func RunIngest(ctx context.Context, c IngestConfig) (*IngestResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	log := newLogger(c.Progress)
	res := &IngestResult{Machine: ThisMachine(), Backend: c.Store.backend(), Records: c.Records, Clients: c.Clients, Batch: c.Batch,
		Subscriptions: c.Subscriptions, Meters: c.Meters}

	// The measured store and server.
	progressf(c.Progress, "ingest: opening a fresh %s store", res.Backend)
	bs, err := c.Store.freshStore(ctx, "ingest", SQLiteCacheMiB, c.Progress)
	if err != nil {
		return nil, err
	}
	defer bs.close()
	res.Store = bs.Desc
	progressf(c.Progress, "ingest: creating %d subscriptions and %d meters", c.Subscriptions, c.Meters)
	subIDs, meterIDs, err := populate(ctx, bs.DB, c.Seed, c.Subscriptions, c.Meters)
	if err != nil {
		return nil, err
	}

	progressf(c.Progress, "ingest: generating and encoding %d records (untimed)", c.Records)
	t0 := time.Now()
	w := newIngestWorkload(&c, subIDs, meterIDs, time.Now())
	bodies, size := w.bodies(c.Batch)
	res.PrepareSeconds = time.Since(t0).Seconds()
	res.Requests, res.BodyBytes = len(bodies), size
	res.Instances = countInstances(w)
	largest := 0
	for _, b := range bodies {
		largest = max(largest, len(b))
	}

	srv, err := startServer(ctx, bs.DB, log, max(64<<20, 2*int64(largest)))
	if err != nil {
		return nil, err
	}
	progressf(c.Progress, "ingest: %d clients POST %d bodies of %d records (%.0f MiB) to %s", c.Clients, len(bodies), c.Batch, float64(size)/(1<<20), srv.URL)
	runtime.GC()
	h, err := postAll(ctx, srv, bodies, c.Clients)
	srv.close()
	if err != nil {
		return nil, err
	}
	h.RecordsPerSec = float64(c.Records) / h.Seconds
	h.MiBPerSec = float64(size) / (1 << 20) / h.Seconds
	if h.Stored, err = countStored(ctx, bs.dsn); err != nil {
		return nil, err
	}
	res.HTTP = h
	bodies = nil
	progressf(c.Progress, "ingest: HTTP %.0f records/s (%.1f s)", h.RecordsPerSec, h.Seconds)

	if !c.SkipBaseline {
		b, desc, err := ingestBaseline(ctx, &c, w)
		if err != nil {
			return nil, err
		}
		res.Baseline, res.BaselineStore = b, desc
		res.Ratio = h.RecordsPerSec / b.RecordsPerSec
		progressf(c.Progress, "ingest: baseline %.0f records/s (%.1f s)", b.RecordsPerSec, b.Seconds)
	}

	n := int64(c.Records)
	check := func(ok bool, format string, args ...any) {
		if !ok {
			res.Failures = append(res.Failures, fmt.Sprintf(format, args...))
		}
	}
	check(h.Accepted == c.Records, "HTTP accepted %d records, want %d", h.Accepted, c.Records)
	check(h.Duplicates == 0 && h.Rejected == 0, "HTTP answered %d duplicates and %d rejections, want none", h.Duplicates, h.Rejected)
	check(h.Stored.Keys == n && h.Stored.Records == n, "the HTTP store holds %d keys and %d records, want %d", h.Stored.Keys, h.Stored.Records, n)
	if b := res.Baseline; b != nil {
		check(b.Stored.Keys == n && b.Stored.Records == n, "the baseline store holds %d keys and %d records, want %d", b.Stored.Keys, b.Stored.Records, n)
	}

	note := ""
	if res.Backend != "sqlite" {
		note = "stated for SQLite"
	}
	res.Goals = append(res.Goals, Goal{Name: "HTTP ingestion", Target: "≥ 100,000 records/s", Value: groupf(h.RecordsPerSec) + " records/s",
		Met: h.RecordsPerSec >= 100_000, Note: note})
	if res.Baseline != nil {
		res.Goals = append(res.Goals, Goal{Name: "HTTP vs raw bulk load", Target: "≥ 50 %", Value: fmt.Sprintf("%.1f %%", 100*res.Ratio), Met: res.Ratio >= 0.5})
	}
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("bench: ingest checks failed: %v", res.Failures)
	}
	return res, nil
}

func countInstances(w *ingestWorkload) int {
	seen := make(map[[2]int32]bool)
	for i := range w.recs {
		seen[[2]int32{w.recs[i].sub, int32(w.recs[i].res)}] = true
	}
	return len(seen)
}

// postAll sends every body to srv from clients goroutines and measures
// the wall time from the first send to the last answer.
func postAll(ctx context.Context, srv *server, bodies [][]byte, clients int) (IngestHTTP, error) {
	return postSpread(ctx, []*server{srv}, bodies, clients)
}

// postSpread sends every body from clients goroutines, client k to
// targets[k mod len(targets)], and measures the wall time from the first
// send to the last answer.
func postSpread(ctx context.Context, targets []*server, bodies [][]byte, clients int) (IngestHTTP, error) {
	client := httpClient(clients)
	defer client.CloseIdleConnections()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		lat      = make([]time.Duration, 0, len(bodies))
		total    usage.Result
		retries  int
		firstErr error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for k := range clients {
		srv := targets[k%len(targets)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				i := int(next.Add(1) - 1)
				if i >= len(bodies) || ctx.Err() != nil {
					return
				}
				r, d, tries, err := postOne(ctx, client, srv, bodies[i], &buf)
				mu.Lock()
				retries += tries
				if err != nil {
					if firstErr == nil {
						firstErr = fmt.Errorf("bench: request %d to %s: %w", i, srv.URL, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				lat = append(lat, d)
				total.Accepted += r.Accepted
				total.Duplicates += r.Duplicates
				total.Rejected = append(total.Rejected, r.Rejected...)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	if firstErr != nil {
		return IngestHTTP{}, firstErr
	}
	return IngestHTTP{Seconds: wall.Seconds(), Latency: summarize(lat), Accepted: total.Accepted, Duplicates: total.Duplicates,
		Rejected: len(total.Rejected), Retries: retries}, nil
}

// postOne posts one body, retrying (idempotent) on 503; the latency is that
// of the successful attempt.
func postOne(ctx context.Context, client *http.Client, srv *server, body []byte, buf *bytes.Buffer) (usage.Result, time.Duration, int, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/metering/v1/usage", bytes.NewReader(body))
		if err != nil {
			return usage.Result{}, 0, attempt, err
		}
		req.Header.Set("Authorization", "Bearer "+srv.IngestToken)
		req.Header.Set("Content-Type", "application/x-ndjson")
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return usage.Result{}, 0, attempt, err
		}
		data, err := readBody(buf, resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if err != nil {
			return usage.Result{}, 0, attempt, err
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			var r usage.Result
			if err := json.Unmarshal(data, &r); err != nil {
				return r, 0, attempt, fmt.Errorf("decode answer: %w", err)
			}
			return r, d, attempt, nil
		case resp.StatusCode == http.StatusServiceUnavailable && attempt < 5:
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-time.After(wait):
			case <-ctx.Done():
				return usage.Result{}, 0, attempt, ctx.Err()
			}
		default:
			return usage.Result{}, 0, attempt, fmt.Errorf("status %d: %.300s", resp.StatusCode, data)
		}
	}
}

// baselineMethod describes the raw path, per dialect.
func baselineMethod(d store.Dialect, tx int) string {
	if d == store.Postgres {
		return fmt.Sprintf("store.DB.Ingest with usage.IngestTx called directly (pgx: COPY into a temp table + INSERT … SELECT … ON CONFLICT DO NOTHING for keys, COPY for segments), %d records per transaction", tx)
	}
	return fmt.Sprintf("store.DB.Ingest with usage.IngestTx called directly (prepared single-row INSERTs, same pragmas and page cache), %d records per transaction", tx)
}

type preRec struct {
	key   [16]byte
	fp    int64
	start int64
	end   int64
	q     money.Quantity
	inst  int32 // index into the workload's instances (sub*perSub + res)
	sub   int32
	meter int16
}

// ingestBaseline bulk-loads the same records into a fresh store through
// the store's ingest transaction directly: no HTTP, no JSON, no validation
// and no group commit in the timed part.
func ingestBaseline(ctx context.Context, c *IngestConfig, w *ingestWorkload) (*IngestBaseline, string, error) {
	progressf(c.Progress, "ingest: baseline: opening a fresh %s store", c.Store.backend())
	bs, err := c.Store.freshStore(ctx, "baseline", SQLiteCacheMiB, c.Progress)
	if err != nil {
		return nil, "", err
	}
	defer bs.close()
	if _, _, err := populate(ctx, bs.DB, c.Seed, c.Subscriptions, c.Meters); err != nil {
		return nil, "", err
	}
	subKeys, err := bs.DB.SubscriptionKeys(ctx, w.subIDs)
	if err != nil {
		return nil, "", err
	}
	meterKeys, err := bs.DB.MeterKeys(ctx, w.meterIDs)
	if err != nil {
		return nil, "", err
	}

	// Untimed: validate every record (for its key, fingerprint and
	// instance), group the records into transactions, sort their keys.
	progressf(c.Progress, "ingest: baseline: validating %d records (untimed)", len(w.recs))
	t0 := time.Now()
	perSub := c.InstancesPerSubscription
	insts := make([]usage.Instance, len(w.subIDs)*perSub)
	now := time.Now()
	recs := make([]preRec, len(w.recs))
	err = parallel(ctx, runtime.GOMAXPROCS(0), (len(w.recs)+9999)/10000, func(b int) error {
		for i := b * 10000; i < min((b+1)*10000, len(w.recs)); i++ {
			in := w.input(i)
			r, rej := usage.Validate(&in, now, false)
			if rej != nil {
				return fmt.Errorf("bench: record %d is not valid: %s: %s", i, rej.Code, rej.Message)
			}
			wr := &w.recs[i]
			p := &recs[i]
			p.key, p.fp, p.start, p.end, p.q = r.Key, r.Fingerprint, r.Start.UnixMicro(), r.End.UnixMicro(), r.Quantity
			p.sub, p.meter, p.inst = wr.sub, wr.meter, wr.sub*int32(perSub)+int32(wr.res)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	for i := range w.recs {
		if p := &recs[i]; insts[p.inst].Data == "" {
			in := w.input(i)
			r, _ := usage.Validate(&in, now, false)
			insts[p.inst] = r.Instance
		}
	}
	type txPlan struct {
		lo, hi int
		rows   []usage.KeyRow
		bySub  [][]int32 // record indexes per subscription present, in subscription order
	}
	var plans []txPlan
	for lo := 0; lo < len(recs); lo += c.BaselineTxRecords {
		hi := min(lo+c.BaselineTxRecords, len(recs))
		p := txPlan{lo: lo, hi: hi, rows: make([]usage.KeyRow, 0, hi-lo)}
		subRecs := make(map[int32][]int32)
		for i := lo; i < hi; i++ {
			r := &recs[i]
			p.rows = append(p.rows, usage.KeyRow{Key: r.key, Fingerprint: r.fp, SubscriptionKey: subKeys[w.subIDs[r.sub]]})
			subRecs[r.sub] = append(subRecs[r.sub], int32(i))
		}
		slices.SortFunc(p.rows, func(a, b usage.KeyRow) int { return bytes.Compare(a.Key[:], b.Key[:]) })
		subs := make([]int32, 0, len(subRecs))
		for s := range subRecs {
			subs = append(subs, s)
		}
		slices.Sort(subs)
		for _, s := range subs {
			p.bySub = append(p.bySub, subRecs[s])
		}
		plans = append(plans, p)
	}
	prep := time.Since(t0)

	// Timed: instances, keys, segment encoding and insertion, commits.
	progressf(c.Progress, "ingest: baseline: loading %d records in %d transactions", len(recs), len(plans))
	runtime.GC()
	instKeys := make([]int64, len(insts))
	stored := make([]usage.StoredRecord, 0, c.BaselineTxRecords)
	start := time.Now()
	for _, p := range plans {
		var newKeys map[int32]int64
		err := bs.DB.Ingest(ctx, func(tx usage.IngestTx) error {
			reported := time.Now().UTC().Truncate(time.Microsecond).UnixMicro()
			newKeys = make(map[int32]int64)
			var need []usage.NewInstance
			var needIdx []int32
			for i := p.lo; i < p.hi; i++ {
				r := &recs[i]
				if instKeys[r.inst] != 0 {
					continue
				}
				if _, ok := newKeys[r.inst]; ok {
					continue
				}
				newKeys[r.inst] = 0
				need = append(need, usage.NewInstance{SubscriptionKey: subKeys[w.subIDs[r.sub]], Hash: insts[r.inst].Hash, Data: insts[r.inst].Data})
				needIdx = append(needIdx, r.inst)
			}
			if len(need) > 0 {
				keys, err := tx.InstanceKeys(ctx, need)
				if err != nil {
					return err
				}
				for j, idx := range needIdx {
					newKeys[idx] = keys[j]
				}
			}
			existing, err := tx.InsertKeys(ctx, p.rows)
			if err != nil {
				return err
			}
			if len(existing) > 0 {
				return fmt.Errorf("bench: %d keys already existed in a fresh store", len(existing))
			}
			segs := make([]usage.Segment, 0, len(p.bySub))
			for _, idxs := range p.bySub {
				for len(idxs) > 0 {
					n := min(len(idxs), usage.MaxSegmentRecords)
					stored = stored[:0]
					var sub int64
					for _, i := range idxs[:n] {
						r := &recs[i]
						ik := instKeys[r.inst]
						if ik == 0 {
							ik = newKeys[r.inst]
						}
						sub = subKeys[w.subIDs[r.sub]]
						stored = append(stored, usage.StoredRecord{ID: w.recs[i].id, MeterKey: meterKeys[w.meterIDs[r.meter]], InstanceKey: ik,
							Start: r.start, End: r.end, Quantity: r.q})
					}
					segs = append(segs, usage.Segment{SubscriptionKey: sub, ReportedAt: reported, Records: n, Data: usage.EncodeSegment(stored)})
					idxs = idxs[n:]
				}
			}
			return tx.InsertSegments(ctx, segs)
		})
		if err != nil {
			return nil, "", fmt.Errorf("bench: baseline load: %w", err)
		}
		for idx, k := range newKeys {
			instKeys[idx] = k
		}
	}
	d := time.Since(start)
	b := &IngestBaseline{Method: baselineMethod(bs.DB.Dialect(), c.BaselineTxRecords), TxRecords: c.BaselineTxRecords, Transactions: len(plans),
		Seconds: d.Seconds(), RecordsPerSec: float64(len(recs)) / d.Seconds(), PrepareSeconds: prep.Seconds()}
	if b.Stored, err = countStored(ctx, bs.dsn); err != nil {
		return nil, "", err
	}
	return b, bs.Desc, nil
}
