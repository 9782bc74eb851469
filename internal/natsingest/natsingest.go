// Package natsingest consumes usage records from a NATS JetStream stream: a
// durable pull consumer fetches batches of messages, each batch is decoded
// and committed as one usage batch (the same decoder, validation and
// idempotency as the HTTP endpoint), and the messages are acknowledged only
// after the commit returned. Rejected records go to a dead-letter subject.
//
// Exactly once follows from at-least-once delivery plus the record-id
// idempotency of the usage service: a message is acknowledged only after
// the records it carries are committed, so a crash or a lost
// acknowledgement only causes a redelivery, and a redelivered record is a
// duplicate, never counted twice.
package natsingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Config configures a Consumer. Zero fields take their value from Defaults.
type Config struct {
	// URL is the NATS server, e.g. nats://127.0.0.1:4222 (a comma-separated
	// list for a cluster).
	URL string
	// Stream is the JetStream stream, created (file storage) when missing.
	Stream string
	// Subject is the subject filter of the consumer, and the subject of a
	// stream this package creates.
	Subject string
	// Durable is the name of the durable pull consumer.
	Durable string
	// DeadLetterSubject receives one message per rejected record. When a
	// stream captures it (the default subjects: the usage stream itself),
	// dead letters are published through JetStream and so persisted, and
	// the consumer acknowledges them without ingesting them.
	DeadLetterSubject string
	// CredsFile and TokenFile authenticate to NATS (optional).
	CredsFile string
	TokenFile string
	// Workers is how many fetch-commit-ack loops run at once; each has at
	// most one batch in flight.
	Workers int
	// FetchMessages and FetchBytes bound a batch; FetchWait is how long a
	// fetch waits for a batch to fill.
	FetchMessages int
	FetchBytes    int
	FetchWait     time.Duration
	// MaxAckPending bounds the messages delivered and not yet acknowledged.
	MaxAckPending int
	// AckWait is how long the server waits for an acknowledgement before
	// redelivering.
	AckWait time.Duration
	// RetryMin and RetryMax bound the delay of a redelivery after a failed
	// commit (exponential back-off between them).
	RetryMin, RetryMax time.Duration
	// CommitTimeout bounds one commit.
	CommitTimeout time.Duration
	// StatsInterval is how often the totals are logged (when they changed).
	StatsInterval time.Duration
	// Log receives structured logs; nil discards them.
	Log *slog.Logger
	// Registerer, when set, receives the consumer's Prometheus metrics.
	Registerer prometheus.Registerer
}

// Defaults are the values of the zero fields of a Config.
var Defaults = Config{
	Stream:            "RECKON_USAGE",
	Subject:           "reckon.usage.>",
	Durable:           "reckon-ingest",
	DeadLetterSubject: "reckon.usage.rejected",
	Workers:           2,
	FetchMessages:     5000,
	FetchBytes:        16 << 20,
	FetchWait:         100 * time.Millisecond,
	MaxAckPending:     20000,
	AckWait:           2 * time.Minute,
	RetryMin:          time.Second,
	RetryMax:          30 * time.Second,
	CommitTimeout:     90 * time.Second,
	StatsInterval:     30 * time.Second,
}

