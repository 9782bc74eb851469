package export

import (
	"io"
	"strings"
	"time"
	"unsafe"

	"github.com/reckon-billing/reckon/internal/money"
)

// csvSink writes records as RFC 4180 CSV: a header row, CRLF line ends,
// fields quoted when they hold a comma, quote, CR or LF or begin with a
// space. Nulls are empty fields; decimals are their exact plain text;
// instants are ISO 8601 UTC.
type csvSink struct {
	w       io.Writer
	columns []Column
	line    []byte
	// times caches the last instant rendered per column: rows of an
	// export share a few periods, and formatting is a large part of a row.
	times []cachedTime
	// last string seen per column, with whether it needed quotes
	last []lastString
	// decimals rendered in the current row (costs repeat across columns)
	decs    [4]money.Decimal
	decTxt  [4][]byte
	decUsed int
}

type lastString struct {
	p     *byte
	n     int
	quote bool
}

type cachedTime struct {
	t   time.Time
	txt []byte
}

func newCSVSink(w io.Writer, columns []Column) (*csvSink, error) {
	s := &csvSink{w: w, columns: columns, line: make([]byte, 0, 4096), times: make([]cachedTime, len(columns)), last: make([]lastString, len(columns))}
	for i, c := range columns {
		if i > 0 {
			s.line = append(s.line, ',')
		}
		s.line = appendCSVField(s.line, c.Name)
	}
	s.line = append(s.line, '\r', '\n')
	_, err := w.Write(s.line)
	return s, err
}

func (s *csvSink) write(rec record) error {
	b := s.line[:0]
	s.decUsed = 0
	for i := range rec {
		if i > 0 {
			b = append(b, ',')
		}
		c := &rec[i]
		switch c.kind {
		case cellString:
			ls := &s.last[i]
			switch {
			case c.plain:
				b = append(b, c.s...)
			case len(c.s) == ls.n && unsafe.StringData(c.s) == ls.p:
				// the same string as this column's last: same quoting
				if ls.quote {
					b = appendCSVField(b, c.s)
				} else {
					b = append(b, c.s...)
				}
			default:
				ls.p, ls.n, ls.quote = unsafe.StringData(c.s), len(c.s), needsQuotes(c.s)
				if ls.quote {
					b = appendCSVField(b, c.s)
				} else {
					b = append(b, c.s...)
				}
			}
		case cellBytes:
			if c.pre != nil {
				b = append(b, c.pre...)
				continue
			}
			b = appendCSVField(b, unsafe.String(unsafe.SliceData(c.b), len(c.b)))
		case cellDecimal:
			b = s.appendDecimal(b, c.d)
		case cellTime:
			ct := &s.times[i]
			if ct.txt == nil || !ct.t.Equal(c.t) {
				ct.t, ct.txt = c.t, c.t.UTC().AppendFormat(ct.txt[:0], timeLayout)
			}
			b = append(b, ct.txt...)
		}
	}
	b = append(b, '\r', '\n')
	s.line = b
	_, err := s.w.Write(b)
	return err
}

func (s *csvSink) close() error { return nil }

// appendDecimal appends d's exact text, reusing the text of an equal
// decimal already rendered in this row (BilledCost, EffectiveCost and
// ContractedCost are one value).
func (s *csvSink) appendDecimal(b []byte, d money.Decimal) []byte {
	for i := 0; i < s.decUsed; i++ {
		if s.decs[i] == d {
			return append(b, s.decTxt[i]...)
		}
	}
	txt := d.String()
	if s.decUsed < len(s.decs) {
		s.decs[s.decUsed] = d
		s.decTxt[s.decUsed] = append(s.decTxt[s.decUsed][:0], txt...)
		s.decUsed++
	}
	return append(b, txt...)
}

// appendCSVField appends f, quoted when RFC 4180 requires it (or when it
// begins with a space, which some readers trim).
func appendCSVField(b []byte, f string) []byte {
	if !needsQuotes(f) {
		return append(b, f...)
	}
	b = append(b, '"')
	for {
		i := strings.IndexByte(f, '"')
		if i < 0 {
			break
		}
		b = append(b, f[:i+1]...)
		b = append(b, '"')
		f = f[i+1:]
	}
	b = append(b, f...)
	return append(b, '"')
}

// csvSpecial marks the bytes that force quoting.
var csvSpecial = [256]bool{',': true, '"': true, '\r': true, '\n': true}

func needsQuotes(f string) bool {
	if f == "" {
		return false
	}
	if f[0] == ' ' || f[0] == '\t' {
		return true
	}
	if len(f) < 24 {
		for i := 0; i < len(f); i++ {
			if csvSpecial[f[i]] {
				return true
			}
		}
		return false
	}
	// IndexByte is vectorised: four passes beat one byte loop on long ids.
	return strings.IndexByte(f, ',') >= 0 || strings.IndexByte(f, '"') >= 0 ||
		strings.IndexByte(f, '\n') >= 0 || strings.IndexByte(f, '\r') >= 0
}
