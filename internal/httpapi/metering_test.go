package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// The metering tests report their records inside the Daily window
// [meterDay, meterDay+24h) and read them back through UsageAggregates.
var meterDay = time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC)

// rec is a valid record of subA on meterA, reported inside the window.
func rec(id, quantity string) record {
	return record{ID: id, SubscriptionID: subA, MeterID: meterA, Quantity: json.RawMessage(quantity),
		UsageStartTime: "2024-03-04T10:00:00Z", UsageEndTime: "2024-03-04T11:00:00Z",
		ResourceURI: "/subscriptions/" + subA + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/" + id,
		Location:    "northeurope", ReportedTime: "2024-03-05T08:00:00Z"}
}

// windowTotals reads the totals per meter of subA in the metering window.
func windowTotals(t *testing.T, srv *reckontest.Server) map[string]string {
	t.Helper()
	rows, _ := listAll(t, srv, usagePath(subA, window(meterDay, meterDay.Add(24*time.Hour), "Daily")))
	return totals(t, rows)
}

func wantResult(t *testing.T, got usage.Result, accepted, duplicates int, rejected ...usage.Rejection) {
	t.Helper()
	if got.Accepted != accepted || got.Duplicates != duplicates {
		t.Errorf("accepted %d, duplicates %d; want %d, %d (rejected %+v)", got.Accepted, got.Duplicates, accepted, duplicates, got.Rejected)
	}
	if rejected == nil {
		rejected = []usage.Rejection{}
	}
	// Compare index, id and code; messages only need to be present.
	strip := make([]usage.Rejection, len(got.Rejected))
	for i, r := range got.Rejected {
		if r.Message == "" {
			t.Errorf("rejection %d has no message", r.Index)
		}
		r.Message = ""
		strip[i] = r
	}
	if !reflect.DeepEqual(strip, rejected) {
		t.Errorf("rejected = %+v\nwant       %+v", strip, rejected)
	}
}

func TestIngestArrayAndNDJSON(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)

		res := ingest(t, srv, srv.AdminToken, jsonArray(rec("a1", "1.5"), rec("a2", `"0.000000001"`)))
		wantResult(t, res, 2, 0)

		// NDJSON with CRLF line ends, a blank line and no final newline.
		body := rec("n1", "2").json() + "\r\n\r\n" + rec("n2", "1e-3").json() + "\n" + rec("n3", "7.25").json()
		res = ingest(t, srv, srv.AdminToken, body)
		wantResult(t, res, 3, 0)

		// An empty body and an empty array carry no records.
		wantResult(t, ingest(t, srv, srv.AdminToken, ""), 0, 0)
		wantResult(t, ingest(t, srv, srv.AdminToken, " [ ] "), 0, 0)

		if got, want := windowTotals(t, srv), map[string]string{meterA: "10.751000001"}; !equalTotals(got, want) {
			t.Errorf("totals = %v, want %v", got, want)
		}
	})
}

