// Package export writes cost rows (charges.CostRow) as files that FinOps
// tools read: FOCUS 1.2 cost and usage data (FOCUSWriter) and a simpler
// "cost and usage details" table (CostDetailsWriter), as CSV (optionally
// gzip) or Parquet, streamed into a folder of size-partitioned files with a
// manifest.json, like Azure Cost Management exports.
//
// Amounts are never passed through floats: CSV cells carry the exact
// decimal text, and Parquet stores DECIMAL(38,19) fixed-length values (see
// parquet.go), so that summing a column in DuckDB or Spark gives the exact
// total.
package export

import (
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

// ColumnType is the logical type of an exported column.
type ColumnType string

// Column types.
const (
	// TypeString is text (CSV as is; Parquet BYTE_ARRAY UTF8).
	TypeString ColumnType = "String"
	// TypeDecimal is an exact decimal (CSV plain decimal text; Parquet
	// DECIMAL(38,19) in a 16-byte FIXED_LEN_BYTE_ARRAY).
	TypeDecimal ColumnType = "Decimal"
	// TypeDateTime is an instant in UTC (CSV ISO 8601 "2006-01-02T15:04:05Z";
	// Parquet TIMESTAMP(MILLIS, isAdjustedToUTC)).
	TypeDateTime ColumnType = "DateTime"
	// TypeJSON is a JSON object as text (Tags).
	TypeJSON ColumnType = "JSON"
)

// Column describes one exported column.
type Column struct {
	Name     string     `json:"name"`
	Type     ColumnType `json:"type"`
	Nullable bool       `json:"nullable"`
}

// cellKind says what a cell holds; cellNull is the zero value.
type cellKind uint8

const (
	cellNull cellKind = iota
	cellString
	cellDecimal
	cellTime
	// cellBytes is text in b, valid only until the next record: sinks
	// must copy it if they keep it.
	cellBytes
)

// cell is one value of a record. Only the field that matches kind is used.
type cell struct {
	kind cellKind
	// plain says s needs no CSV quoting (known when set; false = check)
	plain bool
	s     string
	d     money.Decimal
	t     time.Time
	b     []byte
	// pre, when set with cellBytes, is b already rendered as a CSV field
	pre []byte
}

func (c *cell) setNull()                   { *c = cell{} }
func (c *cell) setString(s string)         { c.kind, c.s, c.plain = cellString, s, false }
func (c *cell) setDecimal(d money.Decimal) { c.kind, c.d = cellDecimal, d }
func (c *cell) setTime(t time.Time)        { c.kind, c.t = cellTime, t }
func (c *cell) setBytes(b []byte)          { c.kind, c.b, c.pre = cellBytes, b, nil }

// setStringOrNull stores s, or null when s is empty.
func (c *cell) setStringOrNull(s string) {
	if s == "" {
		c.setNull()
		return
	}
	c.setString(s)
}

// record is one row being written: one cell per column of the table.
type record []cell

// timeLayout is how CSV renders instants: ISO 8601 in UTC, second
// precision, as Azure's FOCUS exports do.
const timeLayout = "2006-01-02T15:04:05Z"