func (c *Config) fill() {
	d := Defaults
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Stream, d.Stream)
	def(&c.Subject, d.Subject)
	def(&c.Durable, d.Durable)
	def(&c.DeadLetterSubject, d.DeadLetterSubject)
	for _, p := range []struct {
		v *int
		d int
	}{{&c.Workers, d.Workers}, {&c.FetchMessages, d.FetchMessages},
		{&c.FetchBytes, d.FetchBytes}, {&c.MaxAckPending, d.MaxAckPending}} {
		if *p.v <= 0 {
			*p.v = p.d
		}
	}
	for _, p := range []struct {
		v *time.Duration
		d time.Duration
	}{{&c.FetchWait, d.FetchWait}, {&c.AckWait, d.AckWait},
		{&c.RetryMin, d.RetryMin}, {&c.RetryMax, d.RetryMax}, {&c.CommitTimeout, d.CommitTimeout}, {&c.StatsInterval, d.StatsInterval}} {
		if *p.v <= 0 {
			*p.v = p.d
		}
	}
	c.RetryMax = max(c.RetryMax, c.RetryMin)
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Stats are a consumer's totals since it started.
type Stats struct {
	Batches        int64 `json:"batches"`        // batches committed
	Messages       int64 `json:"messages"`       // messages acknowledged or terminated
	Records        int64 `json:"records"`        // records decoded
	Accepted       int64 `json:"accepted"`       // records accepted
	Duplicates     int64 `json:"duplicates"`     // records accepted before
	Rejected       int64 `json:"rejected"`       // records rejected (each has a dead letter)
	DeadLetters    int64 `json:"deadLetters"`    // dead letters published
	Malformed      int64 `json:"malformed"`      // messages that were not JSON records
	CommitFailures int64 `json:"commitFailures"` // batches whose commit failed (redelivered later)
	Skipped        int64 `json:"skipped"`        // dead letters met on the consumed subjects, acknowledged
	// Where the time went, summed over the workers: waiting for fetches,
	// decoding and validating, committing, and dead letters plus
	// acknowledgements.
	FetchSeconds  float64 `json:"fetchSeconds"`
	DecodeSeconds float64 `json:"decodeSeconds"`
	CommitSeconds float64 `json:"commitSeconds"`
	AckSeconds    float64 `json:"ackSeconds"`
}

type counters struct {
	batches, messages, records, accepted, duplicates, rejected, deadLetters, malformed, commitFailures, skipped atomic.Int64
	fetchNs, decodeNs, commitNs, ackNs                                                                          atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{Batches: c.batches.Load(), Messages: c.messages.Load(), Records: c.records.Load(),
		Accepted: c.accepted.Load(), Duplicates: c.duplicates.Load(), Rejected: c.rejected.Load(),
		DeadLetters: c.deadLetters.Load(), Malformed: c.malformed.Load(), CommitFailures: c.commitFailures.Load(),
		Skipped: c.skipped.Load(), FetchSeconds: seconds(&c.fetchNs), DecodeSeconds: seconds(&c.decodeNs),
		CommitSeconds: seconds(&c.commitNs), AckSeconds: seconds(&c.ackNs)}
}

func seconds(ns *atomic.Int64) float64 { return time.Duration(ns.Load()).Seconds() }

// since adds the time since t to ns and returns now.
func since(ns *atomic.Int64, t time.Time) time.Time {
	now := time.Now()
	ns.Add(int64(now.Sub(t)))
	return now
}

// Consumer ingests usage records from JetStream until stopped.
type Consumer struct {
	cfg  Config
	svc  *usage.Service
	log  *slog.Logger
	nc   *nats.Conn
	js   jetstream.JetStream
	cons jetstream.Consumer
	// dlJetStream is set when a stream captures the dead-letter subject.
	dlJetStream bool

	n       counters
	m       *metrics
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped chan struct{}
	once    sync.Once
}

