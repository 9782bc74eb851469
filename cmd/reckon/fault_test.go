package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// faultRecords are n records of sub and meter with usage on day-1 and
// reported on day (a settled window), ids prefix-0000…
func faultRecords(prefix, sub, meter string, day time.Time, n int) []usage.RecordInput {
	recs := make([]usage.RecordInput, n)
	for i := range recs {
		start := day.AddDate(0, 0, -1).Add(time.Duration(i%24) * time.Hour).Add(time.Duration(i%4) * 10 * time.Minute)
		recs[i] = usage.RecordInput{
			ID:             fmt.Sprintf("%s-%04d", prefix, i),
			SubscriptionID: sub,
			MeterID:        meter,
			Quantity:       json.RawMessage(fmt.Sprintf("%d.%06d", i%17, (i*7919)%1_000_000)),
			UsageStartTime: start.Format(time.RFC3339),
			UsageEndTime:   start.Add(10 * time.Minute).Format(time.RFC3339),
			ResourceURI:    fmt.Sprintf("/subscriptions/%s/resourceGroups/fault/providers/Microsoft.Compute/virtualMachines/vm-%d", sub, i%3),
			ReportedTime:   day.Add(time.Duration(1+i%20) * time.Minute).Format(time.RFC3339),
		}
	}
	return recs
}

// faultSetup creates a subscription and a meter on a running server.
func faultSetup(t *testing.T, getenv func(string) string, base, sub, meter string) {
	t.Helper()
	ctx := context.Background()
	mustCLI(t, ctx, getenv, "subscription", "put", "--server", base, "--json", `{"displayName":"Fault test","billingAccount":"fault"}`, sub)
	mustCLI(t, ctx, getenv, "meter", "put", "--server", base, "--json", `{"meterName":"Fault meter","meterCategory":"Test","unit":"1"}`, meter)
}

// wantUsage is what UsageAggregates (daily) should hold for recs.
func wantUsage(t testing.TB, want map[aggKey]money.Quantity, recs []usage.RecordInput) {
	t.Helper()
	for _, r := range recs {
		addUsage(t, want, r)
	}
}

// checkUnavailable fails unless an answer is a clean 503: Retry-After of
// at least a second and an ARM error body.
func checkUnavailable(t testing.TB, what string, status int, body []byte, retryAfter string) {
	t.Helper()
	if status != http.StatusServiceUnavailable {
		t.Fatalf("%s: status %d, want 503: %s", what, status, body)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Errorf("%s: Retry-After %q, want whole seconds ≥ 1", what, retryAfter)
	}
	var e armErrorEnvelope
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Errorf("%s: body is not an ARM error: %s", what, body)
	}
}

