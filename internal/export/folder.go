package export

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

// Format is the file format of an export.
type Format string

// Formats.
const (
	FormatCSV     Format = "csv"     // RFC 4180 CSV, header row, CRLF
	FormatCSVGzip Format = "csv.gz"  // the same, gzip-compressed
	FormatParquet Format = "parquet" // Parquet, Snappy-compressed pages
)

// DefaultMaxFileBytes is the size at which a part file is closed and the
// next one started when Options.MaxFileBytes is 0.
const DefaultMaxFileBytes = 256 << 20

// ManifestName is the name of the manifest file in an export folder.
const ManifestName = "manifest.json"

// Options configure where and how an export is written.
type Options struct {
	// Dir is the export folder. It is created if missing and must not hold
	// a manifest already.
	Dir string
	// Format of the part files (default FormatCSV).
	Format Format
	// MaxFileBytes is the size after which a part is closed and the next
	// begun (0: DefaultMaxFileBytes). Sizes are of the bytes on disk
	// (compressed); a part may exceed it by one row (CSV) or one row group
	// (Parquet).
	MaxFileBytes int64
	// ParquetRowGroupRows is the number of rows per Parquet row group
	// (0: 64Ki). The writer holds one row group in memory.
	ParquetRowGroupRows int64
}

// Manifest describes a written export folder, like the manifest of an Azure
// Cost Management partitioned export.
type Manifest struct {
	Dataset      string   `json:"dataset"`
	FOCUSVersion string   `json:"focusVersion,omitempty"`
	Format       Format   `json:"format"`
	Compression  string   `json:"compression"`
	Columns      []Column `json:"columns"`
	RowCount     int64    `json:"rowCount"`
	// ChargePeriodStart/End are the earliest start and latest end of the
	// rows' charge periods (absent when there are no rows).
	ChargePeriodStart *time.Time `json:"chargePeriodStart,omitempty"`
	ChargePeriodEnd   *time.Time `json:"chargePeriodEnd,omitempty"`
	// Totals are the sums of the cost column per currency, exact.
	Totals []CurrencyTotal `json:"totals"`
	Files  []ManifestFile  `json:"files"`
}

// CurrencyTotal is the exact total cost of an export in one currency.
type CurrencyTotal struct {
	Currency string        `json:"currency"`
	Cost     money.Decimal `json:"cost"`
	Rows     int64         `json:"rows"`
}

// ManifestFile is one part file of an export.
type ManifestFile struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// rowSink encodes records into a part file.
type rowSink interface {
	write(rec record) error
	// close flushes the encoding (not the file).
	close() error
}

// part is the part file being written.
type part struct {
	name string
	f    *os.File
	h    hash.Hash
	cw   *chunkWriter
	gz   *gzip.Writer
	sink rowSink
	rows int64
}

// size is the number of bytes written to the file so far, counting the
// buffered bytes.
func (p *part) size() int64 { return p.cw.size() }

// tableWriter streams records into a folder of part files.
type tableWriter struct {
	opts    Options
	dataset string
	version string
	columns []Column
	// indexes of the columns that feed the manifest
	costCol, currencyCol, startCol, endCol int

	part   *part
	files  []ManifestFile
	rows   int64
	totals map[string]*CurrencyTotal
	start  time.Time
	end    time.Time
	closed bool
	err    error
	// syncs are the background fsyncs of finished parts; close waits for
	// them before writing the manifest.
	syncs   sync.WaitGroup
	syncMu  sync.Mutex
	syncErr error
}

func newTableWriter(opts Options, dataset, version string, columns []Column, costCol, currencyCol, startCol, endCol int) (*tableWriter, error) {
	if opts.Format == "" {
		opts.Format = FormatCSV
	}
	switch opts.Format {
	case FormatCSV, FormatCSVGzip, FormatParquet:
	default:
		return nil, fmt.Errorf("export: unknown format %q", opts.Format)
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.ParquetRowGroupRows <= 0 {
		opts.ParquetRowGroupRows = 64 << 10
	}
	if opts.Dir == "" {
		return nil, errors.New("export: Dir is required")
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, ManifestName)); err == nil {
		return nil, fmt.Errorf("export: %s already holds an export", opts.Dir)
	}
	return &tableWriter{
		opts: opts, dataset: dataset, version: version, columns: columns,
		costCol: costCol, currencyCol: currencyCol, startCol: startCol, endCol: endCol,
		totals: map[string]*CurrencyTotal{},
	}, nil
}

