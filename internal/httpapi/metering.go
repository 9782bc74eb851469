package httpapi

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/usage"
)

// ingest is POST /metering/v1/usage: a JSON array or NDJSON of records.
// Each record is accepted or rejected on its own; the accepted ones are
// committed atomically before the answer.
//
// A body with Content-Encoding: gzip is decompressed; the size limit then
// applies to the decompressed records as well as to what was sent.
func (a *API) ingest(w http.ResponseWriter, r *http.Request) {
	body, err := a.bulkBody(w, r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	g := identityOf(r).Grants
	batch := a.deps.Usage.NewBatchFor(g.IsOperator(), g.CanWriteUsage)
	if r.ContentLength > 0 && r.Header.Get("Content-Encoding") == "" {
		batch.Expect(int(min(r.ContentLength, a.cfg.MaxIngestBytes) / 350)) // a record is about 350 bytes
	}
	err = usage.DecodeRecords(body, func(i int, in *usage.RecordInput, rej *usage.Rejection) error {
		batch.Add(i, in, rej)
		return nil
	})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe) || errors.Is(err, errTooLarge):
			writeError(w, r, a.log, a.bodyTooLarge())
		case errors.Is(err, usage.ErrMalformedBody):
			writeError(w, r, a.log, invalid("InvalidRequestContent", "", "The request body is not a JSON array of records nor NDJSON; nothing was committed (%v).", err))
		default:
			writeError(w, r, a.log, invalid("InvalidRequestContent", "", "The request body could not be read; nothing was committed."))
		}
		return
	}
	res, err := a.deps.Usage.Ingest(r.Context(), batch)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// bulkBody returns the body of a bulk upload (usage, catalog imports),
// limited to the configured size and decompressed when its
// Content-Encoding is gzip; the limit then applies to the decompressed
// data as well as to what was sent.
func (a *API) bulkBody(w http.ResponseWriter, r *http.Request) (io.Reader, error) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, a.cfg.MaxIngestBytes)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, invalid("InvalidRequestContent", "", "The request body is not valid gzip; nothing was committed.")
		}
		return &limitedReader{r: zr, left: a.cfg.MaxIngestBytes}, nil
	default:
		return nil, &billing.Error{Kind: billing.KindUnsupportedMedia, Code: "UnsupportedContentEncoding",
			Message: "The Content-Encoding '" + clip(enc) + "' is not supported; send identity or gzip."}
	}
}

// bodyTooLarge is the error for a bulk body over the limit.
func (a *API) bodyTooLarge() error {
	return &billing.Error{Kind: billing.KindTooLarge, Code: "RequestBodyTooLarge",
		Message: "The request body is larger than the limit of " + byteSize(a.cfg.MaxIngestBytes) + "; nothing was committed. Send smaller batches."}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

var errTooLarge = errors.New("httpapi: decompressed body over the limit")

// limitedReader fails with errTooLarge once more than left bytes are read.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, errTooLarge
	}
	return n, err
}