type armErrorEnvelope struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// TestFaultSQLiteFullAndReadOnly makes the SQLite database full
// (max_page_count at its current size: SQLITE_FULL) or read-only
// (query_only: SQLITE_READONLY) under a running server: ingestion answers
// 503 with Retry-After and an ARM error, reads keep working, nothing of the
// refused batches is stored, and once space (or write access) is back the
// same server accepts the very same batches, every record once.
func TestFaultSQLiteFullAndReadOnly(t *testing.T) {
	captureSQLiteWriters()
	for _, fault := range []struct{ name, on, off string }{
		{"full", "max_page_count = 1", "max_page_count = 1073741823"},
		{"readonly", "query_only = 1", "query_only = 0"},
	} {
		t.Run(fault.name, func(t *testing.T) {
			getenv, secret := operatorEnv(t)
			client := &http.Client{Timeout: 30 * time.Second}
			dir := t.TempDir()
			srv := serveInProcess(t, getenv, client, "http", "--data-dir", dir, "--close-interval", "0", "--log-level", "warn")
			sub, meter := "3b6e2f4a-8c1d-4e7f-9a2b-5c3d1e0f7a61", "4c7f3a5b-9d2e-4f80-8b3c-6d4e2f1a8b72"
			faultSetup(t, getenv, srv.base, sub, meter)
			token := signIn(t, client, srv.base, testOperatorID, secret)
			day := utcDay(-2)
			want := map[aggKey]money.Quantity{}

			before := faultRecords("before", sub, meter, day, 500)
			if res, _, err := postBatch(client, srv.base, token, ndjson(t, before)); err != nil || res.Accepted != len(before) {
				t.Fatalf("ingest before the fault: %+v %v", res, err)
			}
			wantUsage(t, want, before)

			db := filepath.Join(dir, "reckon.db")
			t.Logf("PRAGMA %s → %s", fault.on, sqlitePragma(t, db, fault.on))
			var refused [][]usage.RecordInput
			for i := range 3 {
				recs := faultRecords(fmt.Sprintf("during-%d", i), sub, meter, day, 2000)
				refused = append(refused, recs)
				status, body, ra, err := faultRequest(client, "POST", srv.base+"/metering/v1/usage", token, "application/x-ndjson", bytes.NewReader(ndjson(t, recs)))
				if err != nil {
					t.Fatal(err)
				}
				checkUnavailable(t, fmt.Sprintf("ingest %d while %s", i, fault.name), status, body, ra)
			}
			// Other writes fail cleanly too (or succeed, when SQLite finds room in a page it has).
			status, body, ra, err := faultRequest(client, "PUT", srv.base+"/admin/v1/subscriptions/5d8a4b6c-0e3f-4a91-8c4d-7e5f3a2b9c83", token, "application/json",
				strings.NewReader(`{"displayName":"Another","billingAccount":"fault"}`))
			if err != nil {
				t.Fatal(err)
			}
			if status != http.StatusCreated {
				checkUnavailable(t, "subscription put while "+fault.name, status, body, ra)
			}
			// Reads keep working and show nothing of the refused batches.
			compareAggregates(t, "UsageAggregates while "+fault.name, aggregates(t, client, srv.base, token, sub, day, day.AddDate(0, 0, 1), "Daily"), want)
			for _, path := range []string{"/readyz", "/admin/v1/subscriptions/" + sub, "/admin/v1/meters/" + meter, "/subscriptions/" + sub + "?api-version=2016-06-01"} {
				status, body, _, err := faultRequest(client, "GET", srv.base+path, token, "", nil)
				if err != nil || status != http.StatusOK {
					t.Errorf("GET %s while %s: %d %v %s", path, fault.name, status, err, body)
				}
			}
			// A sign-in either works or is a clean 503.
			resp, err := client.PostForm(srv.base+"/adfs/oauth2/token", map[string][]string{"grant_type": {"client_credentials"},
				"client_id": {testOperatorID}, "client_secret": {secret}, "resource": {"https://management.core.windows.net/"}})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				checkUnavailable(t, "sign-in while "+fault.name, resp.StatusCode, data, resp.Header.Get("Retry-After"))
			}

			// Space (or write access) is back: the same server takes the same
			// batches, all of them new.
			t.Logf("PRAGMA %s → %s", fault.off, sqlitePragma(t, db, fault.off))
			for i, recs := range refused {
				res, _, err := postBatch(client, srv.base, token, ndjson(t, recs))
				if err != nil || res.Accepted != len(recs) || res.Duplicates != 0 {
					t.Fatalf("batch %d after recovery: %+v %v", i, res, err)
				}
				wantUsage(t, want, recs)
			}
			compareAggregates(t, "UsageAggregates after recovery", aggregates(t, client, srv.base, token, sub, day, day.AddDate(0, 0, 1), "Daily"), want)
			if strings.Contains(srv.log.String(), "msg=\"internal error\"") {
				t.Errorf("the server answered an internal error; log:\n%s", srv.log.String())
			}
		})
	}
}

// Limits of the abusive-clients server.
const (
	abuseHeaderTimeout = time.Second
	abuseReadTimeout   = 3 * time.Second
	abuseMaxConns      = 64
	abuseIdleConns     = 2000
	abuseMaxIngest     = 2 << 20
)