func (w *tableWriter) compression() string {
	switch w.opts.Format {
	case FormatCSVGzip:
		return "gzip"
	case FormatParquet:
		return "snappy"
	}
	return "none"
}

func (w *tableWriter) openPart() error {
	name := fmt.Sprintf("part_0_%04d.%s", len(w.files)+1, w.opts.Format)
	f, err := os.OpenFile(filepath.Join(w.opts.Dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	p := &part{name: name, f: f, h: sha256.New()}
	p.cw = newChunkWriter(f, p.h)
	var out io.Writer = p.cw
	if w.opts.Format == FormatCSVGzip {
		p.gz, _ = gzip.NewWriterLevel(p.cw, gzip.BestSpeed)
		out = p.gz
	}
	if w.opts.Format == FormatParquet {
		p.sink, err = newParquetSink(out, w.columns, w.opts.ParquetRowGroupRows, w.dataset, w.version)
	} else {
		p.sink, err = newCSVSink(out, w.columns)
	}
	if err != nil {
		p.cw.close()
		f.Close()
		return err
	}
	w.part = p
	return nil
}

func (w *tableWriter) closePart() error {
	p := w.part
	w.part = nil
	err := p.sink.close()
	if p.gz != nil && err == nil {
		err = p.gz.Close()
	}
	if cerr := p.cw.close(); err == nil {
		err = cerr
	}
	if err != nil {
		p.f.Close()
		return fmt.Errorf("export: %s: %w", p.name, err)
	}
	// fsync in the background while the next part is written.
	w.syncs.Add(1)
	go func() {
		defer w.syncs.Done()
		err := p.f.Sync()
		if cerr := p.f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			w.syncMu.Lock()
			if w.syncErr == nil {
				w.syncErr = fmt.Errorf("export: %s: %w", p.name, err)
			}
			w.syncMu.Unlock()
		}
	}()
	w.files = append(w.files, ManifestFile{
		Name: p.name, Rows: p.rows, Bytes: p.cw.wrote, SHA256: hex.EncodeToString(p.h.Sum(nil)),
	})
	return nil
}

// write streams one record; it rolls over to a new part when the current
// one has reached MaxFileBytes.
func (w *tableWriter) write(rec record) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("export: write after Close")
	}
	if w.part == nil {
		if w.err = w.openPart(); w.err != nil {
			return w.err
		}
	}
	if w.err = w.part.sink.write(rec); w.err != nil {
		return w.err
	}
	w.part.rows++
	w.rows++
	cur := rec[w.currencyCol].s
	t := w.totals[cur]
	if t == nil {
		t = &CurrencyTotal{Currency: cur}
		w.totals[cur] = t
	}
	t.Cost = t.Cost.Add(rec[w.costCol].d)
	t.Rows++
	if s := rec[w.startCol].t; w.start.IsZero() || s.Before(w.start) {
		w.start = s
	}
	if e := rec[w.endCol].t; e.After(w.end) {
		w.end = e
	}
	if w.part.size() >= w.opts.MaxFileBytes {
		w.err = w.closePart()
	}
	return w.err
}

// close finishes the last part and writes the manifest. An export with no
// rows has one part with only the header (CSV) or schema (Parquet).
func (w *tableWriter) close() (*Manifest, error) {
	if w.closed {
		return nil, errors.New("export: already closed")
	}
	w.closed = true
	if w.err != nil {
		if w.part != nil {
			w.part.cw.close()
			w.part.f.Close()
		}
		w.syncs.Wait()
		return nil, w.err
	}
	if w.part == nil && len(w.files) == 0 {
		if err := w.openPart(); err != nil {
			return nil, err
		}
	}
	if w.part != nil {
		if err := w.closePart(); err != nil {
			return nil, err
		}
	}
	w.syncs.Wait()
	if w.syncErr != nil {
		return nil, w.syncErr
	}
	m := &Manifest{
		Dataset: w.dataset, FOCUSVersion: w.version, Format: w.opts.Format, Compression: w.compression(),
		Columns: w.columns, RowCount: w.rows, Files: w.files, Totals: []CurrencyTotal{},
	}
	if w.rows > 0 {
		s, e := w.start.UTC(), w.end.UTC()
		m.ChargePeriodStart, m.ChargePeriodEnd = &s, &e
	}
	for _, t := range w.totals {
		m.Totals = append(m.Totals, *t)
	}
	sort.Slice(m.Totals, func(i, j int) bool { return m.Totals[i].Currency < m.Totals[j].Currency })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(w.opts.Dir, ManifestName), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return m, nil
}