func TestIngestMixedRecords(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)

		noID := rec("", "1")
		badSub := rec("bad-sub", "1")
		badSub.SubscriptionID = "contoso"
		noMeter := rec("no-meter", "1")
		noMeter.MeterID = unknownGUID
		noSub := rec("no-sub", "1")
		noSub.SubscriptionID = unknownGUID
		future := rec("future", "1")
		future.UsageStartTime, future.UsageEndTime = "2024-03-10T12:00:00Z", "2024-03-10T13:00:00Z"
		backwards := rec("backwards", "1")
		backwards.UsageStartTime, backwards.UsageEndTime = "2024-03-04T11:00:00Z", "2024-03-04T10:00:00Z"
		badTime := rec("bad-time", "1")
		badTime.UsageStartTime = "4 March 2024"
		futureReported := rec("future-reported", "1")
		futureReported.ReportedTime = "2024-03-10T12:00:01Z"

		lines := []string{
			rec("ok-1", "1.25").json(),          // 0
			noID.json(),                         // 1
			badSub.json(),                       // 2
			noMeter.json(),                      // 3
			rec("negative", "-1").json(),        // 4
			rec("ok-2", `"2.000000001"`).json(), // 5
			strings.Replace(rec("extra", "1").json(), `{`, `{"colour":"red",`, 1), // 6
			noSub.json(),     // 7
			future.json(),    // 8
			backwards.json(), // 9
			rec("too-precise", "0.0000000001").json(), // 10
			`42`,                         // 11
			rec("text", `"lots"`).json(), // 12
			badTime.json(),               // 13
			strings.Replace(rec("num-id", "1").json(), `"id":"num-id"`, `"id":7`, 1), // 14
			futureReported.json(),   // 15
			rec("ok-3", "3").json(), // 16
		}
		res := ingest(t, srv, srv.AdminToken, strings.Join(lines, "\n"))
		wantResult(t, res, 3, 0,
			usage.Rejection{Index: 1, ID: "", Code: usage.CodeMissingProperty},
			usage.Rejection{Index: 2, ID: "bad-sub", Code: usage.CodeInvalidSubscriptionID},
			usage.Rejection{Index: 3, ID: "no-meter", Code: usage.CodeMeterNotFound},
			usage.Rejection{Index: 4, ID: "negative", Code: usage.CodeNegativeQuantity},
			usage.Rejection{Index: 6, ID: "extra", Code: usage.CodeUnknownProperty},
			usage.Rejection{Index: 7, ID: "no-sub", Code: usage.CodeSubscriptionNotFound},
			usage.Rejection{Index: 8, ID: "future", Code: usage.CodeUsageInFuture},
			usage.Rejection{Index: 9, ID: "backwards", Code: usage.CodeEndBeforeStart},
			usage.Rejection{Index: 10, ID: "too-precise", Code: usage.CodeInvalidQuantity},
			usage.Rejection{Index: 11, ID: "", Code: usage.CodeInvalidRecord},
			usage.Rejection{Index: 12, ID: "text", Code: usage.CodeInvalidQuantity},
			usage.Rejection{Index: 13, ID: "bad-time", Code: usage.CodeInvalidTime},
			usage.Rejection{Index: 14, ID: "", Code: usage.CodeInvalidRecord},
			usage.Rejection{Index: 15, ID: "future-reported", Code: usage.CodeInvalidTime},
		)
		if got, want := windowTotals(t, srv), map[string]string{meterA: "6.250000001"}; !equalTotals(got, want) {
			t.Errorf("totals = %v, want only the three valid records' %v", got, want)
		}
		// The valid records were committed: sending them again finds them.
		res = ingest(t, srv, srv.AdminToken, jsonArray(rec("ok-1", "1.25"), rec("ok-2", `"2.000000001"`), rec("ok-3", "3")))
		wantResult(t, res, 0, 3)
	})
}