// Start connects to NATS, creates the stream when it does not exist and
// the durable consumer, and starts consuming. It fails when NATS cannot be
// reached or the stream and consumer cannot be set up; once started, it
// reconnects by itself. Stop ends it.
func Start(ctx context.Context, cfg Config, svc *usage.Service) (*Consumer, error) {
	cfg.fill()
	if cfg.URL == "" {
		return nil, errors.New("natsingest: no NATS URL")
	}
	c := &Consumer{cfg: cfg, svc: svc, log: cfg.Log.With("component", "nats-ingest"), stopped: make(chan struct{})}
	opts := []nats.Option{
		nats.Name("reckon-ingest"),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: the connection was closed on purpose
				c.log.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			c.log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted())
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TokenFile != "" {
		tok, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("natsingest: token file: %w", err)
		}
		opts = append(opts, nats.Token(strings.TrimSpace(string(tok))))
	}
	nc, err := nats.Connect(cfg.URL, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsingest: connect to %s: %w", redactURL(cfg.URL), err)
	}
	c.nc = nc
	if err := c.setup(ctx); err != nil {
		nc.Close()
		return nil, err
	}
	c.m = newMetrics(cfg.Registerer)
	c.log.Info("consuming usage records from NATS JetStream", "url", nc.ConnectedUrlRedacted(), "stream", cfg.Stream,
		"subject", cfg.Subject, "durable", cfg.Durable, "deadLetterSubject", cfg.DeadLetterSubject,
		"deadLettersPersisted", c.dlJetStream, "workers", cfg.Workers, "fetchMessages", cfg.FetchMessages,
		"fetchBytes", cfg.FetchBytes, "maxAckPending", cfg.MaxAckPending)
	runCtx, cancel := context.WithCancel(ctx)
	c.cancel = cancel
	for i := range cfg.Workers {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			c.worker(runCtx, i)
		}()
	}
	go c.statsLoop(runCtx)
	go func() {
		c.wg.Wait()
		// The acknowledgements of the last batches are on their way: make
		// sure the server has them before the connection goes.
		if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
			c.log.Warn("NATS flush at stop", "err", err)
		}
		c.nc.Close()
		c.log.Info("NATS ingestion stopped", "stats", c.Stats())
		close(c.stopped)
	}()
	return c, nil
}

// setup makes sure the stream and the durable consumer exist.
func (c *Consumer) setup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	js, err := jetstream.New(c.nc)
	if err != nil {
		return fmt.Errorf("natsingest: %w", err)
	}
	c.js = js
	if _, err := js.Stream(ctx, c.cfg.Stream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        c.cfg.Stream,
			Description: "Reckon usage records (see docs/nats.md)",
			Subjects:    []string{c.cfg.Subject},
			Storage:     jetstream.FileStorage,
			Duplicates:  2 * time.Minute,
		})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("natsingest: create stream %s: %w", c.cfg.Stream, err)
		}
		if err == nil {
			c.log.Info("NATS stream created", "stream", c.cfg.Stream, "subject", c.cfg.Subject)
		}
	} else if err != nil {
		return fmt.Errorf("natsingest: stream %s: %w", c.cfg.Stream, err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, c.cfg.Stream, jetstream.ConsumerConfig{
		Durable:       c.cfg.Durable,
		Description:   "Reckon usage ingestion",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.cfg.AckWait,
		MaxDeliver:    -1,
		FilterSubject: c.cfg.Subject,
		MaxAckPending: c.cfg.MaxAckPending,
	})
	if err != nil {
		return fmt.Errorf("natsingest: consumer %s on stream %s: %w", c.cfg.Durable, c.cfg.Stream, err)
	}
	c.cons = cons
	if name, err := js.StreamNameBySubject(ctx, c.cfg.DeadLetterSubject); err == nil && name != "" {
		c.dlJetStream = true
	}
	return nil
}

// Stop stops fetching, finishes the batches in flight (commit, then
// acknowledgement), and closes the connection. It may be called more than
// once.
func (c *Consumer) Stop() {
	c.once.Do(func() { c.cancel() })
	<-c.stopped
}

// Done is closed once the consumer has stopped.
func (c *Consumer) Done() <-chan struct{} { return c.stopped }

// Stats returns the totals so far.
func (c *Consumer) Stats() Stats { return c.n.snapshot() }

