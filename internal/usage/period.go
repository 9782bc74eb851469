package usage

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/money"
)

// MeterHour is a subscription's usage of one meter in one UTC hour: the
// input of rating.
type MeterHour struct {
	MeterID string
	// InstanceData is the resource's instanceData (UsageDetailByHour
	// only; "" when the usage named no resource).
	InstanceData string
	// Instance numbers the distinct InstanceData of one result (equal
	// InstanceData, equal Instance; 0 for none), so that callers can group
	// by resource without hashing instanceData.
	Instance int
	Hour     time.Time
	Quantity money.Quantity
}

// UsageByHour returns a subscription's usage whose usage time falls in
// [start, end), by meter and hour, counting only the records reported
// before reportedBefore (a period's close, or now for an estimate). Rows
// are ordered by hour, then meter id. start and end must be whole hours.
func (s *Service) UsageByHour(ctx context.Context, subscriptionID string, start, end, reportedBefore time.Time) ([]MeterHour, error) {
	return s.usageByHour(ctx, subscriptionID, start, end, reportedBefore, false)
}

// UsageDetailByHour is UsageByHour by meter, resource (instance) and hour;
// rows are ordered by hour, meter id, then instanceData.
func (s *Service) UsageDetailByHour(ctx context.Context, subscriptionID string, start, end, reportedBefore time.Time) ([]MeterHour, error) {
	return s.usageByHour(ctx, subscriptionID, start, end, reportedBefore, true)
}

func (s *Service) usageByHour(ctx context.Context, subscriptionID string, start, end, reportedBefore time.Time, detail bool) ([]MeterHour, error) {
	if start.Truncate(time.Hour) != start || end.Truncate(time.Hour) != end || !start.Before(end) {
		return nil, billing.Invalid("InvalidPeriod", "period", "A usage period must start before it ends, on whole hours.")
	}
	keys, err := s.resolve(ctx, &s.subs, []Record{{SubscriptionID: subscriptionID}},
		func(r *Record) string { return r.SubscriptionID }, s.store.SubscriptionKeys)
	if err != nil {
		return nil, err
	}
	subKey, ok := keys[subscriptionID]
	if !ok {
		return nil, billing.NotFound("SubscriptionNotFound", "subscriptionId", "The subscription '%s' could not be found.", subscriptionID)
	}
	type key struct{ meter, instance, hour int64 }
	sums := make(map[key]*money.QuantitySum)
	from, to := start.Unix(), end.Unix()
	var parts []Part
	// A record is reported at or after its usage began (Validate) and spans
	// at most MaxInterval, so every record reaching into the period was
	// reported at or after start - MaxInterval.
	scanFrom := start.Add(-MaxInterval).UnixMicro()
	err = s.store.ScanSegments(ctx, subKey, scanFrom, reportedBefore.UnixMicro(), func(_ int64, data []byte) error {
		return unpackSegment(data, false, func(r *StoredRecord) error {
			if r.Start >= to*1_000_000 || r.End < from*1_000_000 {
				return nil // entirely outside the period
			}
			parts = SplitHours(r.Start, r.End, r.Quantity, parts[:0])
			for _, p := range parts {
				if p.Hour < from || p.Hour >= to {
					continue
				}
				k := key{r.MeterKey, 0, p.Hour}
				if detail {
					k.instance = r.InstanceKey
				}
				sum := sums[k]
				if sum == nil {
					sum = new(money.QuantitySum)
					sums[k] = sum
				}
				sum.Add(p.Quantity)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("usage: scan segments: %w", err)
	}
	var meterKeys []int64
	seen := map[int64]bool{}
	for k := range sums {
		if !seen[k.meter] {
			seen[k.meter] = true
			meterKeys = append(meterKeys, k.meter)
		}
	}
	meters, err := s.store.MetersByKey(ctx, meterKeys)
	if err != nil {
		return nil, err
	}
	var insts map[int64]string
	if detail {
		var keys []int64
		seenI := map[int64]bool{}
		for k := range sums {
			if k.instance != 0 && !seenI[k.instance] {
				seenI[k.instance] = true
				keys = append(keys, k.instance)
			}
		}
		if insts, err = s.instanceData(ctx, keys); err != nil {
			return nil, err
		}
	}
	// Order by hour, meter id, instanceData: rank the distinct meters and
	// instances once, then sort on integers.
	meterRank := rankStrings(meterKeys, func(k int64) string { return meters[k].MeterID })
	var instRank map[int64]int
	if detail {
		instKeys := make([]int64, 0, len(insts)+1)
		instKeys = append(instKeys, 0)
		for k := range insts {
			instKeys = append(instKeys, k)
		}
		instRank = rankStrings(instKeys, func(k int64) string { return insts[k] })
	}
	type ranked struct {
		hour        int64
		meter, inst int32
		row         int32 // index in out
	}
	out := make([]MeterHour, 0, len(sums))
	ranks := make([]ranked, 0, len(sums))
	for k, sum := range sums {
		q, ok := sum.Quantity()
		if !ok {
			return nil, billing.Conflict("QuantityTooLarge", "meterId", "The usage of meter %s in the hour %s is larger than Reckon can rate (%s units).",
				meters[k.meter].MeterID, time.Unix(k.hour, 0).UTC().Format(time.RFC3339), sum.String())
		}
		ranks = append(ranks, ranked{k.hour, int32(meterRank[k.meter]), int32(instRank[k.instance]), int32(len(out))})
		out = append(out, MeterHour{MeterID: meters[k.meter].MeterID, InstanceData: insts[k.instance], Instance: instRank[k.instance],
			Hour: time.Unix(k.hour, 0).UTC(), Quantity: q})
	}
	slices.SortFunc(ranks, func(a, b ranked) int {
		if c := cmp.Compare(a.hour, b.hour); c != 0 {
			return c
		}
		if c := cmp.Compare(a.meter, b.meter); c != 0 {
			return c
		}
		return cmp.Compare(a.inst, b.inst)
	})
	sorted := make([]MeterHour, len(out))
	for i, r := range ranks {
		sorted[i] = out[r.row]
	}
	out = sorted
	return out, nil
}

// rankStrings returns each key's rank in the order of its string (keys
// with equal strings share a rank).
func rankStrings(keys []int64, str func(int64) string) map[int64]int {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, func(a, b int64) int { return strings.Compare(str(a), str(b)) })
	rank := make(map[int64]int, len(sorted))
	for i, k := range sorted {
		if i > 0 && str(k) == str(sorted[i-1]) {
			rank[k] = rank[sorted[i-1]]
			continue
		}
		rank[k] = i
	}
	return rank
}
