package export

import (
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/parquet-go/parquet-go"

	"github.com/reckon-billing/reckon/internal/money"
)

// Parquet decimals are DECIMAL(38,19) stored as 16-byte big-endian two's
// complement FIXED_LEN_BYTE_ARRAY. Why a decimal logical type rather than
// strings or doubles: readers (DuckDB, Spark, pandas/pyarrow) load it as an
// exact decimal and SUM it exactly, with no cast; doubles would round.
// Scale 19 is money.MaxScale, the most fractional digits a money.Decimal
// holds, so every value is stored without rounding; precision 38 leaves
// 19 integer digits.
const (
	parquetDecimalScale     = money.MaxScale
	parquetDecimalPrecision = 38
)

// parquetRowBatch is the number of rows handed to the Parquet writer at once.
const parquetRowBatch = 256

// parquetSink writes records as Parquet rows. Nullable columns are
// OPTIONAL, the others REQUIRED.
type parquetSink struct {
	w       *parquet.Writer
	columns []Column
	leaf    []int // column index in the Parquet schema, by table column
	rows    []parquet.Row
	n       int
	fixed   []byte // 16-byte decimal values of the batch
	text    []byte // copies of volatile text (cellBytes) of the batch
	strs    []string
	// decimals encoded in the current row (costs repeat across columns)
	decs    [4]money.Decimal
	decVals [4][]byte
	decUsed int
}

// noBoundsColumns are long free-text columns whose page min/max bounds
// cost much to compute and help no query.
var noBoundsColumns = []string{"ChargeDescription", "ResourceId", "ResourceName", "ResourceType", "Tags", "SkuMeter"}

func parquetSchema(name string, columns []Column) *parquet.Schema {
	g := parquet.Group{}
	for _, c := range columns {
		var n parquet.Node
		switch c.Type {
		case TypeDecimal:
			n = parquet.Decimal(parquetDecimalScale, parquetDecimalPrecision, parquet.FixedLenByteArrayType(16))
		case TypeDateTime:
			n = parquet.Timestamp(parquet.Millisecond)
		default:
			n = parquet.String()
		}
		if c.Nullable {
			n = parquet.Optional(n)
		}
		g[c.Name] = n
	}
	return parquet.NewSchema(name, g)
}

func newParquetSink(w io.Writer, columns []Column, rowGroupRows int64, dataset, version string) (*parquetSink, error) {
	schema := parquetSchema(dataset, columns)
	leafOf := map[string]int{}
	for i, path := range schema.Columns() {
		leafOf[strings.Join(path, ".")] = i
	}
	s := &parquetSink{columns: columns, leaf: make([]int, len(columns))}
	for i, c := range columns {
		j, ok := leafOf[c.Name]
		if !ok {
			return nil, fmt.Errorf("export: parquet column %s missing", c.Name)
		}
		s.leaf[i] = j
	}
	opts := []parquet.WriterOption{
		schema,
		parquet.Compression(&parquet.Snappy),
		parquet.MaxRowsPerRowGroup(rowGroupRows),
		parquet.CreatedBy("reckon", "", ""),
	}
	for _, c := range columns {
		for _, n := range noBoundsColumns {
			if c.Name == n {
				opts = append(opts, parquet.SkipPageBounds(n))
			}
		}
	}
	if version != "" {
		opts = append(opts, parquet.KeyValueMetadata("focus_version", version))
	}
	s.w = parquet.NewWriter(w, opts...)
	s.rows = make([]parquet.Row, parquetRowBatch)
	for i := range s.rows {
		s.rows[i] = make(parquet.Row, len(columns))
	}
	s.fixed = make([]byte, 0, parquetRowBatch*16*8)
	return s, nil
}

