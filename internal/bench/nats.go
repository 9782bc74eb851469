package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reckon-billing/reckon/internal/natsingest"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// NATSConfig configures the NATS ingest benchmark: records published to a
// JetStream stream, then consumed by Reckon's NATS ingestion path into a
// store, against the raw bulk load of the same records.
type NATSConfig struct {
	Store StoreSpec
	// NATSURL is a running NATS server with JetStream (for example
	// "go tool nats-server -js -sd DIR"); the benchmark creates its own
	// stream there and deletes it afterwards.
	NATSURL string
	// Records is how many records are published (N); Batch is the records
	// per message.
	Records int
	Batch   int
	// Subscriptions, Meters and InstancesPerSubscription size the catalog.
	Subscriptions            int
	Meters                   int
	InstancesPerSubscription int
	// Workers and FetchMessages configure the consumer (natsingest.Config).
	Workers       int
	FetchMessages int
	// Nodes is how many Reckon nodes consume the stream together (one
	// durable consumer shared, each node its own store connections and
	// usage service); more than one needs PostgreSQL.
	Nodes int
	// BaselineTxRecords is the records per transaction of the baseline.
	BaselineTxRecords int
	SkipBaseline      bool
	Seed              uint64
	// ConsumeCPUProfile, when set, is a file that receives a CPU profile
	// of the consume phase only.
	ConsumeCPUProfile string
	// Progress receives progress lines; nil discards them.
	Progress io.Writer
}

// DefaultNATS is the full NATS ingest benchmark.
func DefaultNATS() NATSConfig {
	d := DefaultIngest()
	return NATSConfig{NATSURL: "nats://127.0.0.1:4222", Records: d.Records, Batch: 500, Subscriptions: d.Subscriptions,
		Meters: d.Meters, InstancesPerSubscription: d.InstancesPerSubscription, Workers: natsingest.Defaults.Workers,
		FetchMessages: natsingest.Defaults.FetchMessages, BaselineTxRecords: d.BaselineTxRecords, Seed: 1}
}

// SmallNATS is a smoke-test size of the NATS benchmark (seconds).
func SmallNATS() NATSConfig {
	c := DefaultNATS()
	c.Records, c.Subscriptions, c.BaselineTxRecords = 50_000, 100, 10_000
	return c
}

// NATSResult is the outcome of the NATS ingest benchmark.
type NATSResult struct {
	Machine       Machine `json:"machine"`
	Backend       string  `json:"backend"`
	Store         string  `json:"store"`
	BaselineStore string  `json:"baselineStore,omitempty"`
	NATSServer    string  `json:"natsServer"`
	Records       int     `json:"records"`
	Batch         int     `json:"batch"`
	Messages      int     `json:"messages"`
	BodyBytes     int64   `json:"bodyBytes"`
	Subscriptions int     `json:"subscriptions"`
	Meters        int     `json:"meters"`
	Instances     int     `json:"instances"`
	Workers       int     `json:"workers"`
	FetchMessages int     `json:"fetchMessages"`
	Nodes         int     `json:"nodes"`
	// PrepareSeconds is the untimed generation and encoding of the messages.
	PrepareSeconds float64         `json:"prepareSeconds"`
	Publish        NATSPublish     `json:"publish"`
	Consume        NATSConsume     `json:"consume"`
	Baseline       *IngestBaseline `json:"baseline,omitempty"`
	// Ratio is consume records/s over baseline records/s.
	Ratio    float64  `json:"ratio,omitempty"`
	Failures []string `json:"failures,omitempty"`
}

// NATSPublish is the timed publication of the messages to the stream.
type NATSPublish struct {
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
	MiBPerSec     float64 `json:"mibPerSec"`
}

// NATSConsume is the timed consumption: from the start of the consumer to
// the acknowledgement of the last message (every record committed).
type NATSConsume struct {
	Seconds        float64          `json:"seconds"`
	RecordsPerSec  float64          `json:"recordsPerSec"`
	MiBPerSec      float64          `json:"mibPerSec"`
	Stats          natsingest.Stats `json:"stats"`
	Stored         StoredCounts     `json:"stored"`
	ProfileWritten string           `json:"profile,omitempty"`
}

