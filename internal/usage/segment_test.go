package usage

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/reckon-billing/reckon/internal/money"
)

func decodeSegment(data []byte) ([]StoredRecord, error) {
	var out []StoredRecord
	err := DecodeSegment(data, func(r *StoredRecord) error {
		out = append(out, *r)
		return nil
	})
	return out, err
}

func sampleRecords() []StoredRecord {
	return []StoredRecord{
		{ID: "a", MeterKey: 1, InstanceKey: 0, Start: us("2024-03-10T10:00:00Z"), End: us("2024-03-10T11:00:00Z"), Quantity: qty("1.5")},
		{ID: "", MeterKey: 2, InstanceKey: 7, Start: us("2024-03-10T10:30:00.000001Z"), End: us("2024-03-10T10:30:00.000001Z"), Quantity: 0},
		{ID: strings.Repeat("é", 64), MeterKey: math.MaxInt64, InstanceKey: math.MaxInt64, Start: us("1969-12-31T23:00:00Z"), End: us("1970-01-01T02:00:00Z"), Quantity: money.MaxQuantity},
		{ID: "neg", MeterKey: 3, InstanceKey: 4, Start: -1, End: 0, Quantity: 1},
	}
}

func TestSegmentRoundTrip(t *testing.T) {
	for _, recs := range [][]StoredRecord{nil, sampleRecords()[:1], sampleRecords()} {
		data := EncodeSegment(recs)
		got, err := decodeSegment(data)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if len(recs) == 0 && len(got) == 0 {
			continue
		}
		if !reflect.DeepEqual(got, recs) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, recs)
		}
	}
}

func TestSegmentRoundTripRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := 0; n < 200; n++ {
		recs := make([]StoredRecord, rng.IntN(50))
		for i := range recs {
			id := make([]byte, rng.IntN(MaxIDLength+1))
			for j := range id {
				id[j] = byte(rng.IntN(256))
			}
			start := rng.Int64N(1<<52) - 1<<51
			recs[i] = StoredRecord{
				ID: string(id), MeterKey: rng.Int64N(math.MaxInt64), InstanceKey: rng.Int64N(1 << uint(rng.IntN(63))),
				Start: start, End: start + rng.Int64N(int64(MaxInterval/1000)), Quantity: money.Quantity(rng.Int64N(math.MaxInt64)),
			}
		}
		got, err := decodeSegment(EncodeSegment(recs))
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != len(got) || (len(recs) > 0 && !reflect.DeepEqual(got, recs)) {
			t.Fatalf("round trip of %d records differs", len(recs))
		}
	}
}

func TestSegmentCorrupt(t *testing.T) {
	valid := EncodeSegment(sampleRecords())
	tests := []struct {
		name string
		data []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"unknown format", append([]byte{2}, valid[1:]...)},
		{"format zero", append([]byte{0}, valid[1:]...)},
		{"no count", []byte{segmentFormat}},
		{"count overflows", []byte{segmentFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"count larger than the records", append([]byte{segmentFormat, 5}, valid[2:]...)},
		{"huge count, no records", []byte{segmentFormat, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"id length past the end", []byte{segmentFormat, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'}},
		{"id length huge", []byte{segmentFormat, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeSegment(tt.data); err == nil {
				t.Fatalf("decoded corrupt data %x", tt.data)
			}
		})
	}
	// Every strict prefix of a valid segment is corrupt.
	for n := 0; n < len(valid); n++ {
		if _, err := decodeSegment(valid[:n]); err == nil {
			t.Errorf("prefix of %d/%d bytes decoded without error", n, len(valid))
		}
	}
}

func TestSegmentCallbackError(t *testing.T) {
	stop := errors.New("stop")
	calls := 0
	err := DecodeSegment(EncodeSegment(sampleRecords()), func(*StoredRecord) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func FuzzDecodeSegment(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{segmentFormat})
	f.Add([]byte{segmentFormat, 0})
	f.Add(EncodeSegment(sampleRecords()))
	f.Add(EncodeSegment(sampleRecords()[:1]))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []StoredRecord
		err := DecodeSegment(data, func(r *StoredRecord) error {
			got = append(got, *r)
			return nil
		})
		if len(got) > len(data) {
			t.Fatalf("%d records from %d bytes", len(got), len(data))
		}
		if err != nil {
			return
		}
		// What decodes re-encodes to something that decodes the same.
		again, err := decodeSegment(EncodeSegment(got))
		if err != nil || len(again) != len(got) || (len(got) > 0 && !reflect.DeepEqual(again, got)) {
			t.Fatalf("re-encoding %d decoded records does not round-trip: %v", len(got), err)
		}
	})
}
