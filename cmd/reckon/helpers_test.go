package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/usage"
)

// syncBuffer is a bytes.Buffer safe for a server goroutine writing its log
// while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func randomToken(t testing.TB, prefix string) string {
	t.Helper()
	buf := make([]byte, 16)
	if _, err := rand.Read(buf); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(buf)
}

// mapEnv is a getenv over a fixed set of variables.
func mapEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// cliResult is what one in-process run of the reckon command produced.
type cliResult struct {
	stdout, stderr string
	err            error
}

// runCLI runs the reckon command in-process and returns its output.
func runCLI(ctx context.Context, getenv func(string) string, args ...string) cliResult {
	var stdout, stderr bytes.Buffer
	err := run(ctx, append([]string{"reckon"}, args...), getenv, strings.NewReader(""), &stdout, &stderr)
	return cliResult{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// mustCLI runs the reckon command and fails the test when it fails.
func mustCLI(t testing.TB, ctx context.Context, getenv func(string) string, args ...string) string {
	t.Helper()
	r := runCLI(ctx, getenv, args...)
	if r.err != nil {
		t.Fatalf("reckon %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// waitHealthy polls base/healthz until it answers 200. failed, when not
// nil, reports early that the server has stopped.
func waitHealthy(t testing.TB, client *http.Client, base string, failed func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if failed != nil {
			if err := failed(); err != nil {
				t.Fatalf("server stopped before it was healthy: %v", err)
			}
		}
		resp, err := client.Get(base + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				if strings.TrimSpace(string(body)) != `{"status":"ok"}` {
					t.Fatalf("/healthz body = %s", body)
				}
				return
			}
			last = fmt.Errorf("/healthz: %s", resp.Status)
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond) // polling a server that is starting; there is nothing to wait on
	}
	t.Fatalf("server at %s not healthy after 30s: %v", base, last)
}

// aggKey identifies one UsageAggregates row: the usage bucket's start, the
// meter and the instance's resourceUri.
type aggKey struct {
	usageStart  string
	meterID     string
	resourceURI string
}

func (k aggKey) String() string { return k.usageStart + " " + k.meterID + " " + k.resourceURI }

// aggregates reads every page of a UsageAggregates query (showDetails=true)
// and returns the quantity of each row, failing on a repeated row.
func aggregates(t testing.TB, client *http.Client, base, token, sub string, start, end time.Time, granularity string) map[aggKey]money.Quantity {
	t.Helper()
	q := url.Values{}
	q.Set("api-version", "2015-06-01-preview")
	q.Set("reportedStartTime", start.UTC().Format(time.RFC3339))
	q.Set("reportedEndTime", end.UTC().Format(time.RFC3339))
	q.Set("aggregationGranularity", granularity)
	q.Set("showDetails", "true")
	next := base + "/subscriptions/" + sub + "/providers/Microsoft.Commerce/UsageAggregates?" + q.Encode()
	out := map[aggKey]money.Quantity{}
	for pages := 0; next != ""; pages++ {
		if pages > 1000 {
			t.Fatal("UsageAggregates: more than 1000 pages")
		}
		req, err := http.NewRequest("GET", next, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s\n%s", next, resp.Status, body)
		}
		var page struct {
			Value []struct {
				Properties struct {
					SubscriptionID string      `json:"subscriptionId"`
					UsageStartTime string      `json:"usageStartTime"`
					MeterID        string      `json:"meterId"`
					InstanceData   string      `json:"instanceData"`
					Quantity       json.Number `json:"quantity"`
				} `json:"properties"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("UsageAggregates answer: %v\n%s", err, body)
		}
		for _, v := range page.Value {
			p := v.Properties
			if p.SubscriptionID != sub {
				t.Fatalf("row of subscription %q in a query for %q", p.SubscriptionID, sub)
			}
			var inst struct {
				Resources struct {
					ResourceURI string `json:"resourceUri"`
				} `json:"Microsoft.Resources"`
			}
			if p.InstanceData != "" {
				if err := json.Unmarshal([]byte(p.InstanceData), &inst); err != nil {
					t.Fatalf("instanceData %q: %v", p.InstanceData, err)
				}
			}
			qty, err := money.ParseQuantity(p.Quantity.String())
			if err != nil {
				t.Fatalf("quantity %q: %v", p.Quantity, err)
			}
			k := aggKey{usageStart: p.UsageStartTime, meterID: p.MeterID, resourceURI: inst.Resources.ResourceURI}
			if _, dup := out[k]; dup {
				t.Fatalf("UsageAggregates returned the row %s twice", k)
			}
			out[k] = qty
		}
		next = page.NextLink
	}
	return out
}

// compareAggregates fails the test unless got and want hold the same rows
// with the same quantities.
func compareAggregates(t testing.TB, what string, got, want map[aggKey]money.Quantity) {
	t.Helper()
	var keys []aggKey
	seen := map[aggKey]bool{}
	for k := range got {
		keys, seen[k] = append(keys, k), true
	}
	for k := range want {
		if !seen[k] {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
	bad := 0
	for _, k := range keys {
		g, gok := got[k]
		w, wok := want[k]
		if g != w || gok != wok {
			bad++
			if bad <= 10 {
				t.Errorf("%s: row %s: got %s (present %v), want %s (present %v)", what, k, g, gok, w, wok)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%s: %d of %d rows differ (got %d rows, want %d)", what, bad, len(keys), len(got), len(want))
	}
}

// addUsage adds a record (which must lie within one usage hour) to want,
// keyed by its daily usage bucket.
func addUsage(t testing.TB, want map[aggKey]money.Quantity, rec usage.RecordInput) {
	t.Helper()
	start, err := time.Parse(time.RFC3339, rec.UsageStartTime)
	if err != nil {
		t.Fatal(err)
	}
	q, err := money.ParseQuantity(string(rec.Quantity))
	if err != nil {
		t.Fatal(err)
	}
	day := start.UTC().Truncate(24 * time.Hour).Format(armTimeLayout)
	want[aggKey{usageStart: day, meterID: rec.MeterID, resourceURI: rec.ResourceURI}] += q
}

// ndjson encodes records as NDJSON.
func ndjson(t testing.TB, recs []usage.RecordInput) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range recs {
		if err := enc.Encode(&recs[i]); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// utcDay is midnight UTC, days after today's.
func utcDay(days int) time.Time {
	return time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, days)
}

// armTimeLayout is how UsageAggregates writes times: UTC as "+00:00".
const armTimeLayout = "2006-01-02T15:04:05-07:00"

// testOperatorID is the bootstrap operator of the servers the tests start.
const testOperatorID = "e2e-operator"

// operatorEnv returns an environment in which "reckon serve" bootstraps the
// operator testOperatorID and the CLI signs in as it, and its secret.
func operatorEnv(t testing.TB) (func(string) string, string) {
	t.Helper()
	secret := randomToken(t, "e2e-secret-")
	return mapEnv(map[string]string{
		"RECKON_BOOTSTRAP_CLIENT_ID": testOperatorID, "RECKON_BOOTSTRAP_CLIENT_SECRET": secret,
		"RECKON_CLIENT_ID": testOperatorID, "RECKON_CLIENT_SECRET": secret,
	}), secret
}

// signIn obtains a token of the operator from a running server.
func signIn(t testing.TB, client *http.Client, base, id, secret string) string {
	t.Helper()
	resp, err := client.PostForm(base+"/adfs/oauth2/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {id}, "client_secret": {secret}, "scope": {"https://management.core.windows.net//.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("sign in as %s: %d %v", id, resp.StatusCode, err)
	}
	return body.AccessToken
}
