package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

func gzipped(s string) string {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.String()
}

// TestIngestGzip: a gzip-encoded body is ingested like a plain one; the
// size limit applies to the decompressed records too (a small compressed
// body that inflates past it is refused whole), corrupt gzip is a 400 and
// an unknown encoding a 415, none of them committing anything.
func TestIngestGzip(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		const limit = 8192
		srv, _ := startServer(t, b, reckontest.Options{MaxIngestBytes: limit})
		setupCatalog(t, srv)
		post := func(body string, encoding string) (*http.Response, []byte) {
			return send(t, srv, request{method: http.MethodPost, path: "/metering/v1/usage", token: srv.AdminToken,
				body: body, header: map[string]string{"Content-Encoding": encoding}})
		}

		// Records that inflate past the limit although they compress below it.
		var big []record
		for i := range 60 {
			big = append(big, rec(fmt.Sprintf("gz-big-%02d", i), "1"))
		}
		plain := ndjson(big...)
		compressed := gzipped(plain)
		if len(plain) <= limit || len(compressed) > limit {
			t.Fatalf("plain %d bytes, compressed %d: the test needs plain > %d ≥ compressed", len(plain), len(compressed), limit)
		}
		resp, data := post(compressed, "gzip")
		wantError(t, resp, data, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "")

		resp, data = post(compressed[:len(compressed)/2], "gzip")
		wantError(t, resp, data, http.StatusBadRequest, "InvalidRequestContent", "")
		resp, data = post("not gzip at all", "gzip")
		wantError(t, resp, data, http.StatusBadRequest, "InvalidRequestContent", "")
		resp, data = post(ndjson(big[:2]...), "br")
		wantError(t, resp, data, http.StatusUnsupportedMediaType, "UnsupportedContentEncoding", "")
		if got := windowTotals(t, srv); len(got) != 0 {
			t.Fatalf("totals after refused bodies = %v, want nothing committed", got)
		}

		resp, data = post(gzipped(ndjson(big[:10]...)), "GZIP")
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(data), `"accepted":10`) {
			t.Fatalf("gzip body: %d %s", resp.StatusCode, data)
		}
		if got := windowTotals(t, srv)[meterA]; got != "10" {
			t.Errorf("total after a gzip body = %q, want 10", got)
		}
	})
}
