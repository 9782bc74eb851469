package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/usage"
)

// ingest is POST /metering/v1/usage: a JSON array or NDJSON of records.
// Each record is accepted or rejected on its own; the accepted ones are
// committed atomically before the answer.
func (a *API) ingest(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, a.cfg.MaxIngestBytes)
	batch := a.deps.Usage.NewBatch(callerOf(r).operator)
	err := usage.DecodeRecords(body, func(i int, in *usage.RecordInput, rej *usage.Rejection) error {
		batch.Add(i, in, rej)
		return nil
	})
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			writeError(w, r, a.log, &billing.Error{Kind: billing.KindTooLarge, Code: "RequestBodyTooLarge",
				Message: "The request body is larger than the limit of " + byteSize(a.cfg.MaxIngestBytes) + "; nothing was committed. Send smaller batches."})
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

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
