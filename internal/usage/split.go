package usage

import (
	"math/bits"
	"sort"

	"github.com/reckon-billing/reckon/internal/money"
)

const (
	microsPerHour = int64(3600_000_000)
	secondsPerDay = int64(86400)
)

// Part is the share of a record's quantity that falls into one UTC hour.
type Part struct {
	Hour     int64 // start of the hour, Unix seconds
	Quantity money.Quantity
}

// SplitHours attributes q, used over [start, end) (Unix microseconds), to the
// UTC hours the interval overlaps, in proportion to the overlap. The parts
// sum exactly to q: each gets the floor of its proportional share, and the
// nanounits left over go one each to the parts with the largest remainders
// (the earlier hour first on a tie). A zero-length interval belongs to the
// hour that contains it. The parts are appended to dst in hour order.
func SplitHours(start, end int64, q money.Quantity, dst []Part) []Part {
	first := floorDiv(start, microsPerHour)
	if end <= start || floorDiv(end-1, microsPerHour) == first {
		return append(dst, Part{Hour: first * 3600, Quantity: q})
	}
	last := floorDiv(end-1, microsPerHour)
	total := uint64(end - start)
	base := len(dst)
	type rem struct {
		i int
		r uint64
	}
	var rems []rem
	var assigned uint64
	for h := first; h <= last; h++ {
		lo, hi := max(start, h*microsPerHour), min(end, (h+1)*microsPerHour)
		overlap := uint64(hi - lo)
		pHi, pLo := bits.Mul64(uint64(q), overlap)
		share, r := bits.Div64(pHi, pLo, total) // share ≤ q, so pHi < total
		dst = append(dst, Part{Hour: h * 3600, Quantity: money.Quantity(share)})
		assigned += share
		rems = append(rems, rem{len(dst) - 1, r})
	}
	left := uint64(q) - assigned // < number of parts
	if left > 0 {
		sort.SliceStable(rems, func(a, b int) bool { return rems[a].r > rems[b].r })
		for i := uint64(0); i < left; i++ {
			dst[rems[i].i].Quantity++
		}
	}
	_ = base
	return dst
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