func (s *parquetSink) write(rec record) error {
	row := s.rows[s.n]
	s.decUsed = 0
	for i := range rec {
		c := &rec[i]
		col := s.leaf[i]
		def := 0
		if s.columns[i].Nullable {
			def = 1
		}
		var v parquet.Value
		switch c.kind {
		case cellNull:
			if def == 0 {
				return fmt.Errorf("export: %s is null", s.columns[i].Name)
			}
			row[col] = parquet.NullValue().Level(0, 0, col)
			continue
		case cellString:
			// The writer copies byte arrays into its column buffers, and the
			// string stays alive in rec until then.
			s.strs = append(s.strs, c.s)
			v = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(c.s), len(c.s)))
		case cellBytes:
			if cap(s.text)-len(s.text) < len(c.b) {
				// a new backing array: earlier rows keep the old one
				s.text = make([]byte, 0, max(64<<10, len(c.b)))
			}
			off := len(s.text)
			s.text = append(s.text, c.b...)
			v = parquet.ByteArrayValue(s.text[off:len(s.text):len(s.text)])
		case cellDecimal:
			if s.columns[i].Type != TypeDecimal {
				return fmt.Errorf("export: %s is not a decimal column", s.columns[i].Name)
			}
			if v, ok := s.sameDecimal(c.d); ok {
				row[col] = v.Level(0, def, col)
				continue
			}
			if cap(s.fixed)-len(s.fixed) < 16 {
				// a new backing array: earlier rows keep the old one
				s.fixed = make([]byte, 0, parquetRowBatch*16*8)
			}
			off := len(s.fixed)
			s.fixed = s.fixed[:off+16]
			if err := putDecimal128(s.fixed[off:off+16], c.d); err != nil {
				return fmt.Errorf("export: %s: %w", s.columns[i].Name, err)
			}
			b := s.fixed[off : off+16 : off+16]
			if s.decUsed < len(s.decs) {
				s.decs[s.decUsed], s.decVals[s.decUsed] = c.d, b
				s.decUsed++
			}
			v = parquet.FixedLenByteArrayValue(b)
		case cellTime:
			v = parquet.Int64Value(c.t.UnixMilli())
		}
		row[col] = v.Level(0, def, col)
	}
	s.n++
	if s.n == len(s.rows) {
		return s.flush()
	}
	return nil
}

// sameDecimal returns the value of an equal decimal already encoded in
// this row.
func (s *parquetSink) sameDecimal(d money.Decimal) (parquet.Value, bool) {
	for i := 0; i < s.decUsed; i++ {
		if s.decs[i] == d {
			return parquet.FixedLenByteArrayValue(s.decVals[i]), true
		}
	}
	return parquet.Value{}, false
}

func (s *parquetSink) flush() error {
	if s.n == 0 {
		return nil
	}
	_, err := s.w.WriteRows(s.rows[:s.n])
	s.n = 0
	s.fixed = s.fixed[:0]
	s.text = s.text[:0]
	clear(s.strs)
	s.strs = s.strs[:0]
	return err
}

func (s *parquetSink) close() error {
	if err := s.flush(); err != nil {
		return err
	}
	return s.w.Close()
}

var errDecimalRange = errors.New("decimal does not fit DECIMAL(38,19)")

// putDecimal128 stores d × 10^19 as a 16-byte big-endian two's complement
// integer. It fails when d has more than 19 fractional digits or more than
// 19 integer digits; it never rounds.
func putDecimal128(dst []byte, d money.Decimal) error {
	s := d.String()
	neg := false
	if s != "" && s[0] == '-' {
		neg, s = true, s[1:]
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if len(frac) > parquetDecimalScale || len(intPart) > parquetDecimalPrecision-parquetDecimalScale {
		return fmt.Errorf("%s: %w", d, errDecimalRange)
	}
	var hi, lo uint64
	digit := func(c byte) {
		// (hi,lo) = (hi,lo)*10 + c
		h1, l1 := bits.Mul64(lo, 10)
		h1 += hi * 10
		l2, carry := bits.Add64(l1, uint64(c-'0'), 0)
		hi, lo = h1+carry, l2
	}
	for i := 0; i < len(intPart); i++ {
		digit(intPart[i])
	}
	for i := 0; i < len(frac); i++ {
		digit(frac[i])
	}
	for i := len(frac); i < parquetDecimalScale; i++ {
		digit('0')
	}
	if neg {
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	for i := 0; i < 8; i++ {
		dst[i] = byte(hi >> (56 - 8*i))
		dst[8+i] = byte(lo >> (56 - 8*i))
	}
	return nil
}

// decimal128String renders a DECIMAL(38,19) 16-byte value as plain decimal
// text (the reader-back uses it).
func decimal128String(b []byte) string {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	neg := v.Sign() < 0
	s := new(big.Int).Abs(v).String()
	for len(s) <= parquetDecimalScale {
		s = "0" + s
	}
	ip, fp := s[:len(s)-parquetDecimalScale], strings.TrimRight(s[len(s)-parquetDecimalScale:], "0")
	out := ip
	if fp != "" {
		out += "." + fp
	}
	if neg {
		out = "-" + out
	}
	return out
}
