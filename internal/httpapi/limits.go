package httpapi

import (
	"net/http"
	"strings"
)

// Body limits of the routes that are not bulk uploads.
const (
	// MaxRequestBody bounds the body of every request that is not a bulk
	// upload (operator PUTs and POSTs, portal forms, …): the handlers
	// themselves read at most maxAdminBody.
	MaxRequestBody = maxAdminBody
	// maxTokenBody bounds the token endpoint's form.
	maxTokenBody = 64 << 10
)

// bulkPaths are the routes whose bodies may be as large as the ingest limit.
var bulkPaths = []string{"/metering/v1/usage", "/admin/v1/catalog/import"}

// LimitBodies bounds the request body of every route, in front of all
// handlers: bulk uploads (usage ingestion, catalog imports) to maxBulk
// bytes, the token endpoint to 64 KiB, everything else to MaxRequestBody.
// A body whose declared Content-Length is over its route's limit is
// answered 413 (ARM code RequestBodyTooLarge) at once, without reading it
// and without calling the handler; a body of unknown length (chunked) is
// cut at the limit, so that a handler reading it gets an
// *http.MaxBytesError and answers 413 itself.
func LimitBodies(next http.Handler, maxBulk int64) http.Handler {
	if maxBulk <= 0 {
		maxBulk = 64 << 20
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		limit := bodyLimit(r.URL.Path, maxBulk)
		if r.ContentLength > limit {
			w.Header().Set("Connection", "close") // the rest of the body is not read
			w.Header().Set("x-ms-error-code", "RequestBodyTooLarge")
			writeJSON(w, http.StatusRequestEntityTooLarge, armErrorBody{Error: armError{Code: "RequestBodyTooLarge",
				Message: "The request body is larger than the limit of " + byteSize(limit) + " for this request; nothing was done."}})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// bodyLimit is the body limit of a request to path.
func bodyLimit(path string, maxBulk int64) int64 {
	path = "/" + strings.TrimLeft(path, "/")
	for _, p := range bulkPaths {
		if strings.EqualFold(strings.TrimRight(path, "/"), p) {
			return maxBulk
		}
	}
	if strings.EqualFold(path, "/adfs/oauth2/token") {
		return maxTokenBody
	}
	return MaxRequestBody
}