// TestFaultAbusiveClients: slow and greedy clients cannot exhaust the
// server. A client sending its headers a byte at a time is cut off by the
// header timeout; one sending its ingest body slowly is cut off by the read
// timeout, commits nothing, and does not hold up other clients' ingestion;
// oversized bodies are answered 413 on every route that takes a body,
// declared (Content-Length) or chunked; huge headers are answered 431; and
// with 2,000 idle connections open (over the connection limit) the server
// still answers health checks at once.
func TestFaultAbusiveClients(t *testing.T) {
	getenv, secret := operatorEnv(t)
	client := &http.Client{Timeout: 30 * time.Second}
	srv := serveInProcess(t, getenv, client, "http", "--data-dir", t.TempDir(), "--close-interval", "0", "--log-level", "warn",
		"--read-header-timeout", abuseHeaderTimeout.String(), "--read-timeout", abuseReadTimeout.String(),
		"--max-conns", strconv.Itoa(abuseMaxConns), "--max-header-bytes", "8192", "--max-ingest-bytes", strconv.Itoa(abuseMaxIngest))
	addr := strings.TrimPrefix(srv.base, "http://")
	sub, meter := "6e9a5c7d-1f40-4b82-9d5e-8f6a4c3b0d94", "7fab6d8e-2051-4c93-8e6f-9a7b5d4c1ea5"
	faultSetup(t, getenv, srv.base, sub, meter)
	token := signIn(t, client, srv.base, testOperatorID, secret)
	day := utcDay(-2)

	t.Run("slowloris", func(t *testing.T) {
		c := faultConn(t, addr)
		defer c.Close()
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			req := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 100)
			for i := 0; i < len(req); i++ {
				if _, err := c.Write([]byte{req[i]}); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(250 * time.Millisecond): // the slow client's pace
				}
			}
		}()
		start := time.Now()
		closed, got := closedWithin(c, abuseHeaderTimeout+4*time.Second)
		took := time.Since(start)
		if !closed {
			t.Fatalf("a client sending its headers slowly still holds its connection after %v", took)
		}
		if took < abuseHeaderTimeout-100*time.Millisecond {
			t.Errorf("cut off after %v, before the header timeout of %v", took, abuseHeaderTimeout)
		}
		t.Logf("slow headers: connection closed after %v (answer %q)", took.Round(time.Millisecond), faultFirstLine(got))
	})

	t.Run("slow body", func(t *testing.T) {
		slow := faultRecords("slow", sub, meter, day, 400)
		body := ndjson(t, slow)
		c := faultConn(t, addr)
		defer c.Close()
		fmt.Fprintf(c, "POST /metering/v1/usage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n", token, len(body))
		c.Write(body[:len(body)/2]) // whole records, and then a trickle
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := len(body) / 2; i < len(body); i++ {
				if _, err := c.Write(body[i : i+1]); err != nil {
					return
				}
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		// Meanwhile other clients ingest as fast as ever.
		for i := range 3 {
			recs := faultRecords(fmt.Sprintf("fast-%d", i), sub, meter, day, 500)
			t0 := time.Now()
			res, _, err := postBatch(client, srv.base, token, ndjson(t, recs))
			if err != nil || res.Accepted != len(recs) {
				t.Fatalf("ingest beside the slow client: %+v %v", res, err)
			}
			if d := time.Since(t0); d > 2*time.Second {
				t.Errorf("ingest beside the slow client took %v", d)
			}
		}
		closed, got := closedWithin(c, abuseReadTimeout+4*time.Second)
		took := time.Since(start)
		if !closed {
			t.Fatalf("a client sending its body slowly still holds its connection after %v", took)
		}
		if took > abuseReadTimeout+2*time.Second {
			t.Errorf("the slow body was cut off after %v; the read timeout is %v", took, abuseReadTimeout)
		}
		t.Logf("slow body: connection closed after %v (answer %q)", took.Round(time.Millisecond), faultFirstLine(got))
		if bytes.HasPrefix(got, []byte("HTTP/1.1 200")) {
			t.Fatalf("the slow, incomplete body was acknowledged: %s", got)
		}
		// Nothing of it was committed.
		res, _, err := postBatch(client, srv.base, token, body)
		if err != nil || res.Accepted != len(slow) || res.Duplicates != 0 {
			t.Fatalf("the slow client's records sent again: %+v %v; want all %d new", res, err, len(slow))
		}
	})

	t.Run("oversized bodies", func(t *testing.T) {
		bulk := abuseMaxIngest + 1
		small := 1<<20 + 1
		routes := []struct {
			method, path string
			size         int
		}{
			{"POST", "/metering/v1/usage", bulk},
			{"POST", "/admin/v1/catalog/import?format=ratecard&offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", bulk},
			{"PUT", "/admin/v1/subscriptions/" + sub, small},
			{"PUT", "/admin/v1/meters/" + meter, small},
			{"PUT", "/admin/v1/offers/MS-AZR-0003P", small},
			{"PUT", "/admin/v1/principals/someone", small},
			{"PUT", "/admin/v1/roleAssignments/8a0b7e9f-3162-4da4-9f70-ab8c6e5d2fb6", small},
			{"PUT", "/admin/v1/subscriptions/" + sub + "/invoiceAccess", small},
			{"POST", "/admin/v1/exports", small},
			{"POST", "/admin/v1/signingKeys/rotate", small},
			{"POST", "/admin/v1/subscriptions/" + sub + "/billingPeriods/202401-1/close", small},
			{"POST", "/admin/v1/invoices/X-000001/creditNotes", small},
			{"POST", "/adfs/oauth2/token", 64<<10 + 1},
			{"POST", "/portal/signin", small},
		}
		for _, r := range routes {
			status, body, _, err := faultRequest(client, r.method, srv.base+r.path, token, "application/json", bytes.NewReader(make([]byte, r.size)))
			if err != nil {
				t.Errorf("%s %s with %d bytes: %v", r.method, r.path, r.size, err)
				continue
			}
			var e armErrorEnvelope
			json.Unmarshal(body, &e)
			if status != http.StatusRequestEntityTooLarge || e.Error.Code != "RequestBodyTooLarge" {
				t.Errorf("%s %s with %d bytes: %d %s; want 413 RequestBodyTooLarge", r.method, r.path, r.size, status, body)
			}
		}
		// Chunked bodies (no declared length) are cut at the limit by the
		// routes that read them.
		for _, r := range routes[:3] {
			big := io.MultiReader(strings.NewReader("{"), strings.NewReader(strings.Repeat(" ", r.size)))
			status, body, _, err := faultRequest(client, r.method, srv.base+r.path, token, "application/json", io.NopCloser(big))
			if err != nil {
				t.Errorf("%s %s chunked: %v", r.method, r.path, err)
				continue
			}
			if status != http.StatusRequestEntityTooLarge {
				t.Errorf("%s %s with a chunked body of %d bytes: %d %s; want 413", r.method, r.path, r.size, status, body)
			}
		}
	})

	t.Run("huge headers", func(t *testing.T) {
		req, _ := http.NewRequest("GET", srv.base+"/healthz", nil)
		req.Header.Set("X-Huge", strings.Repeat("h", 32<<10))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("32 KiB of headers: %s, want 431", resp.Status)
		}
	})

	t.Run("connection limit", func(t *testing.T) {
		idle := make([]net.Conn, 0, abuseIdleConns)
		defer func() {
			for _, c := range idle {
				c.Close()
			}
		}()
		for range abuseIdleConns {
			idle = append(idle, faultConn(t, addr))
		}
		// Well-behaved clients are served at once, on new connections.
		fresh := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for i := range 20 {
			t0 := time.Now()
			resp, err := fresh.Get(srv.base + "/healthz")
			if err != nil {
				t.Fatalf("health check %d with %d idle connections open: %v", i, abuseIdleConns, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("health check %d: %s", i, resp.Status)
			}
			if d := time.Since(t0); d > time.Second {
				t.Errorf("health check %d took %v", i, d)
			}
		}
		// The server holds no more than its limit: the idle connections
		// beyond it were closed.
		var wg sync.WaitGroup
		var mu sync.Mutex
		closed := 0
		for _, c := range idle {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, _ := closedWithin(c, 200*time.Millisecond); ok {
					mu.Lock()
					closed++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if open := abuseIdleConns - closed; open > abuseMaxConns {
			t.Errorf("%d of %d idle connections are still open; the limit is %d", open, abuseIdleConns, abuseMaxConns)
		}
		t.Logf("%d idle connections: %d closed by the server", abuseIdleConns, closed)
	})
}

func faultFirstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// TestFaultPostgresRestart restarts PostgreSQL (a private cluster: the
// shared one serves other packages' tests) while clients ingest and read
// through one Reckon node: every answer is a 2xx or a 503 with Retry-After
// (never a 500, never a hang), the node serves again once PostgreSQL is
// back without being restarted, and every acknowledged record is stored
// exactly once.
func TestFaultPostgresRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster; skipped with -short")
	}
	pg := startPrivatePG(t)
	getenv, secret := operatorEnv(t)
	client := &http.Client{Timeout: 20 * time.Second}
	srv := serveInProcess(t, getenv, client, "http", "--data-dir", t.TempDir(), "--db", pg.dsn(), "--close-interval", "0", "--log-level", "warn")
	sub, meter := "80bc7e9f-3162-4da4-9f70-ab8c6e5d2fb6", "91cd8fa0-4273-4eb5-8081-bc9d7f6e30c7"
	faultSetup(t, getenv, srv.base, sub, meter)
	token := signIn(t, client, srv.base, testOperatorID, secret)
	day := utcDay(-2)
	aggURL := srv.base + "/subscriptions/" + sub + "/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview&reportedStartTime=" +
		day.Format(time.RFC3339) + "&reportedEndTime=" + day.AddDate(0, 0, 1).Format(time.RFC3339) + "&aggregationGranularity=Daily"

	const batch = 200
	var (
		mu          sync.Mutex
		acked       [][]usage.RecordInput
		bad         []string
		unavailable int
		ok          int
		slowest     time.Duration
		stop        = make(chan struct{})
	)
	// answer records one answer; it returns true for a 2xx.
	answer := func(what string, took time.Duration, status int, body []byte, ra string, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		slowest = max(slowest, took)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v (after %v)", what, err, took))
		case status >= 200 && status < 300:
			ok++
			return true
		case status == http.StatusServiceUnavailable && ra != "":
			unavailable++
		default:
			bad = append(bad, fmt.Sprintf("%s: %d (Retry-After %q) %s", what, status, ra, body))
		}
		return false
	}
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	for c := range 3 {
		wg.Go(func() {
			for b := 0; !stopped(); b++ {
				recs := faultRecords(fmt.Sprintf("pg-c%d-b%04d", c, b), sub, meter, day, batch)
				body := ndjson(t, recs)
				for !stopped() { // until acknowledged
					t0 := time.Now()
					status, data, ra, err := faultRequest(client, "POST", srv.base+"/metering/v1/usage", token, "application/x-ndjson", bytes.NewReader(body))
					if !answer("ingest", time.Since(t0), status, data, ra, err) {
						if err != nil {
							return
						}
						time.Sleep(50 * time.Millisecond) // a client's back-off before it retries
						continue
					}
					var res usage.Result
					if err := json.Unmarshal(data, &res); err != nil || res.Accepted+res.Duplicates != batch || len(res.Rejected) != 0 {
						answer("ingest result", 0, 0, nil, "", fmt.Errorf("%v: %s", err, data))
						return
					}
					mu.Lock()
					acked = append(acked, recs)
					mu.Unlock()
					break
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for !stopped() {
				for _, u := range []string{aggURL, srv.base + "/admin/v1/subscriptions/" + sub} {
					t0 := time.Now()
					status, data, ra, err := faultRequest(client, "GET", u, token, "", nil)
					if !answer("GET", time.Since(t0), status, data, ra, err) {
						if err != nil {
							return
						}
						time.Sleep(50 * time.Millisecond) // a client's back-off before it retries
					}
				}
			}
		})
	}
	waitAcked := func(n int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			got, failed := len(acked), len(bad)
			mu.Unlock()
			if got >= n || failed > 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d batches acknowledged after 30 s", got, n)
			}
			time.Sleep(20 * time.Millisecond) // polling the clients' progress
		}
	}
	waitAcked(5)
	// A clean restart (sessions terminated: 57P01), then a crash restart
	// (immediate: no checkpoint, recovery at start).
	for _, mode := range []string{"fast", "immediate"} {
		t0 := time.Now()
		if out, err := pg.ctl("restart", "-m", mode); err != nil {
			t.Fatalf("pg_ctl restart -m %s: %v\n%s", mode, err, out)
		}
		mu.Lock()
		atRestart, unavailableAtRestart := len(acked), unavailable
		mu.Unlock()
		t.Logf("PostgreSQL restarted (-m %s) in %v; %d batches acknowledged before, %d answers 503 so far",
			mode, time.Since(t0).Round(time.Millisecond), atRestart, unavailableAtRestart)
		waitAcked(atRestart + 10) // the node serves again, by itself
	}
	close(stop)
	wg.Wait()
	t.Logf("%d answers 2xx, %d answers 503, slowest %v; %d batches acknowledged", ok, unavailable, slowest.Round(time.Millisecond), len(acked))
	if len(bad) > 0 {
		t.Fatalf("%d unclean answers, e.g.:\n%s", len(bad), strings.Join(bad[:min(len(bad), 5)], "\n"))
	}
	if unavailable == 0 {
		t.Errorf("no request saw the restart (no 503): the test did not test it")
	}

	// Every acknowledged batch is stored, exactly once.
	want := map[aggKey]money.Quantity{}
	for _, recs := range acked {
		wantUsage(t, want, recs)
	}
	compareAggregates(t, "UsageAggregates after the restart", aggregates(t, client, srv.base, token, sub, day, day.AddDate(0, 0, 1), "Daily"), want)
	for _, recs := range acked[:min(len(acked), 5)] {
		if res, _, err := postBatch(client, srv.base, token, ndjson(t, recs)); err != nil || res.Duplicates != batch {
			t.Errorf("acknowledged batch sent again: %+v %v; want %d duplicates", res, err, batch)
		}
	}
}