func (c *Consumer) statsLoop(ctx context.Context) {
	t := time.NewTicker(c.cfg.StatsInterval)
	defer t.Stop()
	var last Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s := c.Stats(); s != last {
				last = s
				c.log.Info("NATS ingestion totals", "batches", s.Batches, "messages", s.Messages, "records", s.Records,
					"accepted", s.Accepted, "duplicates", s.Duplicates, "rejected", s.Rejected, "deadLetters", s.DeadLetters,
					"malformedMessages", s.Malformed, "commitFailures", s.CommitFailures)
			}
		}
	}
}

// worker fetches a batch, commits it, acknowledges it, and only then
// fetches the next: the store's pace is the consumer's pace.
func (c *Consumer) worker(ctx context.Context, id int) {
	fetchFailures, commitFailures := 0, 0
	for ctx.Err() == nil {
		t0 := time.Now()
		mb, err := c.cons.Fetch(c.cfg.FetchMessages, jetstream.FetchMaxWait(c.cfg.FetchWait), jetstream.FetchMaxBytes(c.cfg.FetchBytes))
		if err != nil {
			fetchFailures++
			c.log.Warn("NATS fetch failed", "worker", id, "err", err)
			sleep(ctx, min(c.backoff(fetchFailures), fetchRetryMax))
			continue
		}
		var msgs []jetstream.Msg
		for m := range mb.Messages() {
			msgs = append(msgs, m)
		}
		since(&c.n.fetchNs, t0)
		if err := mb.Error(); err != nil && len(msgs) == 0 && !errors.Is(err, nats.ErrTimeout) {
			fetchFailures++
			c.log.Debug("NATS fetch", "worker", id, "err", err)
			sleep(ctx, min(c.backoff(fetchFailures), fetchRetryMax))
			continue
		}
		fetchFailures = 0
		if len(msgs) == 0 {
			continue
		}
		// Whatever was fetched is processed, even when stopping: it is the
		// batch in flight.
		if delay, ok := c.process(ctx, msgs, commitFailures); !ok {
			commitFailures++
			sleep(ctx, delay)
			continue
		}
		commitFailures = 0
	}
}

// fetchRetryMax bounds the wait after failed fetches (NATS unreachable):
// once it is back, consuming resumes within it.
const fetchRetryMax = 2 * time.Second

// backoff is the delay after the n-th consecutive failure.
func (c *Consumer) backoff(n int) time.Duration {
	d := c.cfg.RetryMin
	for i := 1; i < n && d < c.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, c.cfg.RetryMax)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// work is one fetched message.
type work struct {
	msg     jetstream.Msg
	seq     uint64
	entries []entry
	base    int   // batch index of its first record
	bad     error // the message is not JSON records
	skip    bool  // a dead letter met on the consumed subjects
	rej     []usage.Rejection
}

type entry struct {
	in  *usage.RecordInput
	rej *usage.Rejection
}

