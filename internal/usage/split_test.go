package usage

import (
	"math/big"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

func us(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func hr(s string) int64 { return us(s) / 1_000_000 }

func qty(s string) money.Quantity {
	q, err := money.ParseQuantity(s)
	if err != nil {
		panic(err)
	}
	return q
}

func TestSplitHours(t *testing.T) {
	tests := []struct {
		name       string
		start, end string
		q          string
		want       []Part
	}{
		{
			name: "single hour", start: "2024-03-01T10:00:00Z", end: "2024-03-01T11:00:00Z", q: "5",
			want: []Part{{hr("2024-03-01T10:00:00Z"), qty("5")}},
		},
		{
			name: "inside one hour", start: "2024-03-01T10:10:00Z", end: "2024-03-01T10:50:00Z", q: "5",
			want: []Part{{hr("2024-03-01T10:00:00Z"), qty("5")}},
		},
		{
			name: "zero length belongs to its hour", start: "2024-03-01T10:59:59.999999Z", end: "2024-03-01T10:59:59.999999Z", q: "7",
			want: []Part{{hr("2024-03-01T10:00:00Z"), qty("7")}},
		},
		{
			name: "zero length on a boundary", start: "2024-03-01T11:00:00Z", end: "2024-03-01T11:00:00Z", q: "7",
			want: []Part{{hr("2024-03-01T11:00:00Z"), qty("7")}},
		},
		{
			name: "exact hour boundaries", start: "2024-03-01T10:00:00Z", end: "2024-03-01T12:00:00Z", q: "2",
			want: []Part{{hr("2024-03-01T10:00:00Z"), qty("1")}, {hr("2024-03-01T11:00:00Z"), qty("1")}},
		},
		{
			name: "three hours half-open", start: "2024-03-01T10:30:00Z", end: "2024-03-01T13:30:00Z", q: "3",
			want: []Part{
				{hr("2024-03-01T10:00:00Z"), qty("0.5")},
				{hr("2024-03-01T11:00:00Z"), qty("1")},
				{hr("2024-03-01T12:00:00Z"), qty("1")},
				{hr("2024-03-01T13:00:00Z"), qty("0.5")},
			},
		},
		{
			// Two equal remainders and one nanounit to give: the earlier hour gets it.
			name: "tie goes to the earlier hour", start: "2024-03-01T10:30:00Z", end: "2024-03-01T11:30:00Z", q: "0.000000001",
			want: []Part{{hr("2024-03-01T10:00:00Z"), 1}, {hr("2024-03-01T11:00:00Z"), 0}},
		},
		{
			// 1/3 each: 0.333333333 ×3 leaves one nanounit; all remainders tie.
			name: "three-way tie", start: "2024-03-01T10:00:00Z", end: "2024-03-01T13:00:00Z", q: "1",
			want: []Part{
				{hr("2024-03-01T10:00:00Z"), 333_333_334},
				{hr("2024-03-01T11:00:00Z"), 333_333_333},
				{hr("2024-03-01T12:00:00Z"), 333_333_333},
			},
		},
		{
			// Largest remainder wins over position: 10:45–12:00 with 4 nanounits
			// gives exact shares 0.8, 3.2: the first hour's 0.8 is the larger remainder.
			name: "largest remainder wins", start: "2024-03-01T10:45:00Z", end: "2024-03-01T12:00:00Z", q: "0.000000004",
			want: []Part{{hr("2024-03-01T10:00:00Z"), 1}, {hr("2024-03-01T11:00:00Z"), 3}},
		},
		{
			name: "crosses midnight", start: "2024-02-29T23:30:00Z", end: "2024-03-01T00:30:00Z", q: "1",
			want: []Part{{hr("2024-02-29T23:00:00Z"), qty("0.5")}, {hr("2024-03-01T00:00:00Z"), qty("0.5")}},
		},
		{
			name: "before 1970", start: "1969-12-31T23:30:00Z", end: "1970-01-01T00:30:00Z", q: "1",
			want: []Part{{hr("1969-12-31T23:00:00Z"), qty("0.5")}, {hr("1970-01-01T00:00:00Z"), qty("0.5")}},
		},
		{
			name: "zero quantity", start: "2024-03-01T10:30:00Z", end: "2024-03-01T11:30:00Z", q: "0",
			want: []Part{{hr("2024-03-01T10:00:00Z"), 0}, {hr("2024-03-01T11:00:00Z"), 0}},
		},
		{
			name: "max quantity", start: "2024-03-01T10:30:00Z", end: "2024-03-01T11:30:00Z", q: "9223372036.854775807",
			want: []Part{{hr("2024-03-01T10:00:00Z"), money.MaxQuantity/2 + 1}, {hr("2024-03-01T11:00:00Z"), money.MaxQuantity / 2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SplitHours(us(tt.start), us(tt.end), qty(tt.q), nil)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("SplitHours(%s, %s, %s) = %v, want %v", tt.start, tt.end, tt.q, got, tt.want)
			}
		})
	}
}

func TestSplitHoursAppends(t *testing.T) {
	dst := []Part{{Hour: 1, Quantity: 1}}
	got := SplitHours(us("2024-03-01T10:30:00Z"), us("2024-03-01T11:30:00Z"), qty("2"), dst)
	want := []Part{{1, 1}, {hr("2024-03-01T10:00:00Z"), qty("1")}, {hr("2024-03-01T11:00:00Z"), qty("1")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestSplitHoursProperties checks, over random intervals and quantities,
// that the parts cover consecutive hours, sum exactly to q, and each is
// within one nanounit of its exact proportional share.
func TestSplitHoursProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := us("2020-01-01T00:00:00Z")
	const hour = int64(3600_000_000)
	var parts []Part
	for i := 0; i < 5000; i++ {
		start := base + rng.Int64N(5*365*24*hour)
		var length int64
		switch rng.IntN(4) {
		case 0:
			length = rng.Int64N(hour) // short
		case 1:
			length = rng.Int64N(48) * hour // whole hours, maybe aligned
			start -= start % hour
		case 2:
			length = rng.Int64N(int64(MaxInterval / time.Microsecond))
		default:
			length = rng.Int64N(5 * hour)
		}
		end := start + length
		var q money.Quantity
		switch rng.IntN(3) {
		case 0:
			q = money.Quantity(rng.Int64N(1000))
		case 1:
			q = money.Quantity(rng.Int64N(int64(money.MaxQuantity)))
		default:
			q = money.MaxQuantity - money.Quantity(rng.Int64N(10))
		}
		parts = SplitHours(start, end, q, parts[:0])
		checkSplit(t, start, end, q, parts)
		if t.Failed() {
			return
		}
	}
}

func checkSplit(t *testing.T, start, end int64, q money.Quantity, parts []Part) {
	t.Helper()
	const hour = int64(3600_000_000)
	firstHour := floorDiv(start, hour) * 3600
	if len(parts) == 0 || parts[0].Hour != firstHour {
		t.Fatalf("[%d,%d) q=%d: parts %v do not start at hour %d", start, end, q, parts, firstHour)
	}
	var sum uint64
	total := big.NewInt(end - start)
	for i, p := range parts {
		if i > 0 && p.Hour != parts[i-1].Hour+3600 {
			t.Fatalf("[%d,%d): hours not consecutive: %v", start, end, parts)
		}
		if p.Quantity < 0 || p.Quantity > q {
			t.Fatalf("[%d,%d) q=%d: part %d out of range", start, end, q, p.Quantity)
		}
		sum += uint64(p.Quantity)
		if end <= start {
			continue
		}
		lo, hi := max(start, p.Hour*1_000_000), min(end, (p.Hour+3600)*1_000_000)
		if hi <= lo {
			t.Fatalf("[%d,%d): part for hour %d does not overlap the interval", start, end, p.Hour)
		}
		// |part·total − q·overlap| < total
		exact := new(big.Int).Mul(big.NewInt(int64(q)), big.NewInt(hi-lo))
		diff := new(big.Int).Sub(new(big.Int).Mul(big.NewInt(int64(p.Quantity)), total), exact)
		if diff.Abs(diff).Cmp(total) >= 0 {
			t.Fatalf("[%d,%d) q=%d: part %v is not within one nanounit of its share", start, end, q, p)
		}
	}
	if end > start {
		lastHour := floorDiv(end-1, hour) * 3600
		if parts[len(parts)-1].Hour != lastHour {
			t.Fatalf("[%d,%d): parts end at %d, want %d", start, end, parts[len(parts)-1].Hour, lastHour)
		}
	} else if len(parts) != 1 {
		t.Fatalf("zero-length interval split into %v", parts)
	}
	if sum != uint64(q) {
		t.Fatalf("[%d,%d) q=%d: parts %v sum to %d", start, end, q, parts, sum)
	}
}
