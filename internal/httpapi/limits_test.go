package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestLimitBodies: a declared body over its route's limit is answered 413
// without calling the handler; a chunked one is cut at the limit.
func TestLimitBodies(t *testing.T) {
	var read int64
	var readErr error
	h := LimitBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read, readErr = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}), 1000)
	for _, c := range []struct {
		path   string
		size   int
		status int
	}{
		{"/metering/v1/usage", 1000, http.StatusNoContent},
		{"/metering/v1/usage", 1001, http.StatusRequestEntityTooLarge},
		{"/METERING/v1/Usage/", 1001, http.StatusRequestEntityTooLarge},
		{"/admin/v1/catalog/import", 1001, http.StatusRequestEntityTooLarge},
		{"/admin/v1/subscriptions/x", MaxRequestBody, http.StatusNoContent},
		{"/admin/v1/subscriptions/x", MaxRequestBody + 1, http.StatusRequestEntityTooLarge},
		{"/adfs/oauth2/token", 64<<10 + 1, http.StatusRequestEntityTooLarge},
		{"/portal/signin", MaxRequestBody + 1, http.StatusRequestEntityTooLarge},
	} {
		read, readErr = -1, nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", c.path, bytes.NewReader(make([]byte, c.size))))
		if rec.Code != c.status {
			t.Errorf("POST %s with %d bytes: %d, want %d", c.path, c.size, rec.Code, c.status)
		}
		if c.status == http.StatusRequestEntityTooLarge {
			var e armErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != "RequestBodyTooLarge" || read != -1 {
				t.Errorf("POST %s with %d bytes: body %s, handler read %d", c.path, c.size, rec.Body, read)
			}
		}
	}
	// Chunked: no declared length; the handler reads at most the limit.
	req := httptest.NewRequest("PUT", "/admin/v1/meters/x", io.NopCloser(strings.NewReader(strings.Repeat("x", MaxRequestBody+10))))
	req.ContentLength = -1
	h.ServeHTTP(httptest.NewRecorder(), req)
	var mbe *http.MaxBytesError
	if read != MaxRequestBody || !errors.As(readErr, &mbe) {
		t.Errorf("chunked body over the limit: read %d bytes, error %v", read, readErr)
	}
}

// TestWriteErrorUnavailableStore: a driver error that means "the database
// is unavailable" becomes a 503 with Retry-After, even wrapped; other
// unexpected errors stay 500s.
func TestWriteErrorUnavailableStore(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		err    error
		status int
		retry  string
	}{
		{fmt.Errorf("store: query: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), 503, "5"},
		{fmt.Errorf("store: begin: %w", pgconn.ErrConnClosed), 503, "5"},
		{fmt.Errorf("store: query: %w", &pgconn.PgError{Code: "42P01", Message: "relation does not exist"}), 500, ""},
		{errors.New("boom"), 500, ""},
	} {
		rec := httptest.NewRecorder()
		writeError(rec, httptest.NewRequest("GET", "/x", nil), log, c.err)
		if rec.Code != c.status || rec.Header().Get("Retry-After") != c.retry {
			t.Errorf("%v: %d Retry-After %q, want %d %q", c.err, rec.Code, rec.Header().Get("Retry-After"), c.status, c.retry)
		}
		if strings.Contains(rec.Body.String(), "administrator") || strings.Contains(rec.Body.String(), "relation") {
			t.Errorf("%v: the driver's message leaked: %s", c.err, rec.Body)
		}
	}
}