func TestIngestReplayAndConflict(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)
		batch := ndjson(rec("x1", "1"), rec("x2", "2"), rec("x3", "3"))
		wantResult(t, ingest(t, srv, srv.AdminToken, batch), 3, 0)
		want := map[string]string{meterA: "6"}
		if got := windowTotals(t, srv); !equalTotals(got, want) {
			t.Fatalf("totals = %v, want %v", got, want)
		}

		// An identical replay, as an array this time, changes nothing.
		wantResult(t, ingest(t, srv, srv.AdminToken, jsonArray(rec("x1", "1"), rec("x2", "2"), rec("x3", "3"))), 0, 3)
		// "1.0" is the same quantity as "1".
		wantResult(t, ingest(t, srv, srv.AdminToken, ndjson(rec("x1", "1.0"))), 0, 1)

		// A different record under a known id is a conflict; the new one next to it is accepted.
		moved := rec("x2", "2")
		moved.UsageEndTime = "2024-03-04T10:30:00Z"
		otherMeter := rec("x3", "3")
		otherMeter.MeterID = meterB
		res := ingest(t, srv, srv.AdminToken, ndjson(rec("x1", "1.5"), moved, otherMeter, rec("x4", "4")))
		wantResult(t, res, 1, 0,
			usage.Rejection{Index: 0, ID: "x1", Code: usage.CodeConflict},
			usage.Rejection{Index: 1, ID: "x2", Code: usage.CodeConflict},
			usage.Rejection{Index: 2, ID: "x3", Code: usage.CodeConflict})

		// Inside one request: the second copy is a duplicate, or a conflict when it differs.
		res = ingest(t, srv, srv.AdminToken, ndjson(rec("y1", "5"), rec("y1", "5"), rec("y2", "6"), rec("y2", "60")))
		wantResult(t, res, 2, 1, usage.Rejection{Index: 3, ID: "y2", Code: usage.CodeConflict})

		if got, want := windowTotals(t, srv), map[string]string{meterA: "21"}; !equalTotals(got, want) {
			t.Errorf("totals = %v, want %v (6 + x4 + y1 + y2)", got, want)
		}
	})
}

func TestIngestBodyTooLarge(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		const limit = 4096
		srv, _ := startServer(t, b, reckontest.Options{MaxIngestBytes: limit})
		setupCatalog(t, srv)
		var recs []record
		for i := range 40 {
			recs = append(recs, rec(fmt.Sprintf("big-%02d", i), "1"))
		}
		body := ndjson(recs...)
		if len(body) <= limit {
			t.Fatalf("body of %d bytes is not over the limit", len(body))
		}
		resp, data := send(t, srv, request{method: http.MethodPost, path: "/metering/v1/usage", token: srv.AdminToken, body: body})
		wantError(t, resp, data, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "")
		resp, data = send(t, srv, request{method: http.MethodPost, path: "/metering/v1/usage", token: srv.AdminToken, body: jsonArray(recs...)})
		wantError(t, resp, data, http.StatusRequestEntityTooLarge, "RequestBodyTooLarge", "")

		if got := windowTotals(t, srv); len(got) != 0 {
			t.Errorf("totals after a refused body = %v, want nothing committed", got)
		}
		// The records that fit were not committed either: they are new now.
		small := ndjson(recs[:5]...)
		if len(small) > limit {
			t.Fatal("five records do not fit")
		}
		wantResult(t, ingest(t, srv, srv.AdminToken, small), 5, 0)
	})
}

func TestIngestMalformedBody(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)
		good := []record{rec("m1", "1"), rec("m2", "2")}
		for name, body := range map[string]string{
			"TruncatedArray": "[" + good[0].json() + "," + good[1].json() + `,{"id":`,
			"UnclosedArray":  "[" + good[0].json() + "," + good[1].json(),
			"GarbageLine":    ndjson(good...) + "not json\n",
			"TrailingData":   jsonArray(good...) + " []",
			"NotJSON":        "id,quantity\nm1,1\n",
			"String":         `"records"`,
			"CommaInNDJSON":  good[0].json() + ",\n" + good[1].json(),
		} {
			t.Run(name, func(t *testing.T) {
				resp, data := send(t, srv, request{method: http.MethodPost, path: "/metering/v1/usage", token: srv.AdminToken, body: body})
				wantError(t, resp, data, http.StatusBadRequest, "InvalidRequestContent", "")
			})
		}
		if got := windowTotals(t, srv); len(got) != 0 {
			t.Errorf("totals after malformed bodies = %v, want nothing committed", got)
		}
		wantResult(t, ingest(t, srv, srv.AdminToken, ndjson(good...)), 2, 0)
	})
}