// Shape of the close crash test.
const (
	closeSubs        = 5  // subscriptions of one billing account (one numbering sequence)
	closeMonths      = 16 // months of usage each: as many ended periods to close
	closeKills       = 6  // SIGKILLs while the scheduler closes them
	closeMinUptimeMs = 30 // the server is killed at a random moment
	closeMaxUptimeMs = 700
	closeAccount     = "crashclose"
	closeGrace       = time.Hour
)

// TestFaultCrashDuringClose kills the server with SIGKILL at random moments
// while its scheduler closes many ended billing periods, restarts it, and
// repeats; after a last run closes the rest: every due period is closed
// exactly once with exactly one invoice, the invoice numbers of the billing
// account are unique and gapless (1…N), every invoice's lines add up to its
// totals and to the amount worked out from its usage, and every invoice
// has its PDF, whose sha256 is the one recorded in the invoice.
func TestFaultCrashDuringClose(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly; skipped with -short")
	}
	bin := buildReckon(t)
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		crashDuringClose(t, bin, b)
	})
}

func crashDuringClose(t *testing.T, bin string, backend reckontest.Backend) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("seed %d", seed)
	ctx := context.Background()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	logPath := filepath.Join(dir, "reckon.log")
	getenv, secret := operatorEnv(t)
	env := []string{"RECKON_BOOTSTRAP_CLIENT_ID=" + testOperatorID, "RECKON_BOOTSTRAP_CLIENT_SECRET=" + secret}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECKON_") {
			env = append(env, kv)
		}
	}
	addr := freeAddr(t)
	base := "http://" + addr
	dsn := ""
	if backend == reckontest.Postgres {
		dsn = reckontest.DSN(t, backend)
	}
	// The test reads the store itself, beside the server.
	db, err := store.Open(ctx, dsn, dataDir, store.Options{SQLiteCacheMiB: 8, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	args := []string{"serve", "--addr", addr, "--data-dir", dataDir, "--log-level", "warn", "--grace-time", closeGrace.String()}
	if dsn != "" {
		args = append(args, "--db", dsn)
	}
	var proc *reckonProcess
	t.Cleanup(func() {
		if proc != nil {
			proc.kill()
		}
		if t.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				t.Logf("server log (end):\n%s", log[max(0, len(log)-8000):])
			}
		}
	})
	client := &http.Client{Timeout: 60 * time.Second}
	start := func(extra ...string) {
		t.Helper()
		proc = startReckon(t, bin, logPath, env, append(append([]string(nil), args...), extra...)...)
		waitHealthy(t, client, base, proc.exited)
	}

	// Set up without the scheduler: subscriptions, prices, and usage in
	// closeMonths past months.
	start("--close-interval", "0")
	meter := "a2de9fb1-5384-4fc6-9192-cdae80f741d8"
	rc := writeFile(t, "ratecard.json", []byte(`{"OfferTerms":[{"Name":"Recurring Charge","EffectiveDate":"2020-01-01T00:00:00Z","RecurringCharge":5}],
		"Meters":[{"MeterId":"`+meter+`","MeterName":"Flat VM","MeterCategory":"Compute","MeterSubCategory":"D2","Unit":"1 Hour",
		"MeterTags":[],"MeterRegion":"US East","MeterRates":{"0":1.00},"EffectiveDate":"2020-01-01T00:00:00Z","IncludedQuantity":0}],
		"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`))
	mustCLI(t, ctx, getenv, "catalog", "import", "--server", base, "--format", "ratecard", "--offer", "MS-AZR-0003P", "--currency", "USD", "--region", "US", rc)
	// Usage in the closeMonths months up to the last one: each month is a
	// period (billing day 1), due an hour after its end (--grace-time 1h).
	now := time.Now().UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, -closeMonths, 0)
	type periodKey struct{ sub, period string }
	wantTotal := map[periodKey]string{}
	var subs []string
	var recs []usage.RecordInput
	for s := range closeSubs {
		sub := fmt.Sprintf("b3efa0c2-6495-4a07-8%03d-deadbeef%04d", s, s)
		subs = append(subs, sub)
		mustCLI(t, ctx, getenv, "subscription", "put", "--server", base, "--json",
			`{"displayName":"Close crash","billingAccount":"`+closeAccount+`","billingDay":1}`, sub)
		for m := range closeMonths {
			month := first.AddDate(0, m, 0)
			q := (s+1)*100 + m
			start := month.AddDate(0, 0, 9)
			recs = append(recs, usage.RecordInput{
				ID: fmt.Sprintf("close-%d-%02d", s, m), SubscriptionID: sub, MeterID: meter,
				Quantity: json.RawMessage(strconv.Itoa(q)), UsageStartTime: start.Format(time.RFC3339),
				UsageEndTime: start.Add(time.Hour).Format(time.RFC3339), ReportedTime: start.Add(2 * time.Hour).Format(time.RFC3339),
			})
			// The period is named after the month of its end.
			if end := month.AddDate(0, 1, 0); !end.Add(closeGrace).After(now) {
				wantTotal[periodKey{sub, end.Format("200601") + "-1"}] = strconv.Itoa(q + 5)
			}
		}
	}
	token := signIn(t, client, base, testOperatorID, secret)
	if res, _, err := postBatch(client, base, token, ndjsonBytes(recs)); err != nil || res.Accepted != len(recs) {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	issued := func() int {
		t.Helper()
		invs, err := db.InvoicesOfAccount(ctx, closeAccount)
		if err != nil {
			t.Fatal(err)
		}
		return len(invs)
	}
	if n := issued(); n != 0 {
		t.Fatalf("%d invoices before the scheduler ran", n)
	}
	proc.kill()

	// Kill the closing server at random moments.
	total := len(wantTotal)
	for kill := 1; kill <= closeKills; kill++ {
		start("--close-interval", "100ms")
		d := time.Duration(closeMinUptimeMs+rng.IntN(closeMaxUptimeMs-closeMinUptimeMs)) * time.Millisecond
		time.Sleep(d) // the random moment of the crash
		proc.kill()
		if proc.err == nil || !strings.Contains(proc.err.Error(), "killed") {
			t.Fatalf("reckon did not die of SIGKILL: %v", proc.err)
		}
		t.Logf("kill %d, %v after the server was healthy: %d of %d invoices issued", kill, d, issued(), total)
	}
	// A last run closes the rest.
	start("--close-interval", "100ms")
	deadline := time.Now().Add(60 * time.Second)
	for issued() < total && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond) // polling the scheduler's progress
	}
	time.Sleep(300 * time.Millisecond) // a few more scheduler rounds: nothing more may be issued
	proc.kill()

	// Every invoice once, numbered without gaps.
	invs, err := db.InvoicesOfAccount(ctx, closeAccount)
	if err != nil {
		t.Fatal(err)
	}
	if len(invs) != total {
		t.Fatalf("%d invoices issued, want %d (one per due period)", len(invs), total)
	}
	numbers := map[int]string{}
	perPeriod := map[periodKey]string{}
	prefix := invoicing.DefaultNumberPrefix(closeAccount)
	for _, inv := range invs {
		n, err := strconv.Atoi(strings.TrimPrefix(inv.Name, prefix))
		if err != nil || !strings.HasPrefix(inv.Name, prefix) || inv.Kind != invoicing.KindInvoice {
			t.Fatalf("unexpected document %s (%s)", inv.Name, inv.Kind)
		}
		if other, dup := numbers[n]; dup {
			t.Fatalf("number %d issued twice: %s and %s", n, other, inv.Name)
		}
		numbers[n] = inv.Name
		k := periodKey{inv.SubscriptionID, inv.PeriodName}
		if other, dup := perPeriod[k]; dup {
			t.Fatalf("period %s of %s invoiced twice: %s and %s", k.period, k.sub, other, inv.Name)
		}
		perPeriod[k] = inv.Name
	}
	for n := 1; n <= total; n++ {
		if _, ok := numbers[n]; !ok {
			t.Fatalf("invoice number %d is missing: the numbering has a gap", n)
		}
	}
	// Every period closed once, with its one invoice.
	for _, sub := range subs {
		closed, err := db.ClosedPeriods(ctx, sub)
		if err != nil {
			t.Fatal(err)
		}
		if len(closed) != total/closeSubs {
			t.Errorf("subscription %s: %d closed periods, want %d", sub, len(closed), total/closeSubs)
		}
		for i, p := range closed {
			if len(p.InvoiceNames) != 1 || perPeriod[periodKey{sub, p.Name}] != p.InvoiceNames[0] {
				t.Errorf("period %s of %s: invoices %v, want exactly %s", p.Name, sub, p.InvoiceNames, perPeriod[periodKey{sub, p.Name}])
			}
			if i > 0 && !p.Start.Equal(closed[i-1].End) {
				t.Errorf("period %s of %s starts at %s, not at the end of the one before (%s)", p.Name, sub, p.Start, closed[i-1].End)
			}
			if p.ClosedAt == nil {
				t.Errorf("period %s of %s is listed closed without a close time", p.Name, sub)
			}
		}
	}
	// Every invoice whole: lines, totals, PDF.
	checkedText := 0
	_, pdftotextErr := exec.LookPath("pdftotext")
	for k, name := range perPeriod {
		inv, err := db.Invoice(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := wantTotal[k]
		if !ok {
			t.Errorf("invoice %s closes period %s of %s, which should not be closed", name, k.period, k.sub)
			continue
		}
		sum := money.Zero
		for _, l := range inv.Lines {
			sum = sum.Add(l.Amount)
		}
		if sum.String() != inv.SubTotal.String() || inv.Total.String() != want || inv.SubTotal.String() != want {
			t.Errorf("invoice %s (period %s): lines sum to %s, subtotal %s, total %s; want %s", name, k.period, sum, inv.SubTotal, inv.Total, want)
		}
		pdf, err := db.PDF(ctx, name)
		if err != nil {
			t.Fatalf("invoice %s has no PDF: %v", name, err)
		}
		h := sha256.Sum256(pdf)
		if !bytes.HasPrefix(pdf, []byte("%PDF-")) || hex.EncodeToString(h[:]) != inv.PDFSHA256 {
			t.Errorf("invoice %s: the stored PDF (%d bytes, sha256 %x) is not the one recorded (%s)", name, len(pdf), h, inv.PDFSHA256)
		}
		if pdftotextErr == nil && checkedText < 3 {
			checkedText++
			path := filepath.Join(dir, name+".pdf")
			if err := os.WriteFile(path, pdf, 0o600); err != nil {
				t.Fatal(err)
			}
			checkPDFTotals(t, path, want)
		}
	}
	t.Logf("%s: %d invoices, numbers 1…%d, every PDF matches its invoice", backend, len(invs), total)
}
