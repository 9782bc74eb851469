package usage

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
)

// Config tunes the ingest path and the reported-time guarantee.
type Config struct {
	// MaxBatchRecords bounds the records committed in one transaction when
	// concurrent requests are grouped.
	MaxBatchRecords int
	// SettleMargin is how long after its end a reported window becomes
	// readable: every record reported inside it has committed by then.
	SettleMargin time.Duration
	// Committers is how many ingest transactions may run at once. One
	// suits a single-writer store (SQLite); a store whose transactions run
	// concurrently (PostgreSQL) can use more. Default 1.
	Committers int
}

// DefaultConfig is the configuration used when a field is zero.
var DefaultConfig = Config{MaxBatchRecords: 100_000, SettleMargin: 30 * time.Second}

// Service accepts usage records and answers aggregation queries.
type Service struct {
	store Store
	clock billing.Clock
	log   *slog.Logger
	cfg   Config

	subs, meters keyCache
	instMu       sync.RWMutex
	instances    map[instanceRef]int64
	dataMu       sync.RWMutex
	dataCache    map[int64]string // instanceData by instance key
	built        sharedInstances  // instances built from records, by resourceUri

	queue   chan *pending
	stop    chan struct{}
	stopped chan struct{}
	// closeMu orders Close after every enqueue that saw the service open,
	// so that the committer drains everything that was queued.
	closeMu sync.RWMutex
	closed  bool

	// recent is this node's window on recent ingestion (recent.go).
	recent recentLog

	// Observe, when set, is told the outcome of every committed request.
	Observe func(res Result, err error)
}

type instanceRef struct {
	sub  int64
	hash [16]byte
}

const maxCachedInstances = 1 << 20

// NewService starts a Service; Close stops it after finishing queued work.
func NewService(store Store, clock billing.Clock, log *slog.Logger, cfg Config) *Service {
	if cfg.MaxBatchRecords <= 0 {
		cfg.MaxBatchRecords = DefaultConfig.MaxBatchRecords
	}
	if cfg.SettleMargin <= 0 {
		cfg.SettleMargin = DefaultConfig.SettleMargin
	}
	s := &Service{
		store: store, clock: clock, log: log, cfg: cfg,
		instances: make(map[instanceRef]int64),
		dataCache: make(map[int64]string),
		queue:     make(chan *pending, 64),
		stop:      make(chan struct{}),
		stopped:   make(chan struct{}),
	}
	if cfg.Committers <= 0 {
		cfg.Committers = 1
	}
	s.cfg.Committers = cfg.Committers
	var wg sync.WaitGroup
	for range cfg.Committers {
		wg.Go(s.commitLoop)
	}
	go func() {
		wg.Wait()
		close(s.stopped)
	}()
	return s
}

// Close finishes the batches already queued, then stops the committer.
func (s *Service) Close() {
	s.closeMu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	s.closeMu.Unlock()
	<-s.stopped
}

// SettleMargin reports the configured settle margin.
func (s *Service) SettleMargin() time.Duration { return s.cfg.SettleMargin }

// Result is the outcome of one ingest request.
type Result struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Batch collects the records of one request as they are decoded.
type Batch struct {
	operator bool
	now      time.Time
	records  []Record
	indexes  []int // request index of each record
	rejected []Rejection
	total    int
	shared   *sharedInstances
	mayWrite func(subscriptionID string) bool
}

// NewBatch starts a request's batch. operator reports whether the caller may
// set reportedTime.
func (s *Service) NewBatch(operator bool) *Batch {
	return &Batch{operator: operator, now: s.clock(), shared: &s.built}
}

// NewBatchFor starts a request's batch for a caller who may send usage only
// for the subscriptions mayWrite accepts: a record of any other subscription
// is rejected with AuthorizationFailed, whether the subscription exists or
// not.
func (s *Service) NewBatchFor(operator bool, mayWrite func(subscriptionID string) bool) *Batch {
	b := s.NewBatch(operator)
	b.mayWrite = mayWrite
	return b
}

// Expect tells the batch roughly how many records will be added, so that it
// allocates once.
func (b *Batch) Expect(n int) {
	if n > cap(b.records) {
		n = min(n, MaxRecordsPerRequest)
		b.records = make([]Record, 0, n)
		b.indexes = make([]int, 0, n)
	}
}

