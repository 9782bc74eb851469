package export

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"
)

// ReadFolder reads an export folder back: it loads manifest.json, checks
// each part's size, SHA-256 and row count against it, and calls fn for
// every row with the values as text in manifest column order (nil for
// null; in CSV an empty field reads as null). Decimals come back as exact
// plain text and instants in the CSV layout, from either format. It is
// the reader-back that tests and `reckon export verify` use.
func ReadFolder(dir string, fn func(row []*string) error) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("export: manifest: %w", err)
	}
	var total int64
	for _, f := range m.Files {
		path := filepath.Join(dir, f.Name)
		if err := checkFile(path, f); err != nil {
			return nil, err
		}
		var n int64
		count := func(row []*string) error { n++; return fn(row) }
		switch m.Format {
		case FormatCSV, FormatCSVGzip:
			err = readCSV(path, m.Format == FormatCSVGzip, m.Columns, count)
		case FormatParquet:
			err = readParquet(path, m.Columns, count)
		default:
			err = fmt.Errorf("unknown format %q", m.Format)
		}
		if err != nil {
			return nil, fmt.Errorf("export: %s: %w", f.Name, err)
		}
		if n != f.Rows {
			return nil, fmt.Errorf("export: %s has %d rows, manifest says %d", f.Name, n, f.Rows)
		}
		total += n
	}
	if total != m.RowCount {
		return nil, fmt.Errorf("export: %d rows, manifest says %d", total, m.RowCount)
	}
	return &m, nil
}

func checkFile(path string, f ManifestFile) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	n, err := io.Copy(h, fh)
	if err != nil {
		return err
	}
	if n != f.Bytes {
		return fmt.Errorf("export: %s is %d bytes, manifest says %d", f.Name, n, f.Bytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != f.SHA256 {
		return fmt.Errorf("export: %s sha256 %s, manifest says %s", f.Name, got, f.SHA256)
	}
	return nil
}

func readCSV(path string, gz bool, columns []Column, fn func([]*string) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	var r io.Reader = bufio.NewReaderSize(fh, 256<<10)
	if gz {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return err
	}
	names := make([]string, len(columns))
	for i, c := range columns {
		names[i] = c.Name
	}
	if !slices.Equal(header, names) {
		return fmt.Errorf("header %v, manifest columns %v", header, names)
	}
	row := make([]*string, len(columns))
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		for i := range rec {
			if rec[i] == "" {
				row[i] = nil
			} else {
				s := rec[i]
				row[i] = &s
			}
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

func readParquet(path string, columns []Column, fn func([]*string) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return err
	}
	pf, err := parquet.OpenFile(fh, st.Size())
	if err != nil {
		return err
	}
	leafOf := map[string]int{}
	for i, p := range pf.Schema().Columns() {
		if len(p) == 1 {
			leafOf[p[0]] = i
		}
	}
	idx := make([]int, len(columns))
	for i, c := range columns {
		j, ok := leafOf[c.Name]
		if !ok {
			return fmt.Errorf("column %s missing", c.Name)
		}
		idx[i] = j
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	rows := make([]parquet.Row, 128)
	out := make([]*string, len(columns))
	for {
		n, err := r.ReadRows(rows)
		for _, row := range rows[:n] {
			for i, c := range columns {
				var v parquet.Value
				for _, x := range row {
					if x.Column() == idx[i] {
						v = x
						break
					}
				}
				if v.IsNull() {
					out[i] = nil
					continue
				}
				var s string
				switch c.Type {
				case TypeDecimal:
					s = decimal128String(v.ByteArray())
				case TypeDateTime:
					s = time.UnixMilli(v.Int64()).UTC().Format(timeLayout)
				default:
					s = string(v.ByteArray())
				}
				out[i] = &s
			}
			if err := fn(out); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