func (c *NATSConfig) check() error {
	switch {
	case c.NATSURL == "":
		return errors.New("bench: --nats is needed (a NATS server with JetStream, e.g. go tool nats-server -js -sd DIR)")
	case c.Records <= 0, c.Batch <= 0, c.Subscriptions <= 0, c.Meters <= 0, c.InstancesPerSubscription <= 0, c.Workers <= 0, c.FetchMessages <= 0:
		return errors.New("bench: --records, --batch, --subscriptions, --meters, --instances, --workers and --fetch must be positive")
	case c.BaselineTxRecords <= 0 && !c.SkipBaseline:
		return errors.New("bench: --baseline-tx must be positive")
	case c.Nodes > 1 && c.Store.PostgresDSN == "":
		return errors.New("bench: several --nodes need PostgreSQL (--db)")
	}
	return c.Store.check()
}

// RunNATS runs the NATS ingest benchmark. It returns the result even when a
// check fails; the error then lists the failures.
func RunNATS(ctx context.Context, c NATSConfig) (*NATSResult, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	log := newLogger(c.Progress)
	res := &NATSResult{Machine: ThisMachine(), Backend: c.Store.backend(), Records: c.Records, Batch: c.Batch,
		Subscriptions: c.Subscriptions, Meters: c.Meters, Workers: c.Workers, FetchMessages: c.FetchMessages}
	ic := IngestConfig{Store: c.Store, Records: c.Records, Clients: 1, Batch: c.Batch, Subscriptions: c.Subscriptions,
		Meters: c.Meters, InstancesPerSubscription: c.InstancesPerSubscription, BaselineTxRecords: c.BaselineTxRecords,
		SkipBaseline: c.SkipBaseline, Seed: c.Seed, Progress: c.Progress}

	nc, err := nats.Connect(c.NATSURL, nats.Name("reckon-bench"))
	if err != nil {
		return nil, fmt.Errorf("bench: connect to NATS: %w", err)
	}
	defer nc.Close()
	res.NATSServer = "nats-server " + nc.ConnectedServerVersion() + " at " + nc.ConnectedUrlRedacted()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(512))
	if err != nil {
		return nil, err
	}

	progressf(c.Progress, "nats: opening a fresh %s store", res.Backend)
	bs, err := c.Store.freshStore(ctx, "nats", SQLiteCacheMiB, c.Progress)
	if err != nil {
		return nil, err
	}
	defer bs.close()
	res.Store = bs.Desc
	subIDs, meterIDs, err := populate(ctx, bs.DB, c.Seed, c.Subscriptions, c.Meters)
	if err != nil {
		return nil, err
	}
	progressf(c.Progress, "nats: generating and encoding %d records in messages of %d (untimed)", c.Records, c.Batch)
	t0 := time.Now()
	w := newIngestWorkload(&ic, subIDs, meterIDs, time.Now())
	msgs, size := w.bodies(c.Batch)
	res.PrepareSeconds = time.Since(t0).Seconds()
	res.Messages, res.BodyBytes = len(msgs), size
	res.Instances = countInstances(w)
	for _, m := range msgs {
		if int64(len(m)) > nc.MaxPayload() {
			return nil, fmt.Errorf("bench: a message of %d records is %d bytes, over the server's max payload of %d; use a smaller --batch", c.Batch, len(m), nc.MaxPayload())
		}
	}

	// A stream of its own, removed afterwards.
	suffix := make([]byte, 4)
	rand.Read(suffix)
	tag := hex.EncodeToString(suffix)
	streamName := "RECKON_BENCH_" + tag
	subjects := "reckon.bench." + tag + ".>"
	subject := "reckon.bench." + tag + ".records"
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = js.CreateStream(sctx, jetstream.StreamConfig{Name: streamName, Subjects: []string{subjects}, Storage: jetstream.FileStorage})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: create stream: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		js.DeleteStream(dctx, streamName)
	}()

	progressf(c.Progress, "nats: publishing %d messages (%.0f MiB) to %s", len(msgs), float64(size)/(1<<20), subject)
	runtime.GC()
	start := time.Now()
	// At most 256 messages unacknowledged by the stream.
	var inflight []jetstream.PubAckFuture
	wait := func(f jetstream.PubAckFuture) error {
		select {
		case <-f.Ok():
			return nil
		case err := <-f.Err():
			return fmt.Errorf("bench: publish: %w", err)
		case <-time.After(time.Minute):
			return errors.New("bench: publish: no acknowledgement from the stream in a minute")
		}
	}
	for _, m := range msgs {
		if len(inflight) >= 256 {
			if err := wait(inflight[0]); err != nil {
				return nil, err
			}
			inflight = inflight[1:]
		}
		f, err := js.PublishAsync(subject, m)
		if err != nil {
			return nil, fmt.Errorf("bench: publish: %w", err)
		}
		inflight = append(inflight, f)
	}
	for _, f := range inflight {
		if err := wait(f); err != nil {
			return nil, err
		}
	}
	p := time.Since(start).Seconds()
	res.Publish = NATSPublish{Seconds: p, RecordsPerSec: float64(c.Records) / p, MiBPerSec: float64(size) / (1 << 20) / p}
	msgs = nil
	progressf(c.Progress, "nats: published at %.0f records/s (%.1f s)", res.Publish.RecordsPerSec, p)

	progressf(c.Progress, "nats: consuming into the %s store (%d workers, up to %d messages per batch)", res.Backend, c.Workers, c.FetchMessages)
	nodes := max(c.Nodes, 1)
	res.Nodes = nodes
	// Each node: its own store connections (but the first's, the benchmark's
	// own) and usage service, committing as "reckon serve" does.
	committers := bs.DB.IngestCommitters()
	var svcs []*usage.Service
	var dbs []*store.DB
	closeNodes := func() {
		for _, s := range svcs {
			s.Close()
		}
		for _, db := range dbs {
			db.Close()
		}
	}
	for i := range nodes {
		db := bs.DB
		if i > 0 {
			if db, err = store.Open(ctx, bs.dsn, "", store.Options{}); err != nil {
				closeNodes()
				return nil, err
			}
			dbs = append(dbs, db)
		}
		svcs = append(svcs, usage.NewService(db, time.Now, log, usage.Config{Committers: committers}))
	}
	runtime.GC()
	var stopProfile func()
	if c.ConsumeCPUProfile != "" {
		f, err := os.Create(c.ConsumeCPUProfile)
		if err != nil {
			closeNodes()
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			closeNodes()
			return nil, err
		}
		stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		res.Consume.ProfileWritten = c.ConsumeCPUProfile
	}
	start = time.Now()
	var consumers []*natsingest.Consumer
	stopAll := func() {
		for _, cons := range consumers {
			cons.Stop()
		}
		closeNodes()
	}
	for _, svc := range svcs {
		cons, err := natsingest.Start(ctx, natsingest.Config{URL: c.NATSURL, Stream: streamName, Subject: subjects,
			Durable: "reckon-bench", DeadLetterSubject: "reckon.bench." + tag + ".rejected", Workers: c.Workers,
			FetchMessages: c.FetchMessages, Log: log}, svc)
		if err != nil {
			if stopProfile != nil {
				stopProfile()
			}
			stopAll()
			return nil, err
		}
		consumers = append(consumers, cons)
	}
	stats := func() natsingest.Stats {
		var t natsingest.Stats
		for _, cons := range consumers {
			s := cons.Stats()
			t.Batches += s.Batches
			t.Messages += s.Messages
			t.Records += s.Records
			t.Accepted += s.Accepted
			t.Duplicates += s.Duplicates
			t.Rejected += s.Rejected
			t.DeadLetters += s.DeadLetters
			t.Malformed += s.Malformed
			t.CommitFailures += s.CommitFailures
			t.Skipped += s.Skipped
			t.FetchSeconds += s.FetchSeconds
			t.DecodeSeconds += s.DecodeSeconds
			t.CommitSeconds += s.CommitSeconds
		}
		return t
	}
	deadline := time.Now().Add(30 * time.Minute)
	for {
		s := stats()
		if s.Messages >= int64(res.Messages) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stopAll()
			return nil, fmt.Errorf("bench: the consumers acknowledged %d of %d messages", s.Messages, res.Messages)
		}
		time.Sleep(2 * time.Millisecond) // polling the consumers' totals: the end of the timed part
	}
	d := time.Since(start).Seconds()
	if stopProfile != nil {
		stopProfile()
	}
	stopAll()
	consumeStats := stats()
	res.Consume.Seconds = d
	res.Consume.RecordsPerSec = float64(c.Records) / d
	res.Consume.MiBPerSec = float64(size) / (1 << 20) / d
	res.Consume.Stats = consumeStats
	if res.Consume.Stored, err = countStored(ctx, bs.dsn); err != nil {
		return nil, err
	}
	progressf(c.Progress, "nats: consumed at %.0f records/s (%.1f s)", res.Consume.RecordsPerSec, d)

	if !c.SkipBaseline {
		b, desc, err := ingestBaseline(ctx, &ic, w)
		if err != nil {
			return nil, err
		}
		res.Baseline, res.BaselineStore = b, desc
		res.Ratio = res.Consume.RecordsPerSec / b.RecordsPerSec
		progressf(c.Progress, "nats: baseline %.0f records/s (%.1f s)", b.RecordsPerSec, b.Seconds)
	}

	n := int64(c.Records)
	check := func(ok bool, format string, args ...any) {
		if !ok {
			res.Failures = append(res.Failures, fmt.Sprintf(format, args...))
		}
	}
	st := res.Consume.Stats
	check(st.Accepted == n, "the consumer accepted %d records, want %d", st.Accepted, n)
	check(st.Duplicates == 0 && st.Rejected == 0 && st.CommitFailures == 0, "the consumer saw %d duplicates, %d rejections and %d failed commits, want none",
		st.Duplicates, st.Rejected, st.CommitFailures)
	check(res.Consume.Stored.Keys == n && res.Consume.Stored.Records == n, "the store holds %d keys and %d records, want %d",
		res.Consume.Stored.Keys, res.Consume.Stored.Records, n)
	if b := res.Baseline; b != nil {
		check(b.Stored.Keys == n && b.Stored.Records == n, "the baseline store holds %d keys and %d records, want %d", b.Stored.Keys, b.Stored.Records, n)
	}
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("bench: %d checks failed", len(res.Failures))
	}
	return res, nil
}