// Add validates one decoded element; rej is a decoding rejection, if any.
func (b *Batch) Add(index int, in *RecordInput, rej *Rejection) {
	b.total++
	if rej == nil {
		var r Record
		r, rej = validate(in, b.now, b.operator, b.shared)
		if rej == nil && b.mayWrite != nil && !b.mayWrite(r.SubscriptionID) {
			rej = reject(CodeAuthorizationFailed, "The caller may not send usage for the subscription '%s'.", r.SubscriptionID)
		}
		if rej == nil {
			b.records = append(b.records, r)
			b.indexes = append(b.indexes, index)
			return
		}
	}
	rej.Index, rej.ID = index, clip(in.ID)
	b.rejected = append(b.rejected, *rej)
}

// Len is the number of elements added.
func (b *Batch) Len() int { return b.total }

type status uint8

const (
	statusAccepted status = iota
	statusDuplicate
	statusConflict
)

type pending struct {
	recs    []Record
	subKeys []int64
	mtrKeys []int64
	status  []status
	done    chan error
}

// Ingest commits the valid records of b atomically and reports what
// happened to each. Records that were accepted before are duplicates when
// identical and conflicts when not. It returns an error only when nothing
// could be committed.
func (s *Service) Ingest(ctx context.Context, b *Batch) (Result, error) {
	res, err := s.ingestNoted(ctx, b) // ingest, noted in the operator's window on recent ingestion (recent.go)
	if s.Observe != nil {
		s.Observe(res, err)
	}
	return res, err
}

func (s *Service) ingest(ctx context.Context, b *Batch) (Result, error) {
	res := Result{Rejected: b.rejected}
	p := &pending{done: make(chan error, 1)}
	var keep []int // request index of each record in p.recs
	if len(b.records) > 0 {
		subKeys, err := s.resolve(ctx, &s.subs, b.records, func(r *Record) string { return r.SubscriptionID }, s.store.SubscriptionKeys)
		if err != nil {
			return Result{}, err
		}
		meterKeys, err := s.resolve(ctx, &s.meters, b.records, func(r *Record) string { return r.MeterID }, s.store.MeterKeys)
		if err != nil {
			return Result{}, err
		}
		// The records that stay are compacted in place: records are large, and
		// a request carries tens of thousands of them.
		n := len(b.records)
		p.subKeys = make([]int64, 0, n)
		p.mtrKeys = make([]int64, 0, n)
		keep = make([]int, 0, n)
		kept := 0
		for i := range b.records {
			r := &b.records[i]
			sk, ok1 := subKeys[r.SubscriptionID]
			mk, ok2 := meterKeys[r.MeterID]
			switch {
			case !ok1:
				res.Rejected = append(res.Rejected, Rejection{Index: b.indexes[i], ID: clip(r.ID), Code: CodeSubscriptionNotFound,
					Message: fmt.Sprintf("The subscription '%s' could not be found.", r.SubscriptionID)})
			case !ok2:
				res.Rejected = append(res.Rejected, Rejection{Index: b.indexes[i], ID: clip(r.ID), Code: CodeMeterNotFound,
					Message: fmt.Sprintf("The meter '%s' could not be found.", r.MeterID)})
			default:
				if kept != i {
					b.records[kept] = *r
				}
				kept++
				p.subKeys = append(p.subKeys, sk)
				p.mtrKeys = append(p.mtrKeys, mk)
				keep = append(keep, b.indexes[i])
			}
		}
		p.recs = b.records[:kept]
		b.records = nil // the batch is spent
	}
	if len(p.recs) > 0 {
		p.status = make([]status, len(p.recs))
		if err := s.enqueue(ctx, p); err != nil {
			return Result{}, err
		}
		// Once queued, the batch is committed or fails as a whole; wait for
		// it even if the caller goes away, so the outcome is never ambiguous
		// inside this process.
		if err := <-p.done; err != nil {
			return Result{}, err
		}
		for i, st := range p.status {
			switch st {
			case statusAccepted:
				res.Accepted++
			case statusDuplicate:
				res.Duplicates++
			case statusConflict:
				res.Rejected = append(res.Rejected, Rejection{Index: keep[i], ID: clip(p.recs[i].ID), Code: CodeConflict,
					Message: "A different record with this id was accepted before; ids must be unique."})
			}
		}
	}
	sort.Slice(res.Rejected, func(i, j int) bool { return res.Rejected[i].Index < res.Rejected[j].Index })
	if res.Rejected == nil {
		res.Rejected = []Rejection{}
	}
	return res, nil
}

