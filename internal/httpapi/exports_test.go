package httpapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// TestExportJobs: an operator starts a FOCUS export of a closed month, the
// job finishes in the background, its files are downloaded through signed
// links without a token (bytes as the manifest says), and the export
// totals the invoice; tampered links, other roles and bad requests are
// refused.
func TestExportJobs(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := startServer(t, b, reckontest.Options{})
		putSubscription(t, srv, subA)
		importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
		res := ingest(t, srv, srv.AdminToken, `[
			{"id":"t1","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":60,"usageStartTime":"2024-03-02T00:00:00Z","usageEndTime":"2024-03-02T06:00:00Z","reportedTime":"2024-03-02T07:00:00Z"},
			{"id":"t2","subscriptionId":"`+subA+`","meterId":"`+rcMeterTiered+`","quantity":"90","usageStartTime":"2024-03-05T10:00:00Z","usageEndTime":"2024-03-05T11:00:00Z","reportedTime":"2024-03-05T12:00:00Z"},
			{"id":"d1","subscriptionId":"`+subA+`","meterId":"`+rcMeterDeprecated+`","quantity":1000,"usageStartTime":"2024-03-03T00:00:00Z","usageEndTime":"2024-03-04T00:00:00Z","reportedTime":"2024-03-04T01:00:00Z"}]`)
		if res.Accepted != 3 {
			t.Fatalf("ingest: %+v", res)
		}
		clock.Set(time.Date(2024, 4, 5, 0, 0, 0, 0, time.UTC))
		resp, body := send(t, srv, request{method: http.MethodPost, path: "/admin/v1/subscriptions/" + subA + "/billingPeriods/202404-1/close", token: srv.AdminToken})
		var inv struct{ Name, Total string }
		if resp.StatusCode != 200 || json.Unmarshal(body, &inv) != nil || inv.Total != "127.6" {
			t.Fatalf("close: %d %s", resp.StatusCode, body)
		}

		resp, body = send(t, srv, request{method: http.MethodPost, path: "/admin/v1/exports", token: srv.AdminToken,
			body: `{"dataset":"focus","format":"csv","from":"2024-03-01","to":"2024-04-01","subscriptionId":"` + subA + `"}`})
		var job struct {
			ID, State string
		}
		if resp.StatusCode != http.StatusAccepted || json.Unmarshal(body, &job) != nil || job.ID == "" || resp.Header.Get("Location") != srv.URL+"/admin/v1/exports/"+job.ID {
			t.Fatalf("start: %d %s (Location %q)", resp.StatusCode, body, resp.Header.Get("Location"))
		}
		srv.Exports.Wait()
		resp, body = get(t, srv, "/admin/v1/exports/"+job.ID)
		var done struct {
			State, Error string
			Rows         int64
			Manifest     struct {
				Totals []struct{ Currency, Cost string }
				Files  []struct{ Name, SHA256 string }
			}
			Files []struct{ Name, URL string }
		}
		if resp.StatusCode != 200 || json.Unmarshal(body, &done) != nil || done.State != "Succeeded" {
			t.Fatalf("job: %d %s", resp.StatusCode, body)
		}
		if len(done.Manifest.Totals) != 1 || done.Manifest.Totals[0].Cost != inv.Total || done.Manifest.Totals[0].Currency != "USD" {
			t.Errorf("the export totals %+v, the invoice %s", done.Manifest.Totals, inv.Total)
		}
		want := map[string]string{}
		for _, f := range done.Manifest.Files {
			want[f.Name] = f.SHA256
		}
		if len(done.Files) != len(want)+1 {
			t.Fatalf("links %+v for files %v", done.Files, want)
		}
		for _, f := range done.Files {
			r, err := http.Get(f.URL) // no token
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(r.Body)
			r.Body.Close()
			if r.StatusCode != 200 {
				t.Fatalf("%s: %d %s", f.Name, r.StatusCode, data)
			}
			sum := sha256.Sum256(data)
			if sha, ok := want[f.Name]; ok && hex.EncodeToString(sum[:]) != sha {
				t.Errorf("%s: sha256 differs from the manifest's", f.Name)
			}
			if strings.HasSuffix(f.Name, ".csv") && !strings.Contains(string(data), "BilledCost") {
				t.Errorf("%s holds no FOCUS header", f.Name)
			}
			// Any change to the link fails.
			r, _ = http.Get(strings.Replace(f.URL, "expires=", "expires=1", 1))
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s: a tampered link answered %d", f.Name, r.StatusCode)
			}
			r.Body.Close()
		}
		// The link expires.
		clock.Advance(2 * time.Hour)
		if r, _ := http.Get(done.Files[0].URL); r.StatusCode != http.StatusForbidden {
			t.Errorf("an expired link answered %d", r.StatusCode)
		}

		// Refusals.
		reader := srv.Principal(t, "reader-a", "Reader@/subscriptions/"+subA)
		resp, body = send(t, srv, request{method: http.MethodPost, path: "/admin/v1/exports", token: reader, body: `{"dataset":"focus","from":"2024-03-01","to":"2024-04-01"}`})
		wantError(t, resp, body, 403, "AuthorizationFailed", "")
		for _, c := range []struct{ body, target string }{
			{`{"dataset":"xml","from":"2024-03-01","to":"2024-04-01"}`, "dataset"},
			{`{"dataset":"focus","format":"xlsx","from":"2024-03-01","to":"2024-04-01"}`, "format"},
			{`{"dataset":"focus","from":"2024-04-01","to":"2024-03-01"}`, "to"},
			{`{"dataset":"focus","from":"March","to":"2024-04-01"}`, "from"},
			{`{"dataset":"focus","from":"2024-03-01","to":"2024-04-01","subscriptionId":"nope"}`, "subscriptionId"},
		} {
			resp, body := send(t, srv, request{method: http.MethodPost, path: "/admin/v1/exports", token: srv.AdminToken, body: c.body})
			wantError(t, resp, body, 400, "InvalidProperty", c.target)
		}
		resp, body = get(t, srv, "/admin/v1/exports/0123456789abcdef")
		wantError(t, resp, body, 404, "ExportNotFound", "exportId")
	})
}