// WriteNATS prints the NATS benchmark's result as a plain-text table.
func WriteNATS(w io.Writer, r *NATSResult) {
	fmt.Fprintf(w, "\nReckon NATS ingest benchmark (reckon bench nats)\n")
	writeMachine(w, r.Machine)
	fmt.Fprintf(w, "  store     %s\n", r.Store)
	if r.BaselineStore != "" {
		fmt.Fprintf(w, "  baseline  %s (a second fresh store)\n", r.BaselineStore)
	}
	fmt.Fprintf(w, "  nats      %s; a stream of its own (file storage)\n", r.NATSServer)
	fmt.Fprintf(w, "  workload  %s records (as reckon bench ingest), %s subscriptions, %d meters, %s instances;\n",
		group(int64(r.Records)), group(int64(r.Subscriptions)), r.Meters, group(int64(r.Instances)))
	fmt.Fprintf(w, "            %s NDJSON messages of %d records (%s), published before the consumer starts;\n",
		group(int64(r.Messages)), r.Batch, mib(r.BodyBytes))
	fmt.Fprintf(w, "            consumer: %d node(s) sharing one durable consumer, %d workers each, up to %d messages per batch, one usage batch (group commit) per fetch\n\n",
		max(r.Nodes, 1), r.Workers, r.FetchMessages)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\trecords/s\ttime\tMiB/s\t\n", label(""))
	fmt.Fprintf(tw, "%s\t%s\t%.2f s\t%.1f\t\n", label("publish  to JetStream (async)"), groupf(r.Publish.RecordsPerSec), r.Publish.Seconds, r.Publish.MiBPerSec)
	fmt.Fprintf(tw, "%s\t%s\t%.2f s\t%.1f\t\n", label("consume  NATS → "+r.Backend+" (fetch, commit, ack)"), groupf(r.Consume.RecordsPerSec), r.Consume.Seconds, r.Consume.MiBPerSec)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(tw, "%s\t%s\t%.2f s\t\t\n", label("raw      store ingest transactions (baseline)"), groupf(b.RecordsPerSec), b.Seconds)
		fmt.Fprintf(tw, "%s\t%.1f %%\t\t\t\n", label("NATS / raw"), 100*r.Ratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "  baseline  %s\n", b.Method)
	}
	s := r.Consume.Stats
	fmt.Fprintf(w, "  checks    %s batches, %s messages acknowledged; accepted %s (N = %s), duplicates %d, rejected %d, failed commits %d;\n",
		group(s.Batches), group(s.Messages), group(s.Accepted), group(int64(r.Records)), s.Duplicates, s.Rejected, s.CommitFailures)
	fmt.Fprintf(w, "            stored %s keys and %s records in %s segments\n", group(r.Consume.Stored.Keys), group(r.Consume.Stored.Records), group(r.Consume.Stored.Segments))
	fmt.Fprintf(w, "  time      summed over the workers: waiting for fetches %.2f s, decoding and validation %.2f s, commits %.2f s, acknowledgements %.2f s\n",
		s.FetchSeconds, s.DecodeSeconds, s.CommitSeconds, s.AckSeconds)
	if r.Consume.ProfileWritten != "" {
		fmt.Fprintf(w, "  profile   CPU profile of the consume phase: %s (go tool pprof -top %s)\n", r.Consume.ProfileWritten, r.Consume.ProfileWritten)
	}
	writeGoals(w, nil, r.Failures)
}
