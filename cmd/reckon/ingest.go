package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// runIngest is "reckon ingest FILE": it sends records to a server in
// batches, or, with --db or --direct, writes them straight into a store.
func runIngest(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "ingest")
	var cf clientFlags
	cf.register(fs)
	direct := fs.Bool("direct", false, "write straight into the store (--db, --data-dir) instead of through a server")
	db := fs.String("db", "", "database DSN for --direct (postgres://…); empty for SQLite in --data-dir")
	dataDir := fs.String("data-dir", "./reckon-data", "data directory for --direct")
	batchSize := fs.Int("batch", 50_000, "records per request or transaction (bigger batches ingest faster; a request must stay under the server's --max-ingest-bytes)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "usage: reckon ingest [flags] FILE   (FILE may be - for standard input)")
		return exitError(2)
	}
	if *batchSize <= 0 || *batchSize > 1_000_000 {
		return errors.New("ingest: --batch must be between 1 and 1000000")
	}
	var in io.Reader = env.stdin
	var size int64 = -1
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			size = st.Size()
		}
		in = f
	}
	if *db != "" {
		*direct = true
	}

	var send func([]usage.RecordInput) (usage.Result, error)
	if *direct {
		st, err := store.Open(ctx, *db, *dataDir, store.Options{})
		if err != nil {
			return err
		}
		defer st.Close()
		svc := usage.NewService(st, time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), usage.Config{})
		defer svc.Close()
		send = func(recs []usage.RecordInput) (usage.Result, error) {
			b := svc.NewBatch(true)
			for i := range recs {
				b.Add(i, &recs[i], nil)
			}
			return svc.Ingest(ctx, b)
		}
	} else {
		c, err := cf.client(env, *dataDir)
		if err != nil {
			return err
		}
		send = func(recs []usage.RecordInput) (usage.Result, error) {
			var body bytes.Buffer
			enc := json.NewEncoder(&body)
			for i := range recs {
				if err := enc.Encode(&recs[i]); err != nil {
					return usage.Result{}, err
				}
			}
			var res usage.Result
			for attempt := 0; ; attempt++ {
				status, err := c.do(ctx, "POST", "/metering/v1/usage", "application/x-ndjson", body.Bytes(), &res)
				if err != nil && status == 503 && attempt < 5 {
					time.Sleep(time.Duration(attempt+1) * time.Second) // replaying is safe: ingestion is idempotent
					continue
				}
				return res, err
			}
		}
	}

	counter := &countingReader{r: in}
	var bar *progressbar.ProgressBar
	if f, ok := env.stderr.(*os.File); ok && !*quiet && term.IsTerminal(int(f.Fd())) {
		bar = progressbar.DefaultBytes(size, "ingesting")
	}
	var total usage.Result
	total.Rejected = []usage.Rejection{}
	var records int
	chunk := make([]usage.RecordInput, 0, *batchSize)
	fileIndex := make([]int, 0, *batchSize) // the file position of each record of chunk
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		res, err := send(chunk)
		if err != nil {
			return fmt.Errorf("ingest: records %d to %d: %w (records before them were committed; replaying the file is safe)", fileIndex[0], fileIndex[len(fileIndex)-1], err)
		}
		total.Accepted += res.Accepted
		total.Duplicates += res.Duplicates
		for _, r := range res.Rejected {
			r.Index = fileIndex[r.Index]
			total.Rejected = append(total.Rejected, r)
		}
		chunk, fileIndex = chunk[:0], fileIndex[:0]
		if bar != nil {
			bar.Set64(counter.n)
		}
		return nil
	}
	err := usage.DecodeRecords(bufio.NewReaderSize(counter, 1<<20), func(i int, rec *usage.RecordInput, rej *usage.Rejection) error {
		records++
		if rej != nil {
			total.Rejected = append(total.Rejected, usage.Rejection{Index: i, ID: rec.ID, Code: rej.Code, Message: rej.Message})
			return nil
		}
		chunk = append(chunk, *rec)
		fileIndex = append(fileIndex, i)
		if len(chunk) == *batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(env.stderr)
	}
	sort.Slice(total.Rejected, func(i, j int) bool { return total.Rejected[i].Index < total.Rejected[j].Index })
	fmt.Fprintf(env.stdout, "records: %d, accepted: %d, duplicates: %d, rejected: %d\n", records, total.Accepted, total.Duplicates, len(total.Rejected))
	for i, r := range total.Rejected {
		if i == 20 {
			fmt.Fprintf(env.stdout, "  … and %d more\n", len(total.Rejected)-20)
			break
		}
		fmt.Fprintf(env.stdout, "  record %d (id %q): %s: %s\n", r.Index, r.ID, r.Code, r.Message)
	}
	if err != nil {
		return err
	}
	if len(total.Rejected) > 0 {
		return exitError(1)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func readAllLimited(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("input larger than %d bytes", limit)
	}
	return data, nil
}