func TestIngestReportedTimeNeedsOperator(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)
		withReported := rec("w1", "1")
		serverTimed := rec("w2", "2")
		serverTimed.ReportedTime = ""
		res := ingest(t, srv, srv.IngestToken, ndjson(withReported, serverTimed))
		wantResult(t, res, 1, 0, usage.Rejection{Index: 0, ID: "w1", Code: usage.CodeReportedTimeNotAllowed})

		if got := windowTotals(t, srv); len(got) != 0 {
			t.Errorf("the metering window holds %v, want nothing (w1 refused, w2 reported now)", got)
		}
		// w2 was reported at the server's clock: it shows in the hour of serverNow.
		clock.Advance(time.Hour + time.Minute) // past the end of that hour and the settle margin
		hour := serverNow.Truncate(time.Hour)
		rows, _ := listAll(t, srv, usagePath(subA, window(hour, hour.Add(time.Hour), "Hourly")))
		if got, want := totals(t, rows), map[string]string{meterA: "2"}; !equalTotals(got, want) {
			t.Errorf("the hour of the ingest holds %v, want %v", got, want)
		}
		// The operator may set it.
		wantResult(t, ingest(t, srv, srv.AdminToken, ndjson(withReported)), 1, 0)
		if got, want := windowTotals(t, srv), map[string]string{meterA: "1"}; !equalTotals(got, want) {
			t.Errorf("totals = %v, want %v", got, want)
		}
	})
}

func TestIngestAuthentication(t *testing.T) {
	body := ndjson(rec("auth-1", "1"))
	post := func(token string) request {
		return request{method: http.MethodPost, path: "/metering/v1/usage", token: token, body: body}
	}
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)
		resp, data := send(t, srv, post(""))
		wantError(t, resp, data, 401, "AuthenticationFailed", "")
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
			t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
		}
		resp, data = send(t, srv, post("not-a-known-token"))
		wantError(t, resp, data, 401, "InvalidAuthenticationToken", "")
		// A subscription's Owner reads but does not write usage.
		resp, data = send(t, srv, post(srv.Principal(t, "owner-a", "Owner@/subscriptions/"+subA)))
		wantError(t, resp, data, 403, "AuthorizationFailed", "")
		if got := windowTotals(t, srv); len(got) != 0 {
			t.Errorf("refused ingests committed %v", got)
		}
		resp, data = send(t, srv, request{method: http.MethodGet, path: "/metering/v1/usage", token: srv.AdminToken})
		if resp.StatusCode == 200 {
			t.Errorf("GET /metering/v1/usage answered 200: %s", data)
		}
	})
}

// TestIngestWriterScope: a Usage Writer of one subscription may send its
// records only; a record of any other subscription, existing or not, is
// rejected alone with AuthorizationFailed.
func TestIngestWriterScope(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := startServer(t, b, reckontest.Options{})
		setupCatalog(t, srv)
		writer := srv.Principal(t, "writer-a", "Usage Writer@/subscriptions/"+subA)
		mine, other, unknown := rec("scope-1", "1"), rec("scope-2", "2"), rec("scope-3", "4")
		other.SubscriptionID, unknown.SubscriptionID = subB, unknownGUID
		mine.ReportedTime, other.ReportedTime, unknown.ReportedTime = "", "", ""
		res := ingest(t, srv, writer, ndjson(mine, other, unknown))
		wantResult(t, res, 1, 0, usage.Rejection{Index: 1, ID: "scope-2", Code: "AuthorizationFailed"}, usage.Rejection{Index: 2, ID: "scope-3", Code: "AuthorizationFailed"})
		clock.Advance(time.Hour + time.Minute)
		hour := serverNow.Truncate(time.Hour)
		for sub, want := range map[string]map[string]string{subA: {meterA: "1"}, subB: {}} {
			rows, _ := listAll(t, srv, usagePath(sub, window(hour, hour.Add(time.Hour), "Hourly")))
			if got := totals(t, rows); !equalTotals(got, want) {
				t.Errorf("%s holds %v, want %v", sub, got, want)
			}
		}
	})
}
