package usage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
)

// Granularity is the size of the usage buckets of an aggregation.
type Granularity string

// Granularities.
const (
	Daily  Granularity = "Daily"
	Hourly Granularity = "Hourly"
)

// PageSize is the most rows an aggregation page holds.
const PageSize = 1000

// Query selects the records of a subscription whose reported time is in
// [ReportedStart, ReportedEnd) and groups them by usage bucket and meter, and
// by instance when ShowDetails is set.
type Query struct {
	SubscriptionID             string
	ReportedStart, ReportedEnd time.Time
	Granularity                Granularity
	ShowDetails                bool
	// After is where the previous page ended; nil for the first page.
	After *GroupKey
	// PageSize defaults to the package's PageSize.
	PageSize int
}

// GroupKey identifies an aggregation row; rows come in GroupKey order.
type GroupKey struct {
	Bucket      int64 // start of the usage bucket, Unix seconds
	MeterKey    int64
	InstanceKey int64 // 0 when ShowDetails is off or the record names no resource
}

func (k GroupKey) compare(o GroupKey) int {
	switch {
	case k.Bucket != o.Bucket:
		return cmpInt(k.Bucket, o.Bucket)
	case k.MeterKey != o.MeterKey:
		return cmpInt(k.MeterKey, o.MeterKey)
	default:
		return cmpInt(k.InstanceKey, o.InstanceKey)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Aggregate is one row of an aggregation: the usage of a meter (and
// instance) in one usage bucket.
type Aggregate struct {
	Key                  GroupKey
	UsageStart, UsageEnd time.Time
	Meter                catalog.Meter
	InstanceData         string
	Quantity             money.Decimal
}

// Page is one page of an aggregation.
type Page struct {
	Rows []Aggregate
	// Next is where the next page starts; nil on the last page.
	Next *GroupKey
}

// Validate checks the query against the rules of the UsageAggregates API.
func (q *Query) Validate(now time.Time, settle time.Duration) error {
	if q.Granularity != Daily && q.Granularity != Hourly {
		return billing.Invalid("InvalidAggregationGranularity", "aggregationGranularity", "The aggregationGranularity '%s' is not valid; valid values are Daily and Hourly.", q.Granularity)
	}
	unit, unitName := 24*time.Hour, "midnight UTC"
	if q.Granularity == Hourly {
		unit, unitName = time.Hour, "the start of an hour (UTC)"
	}
	for _, p := range []struct {
		name string
		t    time.Time
	}{{"reportedStartTime", q.ReportedStart}, {"reportedEndTime", q.ReportedEnd}} {
		if !p.t.Equal(p.t.Truncate(unit)) {
			return billing.Invalid("InvalidProperty", p.name, "The %s %s must be at %s for %s aggregation.", p.name, p.t.Format(time.RFC3339Nano), unitName, q.Granularity)
		}
	}
	if !q.ReportedStart.Before(q.ReportedEnd) {
		return billing.Invalid("InvalidProperty", "reportedStartTime", "The reportedStartTime must be before the reportedEndTime.")
	}
	if q.ReportedEnd.After(now) {
		return billing.Invalid("RequestEndTimeIsInFuture", "reportedEndTime", "The reportedEndTime %s is in the future.", q.ReportedEnd.Format(time.RFC3339))
	}
	if settled := q.ReportedEnd.Add(settle); settled.After(now) {
		wait := int(settled.Sub(now)/time.Second) + 1
		return billing.Unavailable("ProcessingNotComplete", wait, "Usage reported before %s is still being processed; retry after %d seconds.", q.ReportedEnd.Format(time.RFC3339), wait)
	}
	return nil
}

// Aggregate answers one page of q.
func (s *Service) Aggregate(ctx context.Context, q Query) (Page, error) {
	if err := q.Validate(s.clock(), s.cfg.SettleMargin); err != nil {
		return Page{}, err
	}
	keys, err := s.resolve(ctx, &s.subs, []Record{{SubscriptionID: q.SubscriptionID}},
		func(r *Record) string { return r.SubscriptionID }, s.store.SubscriptionKeys)
	if err != nil {
		return Page{}, err
	}
	subKey, ok := keys[q.SubscriptionID]
	if !ok {
		return Page{}, billing.NotFound("SubscriptionNotFound", "subscriptionId", "The subscription '%s' could not be found.", q.SubscriptionID)
	}
	size := q.PageSize
	if size <= 0 {
		size = PageSize
	}

	sums := make(map[GroupKey]*money.QuantitySum)
	var parts []Part
	add := func(k GroupKey, v money.Quantity) {
		if q.After != nil && k.compare(*q.After) <= 0 {
			return
		}
		sum := sums[k]
		if sum == nil {
			sum = new(money.QuantitySum)
			sums[k] = sum
		}
		sum.Add(v)
	}
	err = s.store.ScanSegments(ctx, subKey, q.ReportedStart.UnixMicro(), q.ReportedEnd.UnixMicro(), func(_ int64, data []byte) error {
		return unpackSegment(data, false, func(r *StoredRecord) error {
			if q.After != nil && lastBucket(r, q.Granularity) < q.After.Bucket {
				return nil // every part of it was on earlier pages
			}
			k := GroupKey{MeterKey: r.MeterKey}
			if q.ShowDetails {
				k.InstanceKey = r.InstanceKey
			}
			parts = SplitHours(r.Start, r.End, r.Quantity, parts[:0])
			for _, p := range parts {
				k.Bucket = p.Hour
				if q.Granularity == Daily {
					k.Bucket = floorDiv(p.Hour, secondsPerDay) * secondsPerDay
				}
				add(k, p.Quantity)
			}
			return nil
		})
	})
	if err != nil {
		return Page{}, fmt.Errorf("usage: scan segments: %w", err)
	}

	order := make([]GroupKey, 0, len(sums))
	for k := range sums {
		order = append(order, k)
	}
	slices.SortFunc(order, GroupKey.compare)
	var page Page
	if len(order) > size {
		order = order[:size]
		next := order[size-1]
		page.Next = &next
	}
	meterKeys := make([]int64, 0)
	instKeys := make([]int64, 0)
	seenM, seenI := map[int64]bool{}, map[int64]bool{}
	for _, k := range order {
		if !seenM[k.MeterKey] {
			seenM[k.MeterKey] = true
			meterKeys = append(meterKeys, k.MeterKey)
		}
		if k.InstanceKey != 0 && !seenI[k.InstanceKey] {
			seenI[k.InstanceKey] = true
			instKeys = append(instKeys, k.InstanceKey)
		}
	}
	meters, err := s.store.MetersByKey(ctx, meterKeys)
	if err != nil {
		return Page{}, err
	}
	insts, err := s.instanceData(ctx, instKeys)
	if err != nil {
		return Page{}, err
	}
	bucket := 24 * time.Hour
	if q.Granularity == Hourly {
		bucket = time.Hour
	}
	page.Rows = make([]Aggregate, len(order))
	for i, k := range order {
		start := time.Unix(k.Bucket, 0).UTC()
		page.Rows[i] = Aggregate{
			Key: k, UsageStart: start, UsageEnd: start.Add(bucket),
			Meter: meters[k.MeterKey], InstanceData: insts[k.InstanceKey],
			Quantity: sums[k].Decimal(),
		}
	}
	return page, nil
}

// lastBucket is the start (Unix seconds) of the last bucket r falls in.
func lastBucket(r *StoredRecord, g Granularity) int64 {
	end := r.End
	if end > r.Start {
		end-- // the interval is half-open
	}
	hour := floorDiv(end, microsPerHour) * 3600
	if g == Daily {
		return floorDiv(hour, secondsPerDay) * secondsPerDay
	}
	return hour
}

// maxCachedInstanceData bounds the instanceData kept in memory (about 400
// bytes each).
const maxCachedInstanceData = 50_000

// instanceData returns the instanceData of keys, from memory when it can:
// an instance key always names the same instanceData.
func (s *Service) instanceData(ctx context.Context, keys []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(keys))
	var missing []int64
	s.dataMu.RLock()
	for _, k := range keys {
		if d, ok := s.dataCache[k]; ok {
			out[k] = d
		} else {
			missing = append(missing, k)
		}
	}
	s.dataMu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	found, err := s.store.Instances(ctx, missing)
	if err != nil {
		return nil, err
	}
	s.dataMu.Lock()
	if len(s.dataCache)+len(found) > maxCachedInstanceData {
		s.dataCache = make(map[int64]string)
	}
	for k, d := range found {
		out[k] = d
		s.dataCache[k] = d
	}
	s.dataMu.Unlock()
	return out, nil
}