// enqueue hands p to the committer, unless the service is closed.
func (s *Service) enqueue(ctx context.Context, p *pending) error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return billing.Unavailable("ServiceUnavailable", 5, "The server is shutting down; retry the request.")
	}
	select {
	case s.queue <- p:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// resolve maps the GUIDs named by records to internal keys, through cache.
func (s *Service) resolve(ctx context.Context, cache *keyCache, recs []Record, id func(*Record) string,
	lookup func(context.Context, []string) (map[string]int64, error)) (map[string]int64, error) {
	out := make(map[string]int64)
	var missing []string
	for i := range recs {
		g := id(&recs[i])
		if _, done := out[g]; done {
			continue
		}
		if k, ok := cache.get(g); ok {
			out[g] = k
			continue
		}
		out[g] = 0
		missing = append(missing, g)
	}
	for _, g := range missing {
		delete(out, g)
	}
	if len(missing) > 0 {
		found, err := lookup(ctx, missing)
		if err != nil {
			return nil, err
		}
		for g, k := range found {
			out[g] = k
			cache.put(g, k)
		}
	}
	return out, nil
}

type keyCache struct {
	mu sync.RWMutex
	m  map[string]int64
}

func (c *keyCache) get(k string) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *keyCache) put(k string, v int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]int64)
	}
	c.m[k] = v
}

// commitLoop groups queued requests into transactions (group commit): under
// load, one transaction carries many requests, which is what makes ingestion
// fast on a single-writer store.
func (s *Service) commitLoop() {
	for {
		var first *pending
		select {
		case first = <-s.queue:
		case <-s.stop:
			// Finish what is queued, then stop.
			for {
				select {
				case p := <-s.queue:
					s.commit([]*pending{p})
				default:
					return
				}
			}
		}
		group := []*pending{first}
		n := len(first.recs)
	more:
		for n < s.cfg.MaxBatchRecords {
			select {
			case p := <-s.queue:
				group = append(group, p)
				n += len(p.recs)
			default:
				break more
			}
		}
		s.commit(group)
	}
}

// maxTxAge bounds how long an ingest transaction may stay open after it
// took its reported time; past it the transaction is abandoned, so that no
// record can commit into a window that has settled.
func (s *Service) maxTxAge() time.Duration { return s.cfg.SettleMargin / 2 }

func (s *Service) commit(group []*pending) {
	newInst, err := s.commitGroup(group)
	if err == nil {
		s.instMu.Lock()
		if len(s.instances)+len(newInst) > maxCachedInstances {
			s.instances = make(map[instanceRef]int64)
		}
		for ref, k := range newInst {
			s.instances[ref] = k
		}
		s.instMu.Unlock()
	} else {
		if be := billing.AsError(err); be == nil || be.Kind == billing.KindInternal {
			s.log.Error("ingest commit failed", "err", err, "requests", len(group))
			err = &billing.Error{Kind: billing.KindUnavailable, Code: "ServiceUnavailable", RetryAfter: 1,
				Message: "The usage could not be stored; nothing was committed. Retry the request.", Err: err}
		}
	}
	for _, p := range group {
		p.done <- err
	}
}

type recRef struct {
	p *pending
	i int
}