// process commits one batch and acknowledges its messages. It returns
// false, and the delay after which the messages come back, when the commit
// failed.
func (c *Consumer) process(ctx context.Context, msgs []jetstream.Msg, failures int) (time.Duration, bool) {
	start := time.Now()
	ws := make([]work, len(msgs))
	total := 0
	var withRecords []int
	for i, m := range msgs {
		w := &ws[i]
		w.msg = m
		if md, err := m.Metadata(); err == nil {
			w.seq = md.Sequence.Stream
		}
		if m.Subject() == c.cfg.DeadLetterSubject {
			w.skip = true
			continue
		}
		w.entries, w.bad = decodeMessage(m.Data())
		if w.bad != nil {
			w.entries = nil
			continue
		}
		if len(w.entries) > 0 {
			w.base = total
			total += len(w.entries)
			withRecords = append(withRecords, i)
		}
	}

	t := since(&c.n.decodeNs, start)
	var res usage.Result
	if total > 0 {
		batch := c.svc.NewBatch(false) // NATS publishers are meter sources, not operators
		batch.Expect(total)
		for i := range ws {
			for j, e := range ws[i].entries {
				batch.Add(ws[i].base+j, e.in, e.rej)
			}
			ws[i].entries = nil
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CommitTimeout)
		var err error
		t = since(&c.n.decodeNs, t) // validation happens as records are added
		stopProgress := c.inProgress(ws)
		res, err = c.svc.Ingest(cctx, batch)
		stopProgress()
		cancel()
		t = since(&c.n.commitNs, t)
		if err != nil {
			// Nothing was committed: every message comes back later.
			delay := c.backoff(failures + 1)
			if ctx.Err() != nil {
				delay = 0 // stopping: let the next consumer have them at once
			}
			for _, w := range ws {
				if err := w.msg.NakWithDelay(delay); err != nil {
					c.log.Debug("NATS nak", "seq", w.seq, "err", err)
				}
			}
			c.n.commitFailures.Add(1)
			c.m.commitFailures.Inc()
			c.m.messages.WithLabelValues("nak").Add(float64(len(ws)))
			retry := 0
			if be := billing.AsError(err); be != nil {
				retry = be.RetryAfter
			}
			c.log.Warn("usage batch from NATS not committed; the messages will be redelivered", "messages", len(ws),
				"records", total, "redeliverIn", delay.String(), "retryAfter", retry, "err", err)
			return delay, false
		}
	}

	// Rejections go back to their messages.
	for _, r := range res.Rejected {
		w := &ws[owner(ws, withRecords, r.Index)]
		r.Index -= w.base
		w.rej = append(w.rej, r)
	}
	deadFailed := c.deadLetters(ws)

	acked, termed, naked, skipped := 0, 0, 0, 0
	for i := range ws {
		w := &ws[i]
		var err error
		switch {
		case w.skip:
			err = w.msg.Ack()
			skipped++
		case deadFailed[i]:
			// The dead letter could not be published: the message comes
			// back, its valid records are duplicates then.
			err = w.msg.NakWithDelay(c.cfg.RetryMin)
			naked++
		case w.bad != nil || len(w.rej) > 0:
			err = w.msg.TermWithReason("reckon: rejected records published to " + c.cfg.DeadLetterSubject)
			termed++
		default:
			err = w.msg.Ack()
			acked++
		}
		if err != nil {
			// The message will be redelivered and its records found duplicates.
			c.log.Debug("NATS acknowledgement", "seq", w.seq, "err", err)
		}
	}
	if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
		c.log.Debug("NATS flush", "err", err)
	}
	since(&c.n.ackNs, t)

	malformed := 0
	for _, w := range ws {
		if w.bad != nil {
			malformed++
		}
	}
	c.n.batches.Add(1)
	c.n.messages.Add(int64(acked + termed))
	c.n.skipped.Add(int64(skipped))
	c.n.records.Add(int64(total))
	c.n.accepted.Add(int64(res.Accepted))
	c.n.duplicates.Add(int64(res.Duplicates))
	c.n.rejected.Add(int64(len(res.Rejected)))
	c.n.malformed.Add(int64(malformed))
	c.m.observe(res, acked, termed, naked, skipped, time.Since(start))
	c.log.Debug("usage batch from NATS committed", "messages", len(ws), "records", total, "accepted", res.Accepted,
		"duplicates", res.Duplicates, "rejected", len(res.Rejected), "malformedMessages", malformed,
		"took", time.Since(start).String())
	return 0, true
}

// inProgress tells NATS, while a commit lasts longer than a third of the
// ack wait, that the batch's messages are still being worked on, so that a
// slow store does not cause redeliveries of what is being committed.
func (c *Consumer) inProgress(ws []work) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(c.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, w := range ws {
					w.msg.InProgress()
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// owner is the index in ws of the message whose records include batch
// index i; withRecords lists the messages that carry records, in order.
func owner(ws []work, withRecords []int, i int) int {
	k := sort.Search(len(withRecords), func(k int) bool { return ws[withRecords[k]].base > i }) - 1
	return withRecords[max(k, 0)]
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "***" + u[i:]
		}
	}
	return u
}
