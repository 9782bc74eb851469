package usage

import (
	"encoding/binary"
	"errors"

	"github.com/reckon-billing/reckon/internal/money"
)

// A segment is how accepted records are stored: the records of one
// subscription that were reported at the same instant, packed together. One
// row per segment instead of one per record keeps ingestion cheap, and a
// subscription's segments for a reported window are read with one index
// range scan.

// StoredRecord is a record as it is kept in a segment.
type StoredRecord struct {
	ID          string
	MeterKey    int64
	InstanceKey int64 // 0 when the record names no resource
	Start, End  int64 // usage interval, Unix microseconds
	Quantity    money.Quantity
}

const segmentFormat = 1

// MaxSegmentRecords bounds the records packed into one segment.
const MaxSegmentRecords = 10_000

// EncodeSegment packs records.
func EncodeSegment(recs []StoredRecord) []byte {
	buf := make([]byte, 0, 1+binary.MaxVarintLen64+len(recs)*48)
	buf = append(buf, segmentFormat)
	buf = binary.AppendUvarint(buf, uint64(len(recs)))
	for i := range recs {
		r := &recs[i]
		buf = binary.AppendUvarint(buf, uint64(len(r.ID)))
		buf = append(buf, r.ID...)
		buf = binary.AppendUvarint(buf, uint64(r.MeterKey))
		buf = binary.AppendUvarint(buf, uint64(r.InstanceKey))
		buf = binary.AppendVarint(buf, r.Start)
		buf = binary.AppendUvarint(buf, uint64(r.End-r.Start))
		buf = binary.AppendUvarint(buf, uint64(r.Quantity))
	}
	return buf
}

var errCorruptSegment = errors.New("usage: corrupt segment")

// DecodeSegment unpacks a segment, calling fn for each record. The record
// passed to fn is reused between calls.
func DecodeSegment(data []byte, fn func(*StoredRecord) error) error {
	return unpackSegment(data, true, fn)
}

// unpackSegment unpacks a segment; without ids, the records passed to fn
// have an empty ID and decoding allocates nothing (aggregation needs none).
func unpackSegment(data []byte, ids bool, fn func(*StoredRecord) error) error {
	if len(data) == 0 || data[0] != segmentFormat {
		return errCorruptSegment
	}
	p := data[1:]
	n, k := binary.Uvarint(p)
	if k <= 0 {
		return errCorruptSegment
	}
	p = p[k:]
	var r StoredRecord
	uv := func() uint64 {
		v, k := binary.Uvarint(p)
		if k <= 0 {
			p = nil
			return 0
		}
		p = p[k:]
		return v
	}
	for i := uint64(0); i < n; i++ {
		l := uv()
		if p == nil || uint64(len(p)) < l {
			return errCorruptSegment
		}
		if ids {
			r.ID = string(p[:l])
		}
		p = p[l:]
		r.MeterKey = int64(uv())
		r.InstanceKey = int64(uv())
		s, k := binary.Varint(p)
		if k <= 0 {
			return errCorruptSegment
		}
		p = p[k:]
		r.Start = s
		r.End = s + int64(uv())
		r.Quantity = money.Quantity(uv())
		if p == nil {
			return errCorruptSegment
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}
