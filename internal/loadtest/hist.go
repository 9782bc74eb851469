package loadtest

import (
	"math/bits"
	"time"
)

// Histogram records latencies in microseconds in HDR style: exact below
// 128 µs, then 64 buckets per power of two, so that a percentile read from
// it is within 1/64 (1.6 %) above the true sample, whatever the range.
// Recording is O(1) and allocates nothing; the zero Histogram is empty and
// ready to use. It is not safe for concurrent use.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // µs
	max    uint64 // µs, exact
	min    uint64 // µs, exact (valid when n > 0)
}

const (
	// histLinear values (0…127 µs) have a bucket each.
	histLinear = 128
	// histSub is the number of buckets per power of two above histLinear.
	histSub = 64
	// histBuckets covers every uint64: shifts 1 to 57.
	histBuckets = histLinear + 57*histSub
)

// bucketOf returns the bucket of v µs.
func bucketOf(v uint64) int {
	if v < histLinear {
		return int(v)
	}
	shift := bits.Len64(v) - 7 // ≥ 1; v>>shift is in [64, 128)
	return histLinear + (shift-1)*histSub + int(v>>shift) - histSub
}

// bucketHigh returns the largest value of bucket i.
func bucketHigh(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	shift := (i-histLinear)/histSub + 1
	top := uint64((i-histLinear)%histSub + histSub)
	return (top+1)<<shift - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d / time.Microsecond)
	}
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.n++
	h.sum += v
	if v > h.max {
		h.max = v
	}
}

// Merge adds the samples of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count is the number of samples.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest sample, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean is the mean of the samples.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/h.n) * time.Microsecond
}

// Quantile returns the q-quantile (0 < q ≤ 1) by the nearest-rank method:
// the smallest recorded value v such that at least q of the samples are ≤ v,
// read as its bucket's upper bound (capped at the exact maximum). An empty
// histogram answers 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999999) // ceil, tolerant of float error
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			v := min(bucketHigh(i), h.max)
			v = max(v, h.min)
			return time.Duration(v) * time.Microsecond
		}
	}
	return h.Max()
}
