package usage

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// What the operator's ingestion page shows: the last records committed,
// the last rejections and why, and the ingest rate. It is kept in memory
// by each node (the records themselves are in the store; this is only a
// window on recent traffic) and fed by Ingest.

// Sizes of the recent-traffic window.
const (
	recentRecords    = 50
	recentRejections = 50
	rateMinutes      = 60
)

// RecentRecord is a record of a committed request: accepted, or a
// duplicate of one accepted before.
type RecentRecord struct {
	At             time.Time
	ID             string
	SubscriptionID string
	MeterID        string
	Quantity       string
	Start, End     time.Time
}

// RecentRejection is a rejected record of a request.
type RecentRejection struct {
	At time.Time
	Rejection
}

// IngestRate counts what was committed in a recent window.
type IngestRate struct {
	// Window is the span counted (up to an hour, since the node started).
	Window     time.Duration
	Requests   int
	Accepted   int
	Duplicates int
	Rejected   int
	// Failed counts requests that could commit nothing (store errors).
	Failed int
}

// Recent is a snapshot of recent ingestion, newest first.
type Recent struct {
	Records    []RecentRecord
	Rejections []RecentRejection
	// LastMinute and LastHour are the counts of the last 60 seconds and
	// the last hour.
	LastMinute, LastHour IngestRate
	// LastCommit is when a request last committed (zero: none since start).
	LastCommit time.Time
}

type minuteCount struct {
	minute int64 // unix minute
	IngestRate
}

type recentLog struct {
	commits    atomic.Uint64
	mu         sync.Mutex
	records    []RecentRecord    // ring, oldest first
	rejections []RecentRejection // ring, oldest first
	minutes    [rateMinutes]minuteCount
	lastCommit time.Time
}

func (s *Service) recentLog() *recentLog { return &s.recent }

// ingestNoted is ingest, noting the request's outcome in the recent
// window (the batch's records are spent by ingest: the newest are kept
// aside first).
func (s *Service) ingestNoted(ctx context.Context, b *Batch) (Result, error) {
	first := max(0, len(b.records)-recentRecords)
	recs := slices.Clone(b.records[first:])
	var idx []int
	if len(b.indexes) >= len(b.records) {
		idx = slices.Clone(b.indexes[first:len(b.records)])
	}
	res, err := s.ingest(ctx, b)
	s.noteRecent(recs, idx, res, err)
	return res, err
}

// noteRecent records the outcome of a request in the recent window: recs
// are its newest records, idx their request indexes.
func (s *Service) noteRecent(recs []Record, idx []int, res Result, err error) {
	now := s.clock().UTC()
	l := s.recentLog()
	l.commits.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	m := &l.minutes[(now.Unix()/60)%rateMinutes]
	if m.minute != now.Unix()/60 {
		*m = minuteCount{minute: now.Unix() / 60}
	}
	m.Requests++
	if err != nil {
		m.Failed++
		return
	}
	m.Accepted += res.Accepted
	m.Duplicates += res.Duplicates
	m.Rejected += len(res.Rejected)
	l.lastCommit = now
	rejected := make(map[int]bool, len(res.Rejected))
	for _, r := range res.Rejected {
		rejected[r.Index] = true
		l.rejections = append(l.rejections, RecentRejection{At: now, Rejection: r})
	}
	if n := len(l.rejections); n > recentRejections {
		l.rejections = slices.Delete(l.rejections, 0, n-recentRejections)
	}
	for i := range recs {
		if i < len(idx) && rejected[idx[i]] {
			continue
		}
		r := &recs[i]
		l.records = append(l.records, RecentRecord{At: now, ID: r.ID, SubscriptionID: r.SubscriptionID, MeterID: r.MeterID,
			Quantity: r.Quantity.String(), Start: r.Start, End: r.End})
	}
	if n := len(l.records); n > recentRecords {
		l.records = slices.Delete(l.records, 0, n-recentRecords)
	}
}

// Recent returns this node's window on recent ingestion.
func (s *Service) Recent() Recent {
	now := s.clock().UTC()
	l := s.recentLog()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := Recent{LastCommit: l.lastCommit,
		LastMinute: IngestRate{Window: time.Minute}, LastHour: IngestRate{Window: time.Hour}}
	nowMin := now.Unix() / 60
	for _, m := range l.minutes {
		if m.minute == 0 || m.minute > nowMin || nowMin-m.minute >= rateMinutes {
			continue
		}
		add := func(r *IngestRate) {
			r.Requests += m.Requests
			r.Accepted += m.Accepted
			r.Duplicates += m.Duplicates
			r.Rejected += m.Rejected
			r.Failed += m.Failed
		}
		add(&out.LastHour)
		if m.minute == nowMin {
			add(&out.LastMinute)
		}
	}
	for i := len(l.records) - 1; i >= 0; i-- {
		out.Records = append(out.Records, l.records[i])
	}
	for i := len(l.rejections) - 1; i >= 0; i-- {
		out.Rejections = append(out.Rejections, l.rejections[i])
	}
	return out
}

// Commits counts the ingest requests this node has handled (committed or
// not): a cheap marker that its usage may have changed, for caches.
func (s *Service) Commits() uint64 { return s.recentLog().commits.Load() }