func (s *Service) commitGroup(group []*pending) (map[instanceRef]int64, error) {
	// A background context: a caller that goes away must not abort a
	// transaction that carries other callers' records.
	ctx := context.Background()
	// The instances the group needs that this node has not seen.
	var need []NewInstance
	var needRefs []instanceRef
	seen := make(map[instanceRef]bool)
	s.instMu.RLock()
	for _, p := range group {
		for i := range p.recs {
			r := &p.recs[i]
			if r.Instance.Data == "" {
				continue
			}
			ref := instanceRef{p.subKeys[i], r.Instance.Hash}
			if _, ok := s.instances[ref]; ok || seen[ref] {
				continue
			}
			seen[ref] = true
			need = append(need, NewInstance{SubscriptionKey: ref.sub, Hash: ref.hash, Data: r.Instance.Data})
			needRefs = append(needRefs, ref)
		}
	}
	s.instMu.RUnlock()
	if c, ok := s.store.(InstanceCreator); ok && len(need) > 0 {
		if err := c.CreateInstances(ctx, need); err != nil {
			return nil, fmt.Errorf("create instances: %w", err)
		}
	}
	var newInst map[instanceRef]int64
	err := s.store.Ingest(ctx, func(tx IngestTx) error {
		reportedAt := s.clock().UTC().Truncate(time.Microsecond)
		newInst = make(map[instanceRef]int64)

		// Resolve instances, creating the new ones (already created, on a
		// store with concurrent transactions).
		if len(need) > 0 {
			keys, err := tx.InstanceKeys(ctx, need)
			if err != nil {
				return fmt.Errorf("instance keys: %w", err)
			}
			for i, ref := range needRefs {
				newInst[ref] = keys[i]
			}
		}
		instKey := func(sub int64, r *Record) int64 {
			if r.Instance.Data == "" {
				return 0
			}
			ref := instanceRef{sub, r.Instance.Hash}
			if k, ok := newInst[ref]; ok {
				return k
			}
			s.instMu.RLock()
			defer s.instMu.RUnlock()
			return s.instances[ref]
		}

		// Idempotency: the first occurrence of a key in the group is a
		// candidate; later ones are judged against it.
		first := make(map[[16]byte]recRef)
		later := make(map[[16]byte][]recRef)
		var rows []KeyRow
		for _, p := range group {
			for i := range p.recs {
				r := &p.recs[i]
				if prev, ok := first[r.Key]; ok {
					later[r.Key] = append(later[r.Key], recRef{p, i})
					if prev.p.recs[prev.i].Fingerprint == r.Fingerprint {
						p.status[i] = statusDuplicate
					} else {
						p.status[i] = statusConflict
					}
					continue
				}
				first[r.Key] = recRef{p, i}
				rows = append(rows, KeyRow{Key: r.Key, Fingerprint: r.Fingerprint, SubscriptionKey: p.subKeys[i]})
			}
		}
		sort.Slice(rows, func(i, j int) bool { return bytes.Compare(rows[i].Key[:], rows[j].Key[:]) < 0 })
		existing, err := tx.InsertKeys(ctx, rows)
		if err != nil {
			return fmt.Errorf("insert keys: %w", err)
		}
		for key, fp := range existing {
			ref := first[key]
			r := &ref.p.recs[ref.i]
			if r.Fingerprint == fp {
				ref.p.status[ref.i] = statusDuplicate
			} else {
				ref.p.status[ref.i] = statusConflict
			}
			// A later copy in this group agreed or disagreed with a record
			// that turned out not to be new: judge it against the stored one.
			for _, l := range later[key] {
				if l.p.recs[l.i].Fingerprint == fp {
					l.p.status[l.i] = statusDuplicate
				} else {
					l.p.status[l.i] = statusConflict
				}
			}
		}

		// Pack the new records into segments per subscription and reported time.
		type segKey struct {
			sub      int64
			reported int64
		}
		bySeg := make(map[segKey][]StoredRecord)
		var order []segKey
		for _, p := range group {
			for i := range p.recs {
				if p.status[i] != statusAccepted {
					continue
				}
				r := &p.recs[i]
				at := reportedAt
				if !r.ReportedAt.IsZero() {
					at = r.ReportedAt
				}
				k := segKey{p.subKeys[i], at.UnixMicro()}
				if _, ok := bySeg[k]; !ok {
					order = append(order, k)
				}
				bySeg[k] = append(bySeg[k], StoredRecord{
					ID: r.ID, MeterKey: p.mtrKeys[i], InstanceKey: instKey(p.subKeys[i], r),
					Start: r.Start.UnixMicro(), End: r.End.UnixMicro(), Quantity: r.Quantity,
				})
			}
		}
		var segs []Segment
		for _, k := range order {
			recs := bySeg[k]
			for len(recs) > 0 {
				n := min(len(recs), MaxSegmentRecords)
				segs = append(segs, Segment{SubscriptionKey: k.sub, ReportedAt: k.reported, Records: n, Data: EncodeSegment(recs[:n])})
				recs = recs[n:]
			}
		}
		if err := tx.InsertSegments(ctx, segs); err != nil {
			return fmt.Errorf("insert segments: %w", err)
		}
		if age := s.clock().Sub(reportedAt); age > s.maxTxAge() {
			return billing.Unavailable("ServiceBusy", 1, "The store is too slow to accept usage now (a commit took %s); nothing was committed. Retry the request.", age.Round(time.Millisecond))
		}
		return nil
	})
	if err != nil {
		// Statuses computed inside a failed transaction mean nothing.
		for _, p := range group {
			clear(p.status)
		}
		return nil, err
	}
	return newInst, nil
}
