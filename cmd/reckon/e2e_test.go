package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// servedReckon is "reckon serve" running in-process.
type servedReckon struct {
	base   string
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

// serveInProcess starts run(ctx, "reckon serve" args…) in a goroutine and
// waits until /healthz answers. The server is stopped at the end of the test.
func serveInProcess(t *testing.T, getenv func(string) string, client *http.Client, scheme string, args ...string) *servedReckon {
	t.Helper()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedReckon{base: scheme + "://" + addr, log: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	var stdout syncBuffer
	full := append([]string{"reckon", "serve", "--addr", addr}, args...)
	go func() { s.done <- run(ctx, full, getenv, strings.NewReader(""), &stdout, s.log) }()
	t.Cleanup(func() {
		if !s.ended {
			s.stop(t)
		}
	})
	waitHealthy(t, client, s.base, func() error {
		select {
		case err := <-s.done:
			s.ended, s.err = true, err
			return fmt.Errorf("run returned %v; log:\n%s", err, s.log.String())
		default:
			return nil
		}
	})
	return s
}

// stop cancels the server's context (as SIGTERM does) and returns what run
// returned.
func (s *servedReckon) stop(t *testing.T) error {
	t.Helper()
	err, ok := s.shutdown()
	if !ok {
		t.Fatalf("serve did not return within 60s of cancellation; log:\n%s", s.log.String())
	}
	return err
}

// shutdown is stop for use outside the test's goroutine: ok is false when
// run did not return within 60 seconds.
func (s *servedReckon) shutdown() (err error, ok bool) {
	if s.ended {
		return s.err, true
	}
	s.cancel()
	select {
	case s.err = <-s.done:
		s.ended = true
		return s.err, true
	case <-time.After(60 * time.Second):
		return nil, false
	}
}

// e2eRecords are n usage records of sub for two meters and three virtual
// machines, with usage on day-1 and reported at explicit times on day.
func e2eRecords(prefix, sub string, meters [2]string, day time.Time, n int) []usage.RecordInput {
	recs := make([]usage.RecordInput, n)
	for i := range recs {
		start := day.AddDate(0, 0, -1).Add(time.Duration(10+i%5) * time.Hour).Add(time.Duration(i%4) * 10 * time.Minute)
		recs[i] = usage.RecordInput{
			ID:             fmt.Sprintf("%s-%03d", prefix, i),
			SubscriptionID: sub,
			MeterID:        meters[i%2],
			Quantity:       json.RawMessage(fmt.Sprintf("%d.%03d", i+1, (i*7)%1000)),
			UsageStartTime: start.Format(time.RFC3339),
			UsageEndTime:   start.Add(15 * time.Minute).Format(time.RFC3339),
			ResourceURI:    fmt.Sprintf("/subscriptions/%s/resourceGroups/e2e/providers/Microsoft.Compute/virtualMachines/vm-%d", sub, i%3),
			Location:       "westeurope",
			ReportedTime:   day.Add(time.Hour + time.Duration(i)*time.Minute).Format(time.RFC3339),
		}
	}
	return recs
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestServeAndIngest drives the reckon binary's code end to end on each
// store: serve, subscription and meter put, ingest through the server
// (batched, replayed, with rejections), UsageAggregates totals, metrics, the
// redacted configuration log, graceful shutdown, then ingest --direct into
// the stopped server's store and a restart that serves all of it.
func TestServeAndIngest(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		ctx := context.Background()
		getenv, secret := operatorEnv(t)
		dataDir := t.TempDir()
		storeArgs := []string{"--data-dir", dataDir}
		if b == reckontest.Postgres {
			storeArgs = append(storeArgs, "--db", reckontest.DSN(t, b))
		}
		client := &http.Client{Timeout: 30 * time.Second}
		srv := serveInProcess(t, getenv, client, "http", storeArgs...)

		// The configuration is logged, with the operator token redacted.
		log := srv.log.String()
		var configLine string
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "msg=configuration") {
				configLine = line
			}
		}
		if configLine == "" {
			t.Fatalf("no configuration line in the start-up log:\n%s", log)
		}
		if !strings.Contains(configLine, `bootstrapClientSecret="(set, redacted)"`) {
			t.Errorf("configuration line does not say the bootstrap secret is set and redacted: %s", configLine)
		}
		if strings.Contains(log, secret) {
			t.Errorf("the start-up log contains the operator's secret:\n%s", log)
		}
		token := signIn(t, client, srv.base, testOperatorID, secret)

		sub := "7c0d9d3e-5b4a-4f7e-9a53-1f6a2b8c4d01"
		meters := [2]string{"a3f1c2d4-1111-4e5f-8a9b-0c1d2e3f4a5b", "b4e2d3c5-2222-4f60-9bac-1d2e3f405b6c"}
		out := mustCLI(t, ctx, getenv, "subscription", "put", "--server", srv.base, "--token", token,
			"--json", `{"displayName":"End to end","billingAccount":"e2e-account"}`, sub)
		var gotSub struct{ SubscriptionID, State, Currency string }
		if err := json.Unmarshal([]byte(out), &gotSub); err != nil {
			t.Fatalf("subscription put output: %v\n%s", err, out)
		}
		if gotSub.SubscriptionID != sub || gotSub.State != "Enabled" || gotSub.Currency != "USD" {
			t.Fatalf("subscription put returned %+v", gotSub)
		}
		for i, m := range meters {
			// No --token: the client signs in with RECKON_CLIENT_ID and _SECRET.
			out := mustCLI(t, ctx, getenv, "meter", "put", "--server", srv.base,
				"--json", fmt.Sprintf(`{"meterName":"E2E meter %d","meterCategory":"Virtual Machines","unit":"1 Hour"}`, i), m)
			var gotMeter struct{ MeterID, MeterStatus string }
			if err := json.Unmarshal([]byte(out), &gotMeter); err != nil || gotMeter.MeterID != m || gotMeter.MeterStatus != "Active" {
				t.Fatalf("meter put: %v %+v\n%s", err, gotMeter, out)
			}
		}
		if r := runCLI(ctx, mapEnv(nil), "meter", "list", "--server", srv.base, "--token", "wrong-token"); r.err == nil || !strings.Contains(r.err.Error(), "401 InvalidAuthenticationToken") {
			t.Errorf("meter list with a wrong token: err = %v, want 401 InvalidAuthenticationToken", r.err)
		}

		// Ingest 61 records in batches of 16 (4 requests), one of which
		// spans midnight and is split between two days.
		day := utcDay(-3)
		recs := e2eRecords("e2e", sub, meters, day, 60)
		span := usage.RecordInput{
			ID: "e2e-span", SubscriptionID: sub, MeterID: meters[0], Quantity: json.RawMessage("2.5"),
			UsageStartTime: day.Add(-30 * time.Minute).Format(time.RFC3339), UsageEndTime: day.Add(30 * time.Minute).Format(time.RFC3339),
			ResourceURI: recs[0].ResourceURI, Location: recs[0].Location,
			ReportedTime: day.Add(2 * time.Hour).Format(time.RFC3339),
		}
		file := writeFile(t, "usage.ndjson", ndjson(t, append(recs, span)))
		out = mustCLI(t, ctx, getenv, "ingest", "--server", srv.base, "--token", token, "--batch", "16", file)
		if want := "records: 61, accepted: 61, duplicates: 0, rejected: 0\n"; out != want {
			t.Fatalf("ingest printed %q, want %q", out, want)
		}
		out = mustCLI(t, ctx, getenv, "ingest", "--server", srv.base, "--token", token, "--batch", "16", file)
		if want := "records: 61, accepted: 0, duplicates: 61, rejected: 0\n"; out != want {
			t.Fatalf("replayed ingest printed %q, want %q", out, want)
		}
		// A record reusing an id with other content, and a negative quantity.
		conflict := recs[5]
		conflict.Quantity = json.RawMessage("999")
		negative := recs[6]
		negative.ID, negative.Quantity = "e2e-negative", json.RawMessage("-1")
		bad := runCLI(ctx, getenv, "ingest", "--server", srv.base, "--token", token,
			writeFile(t, "bad.ndjson", ndjson(t, []usage.RecordInput{conflict, negative})))
		var ee exitError
		if !errors.As(bad.err, &ee) || ee != 1 {
			t.Errorf("ingest of rejected records returned %v, want exit status 1", bad.err)
		}
		if !strings.HasPrefix(bad.stdout, "records: 2, accepted: 0, duplicates: 0, rejected: 2\n") ||
			!strings.Contains(bad.stdout, `record 0 (id "e2e-005"): Conflict:`) ||
			!strings.Contains(bad.stdout, `record 1 (id "e2e-negative"): NegativeQuantity:`) {
			t.Errorf("ingest of rejected records printed:\n%s", bad.stdout)
		}

		want := map[aggKey]money.Quantity{}
		for _, r := range recs {
			addUsage(t, want, r)
		}
		half := money.Quantity(1_250_000_000)
		want[aggKey{day.AddDate(0, 0, -1).Format(armTimeLayout), meters[0], span.ResourceURI}] += half
		want[aggKey{day.Format(armTimeLayout), meters[0], span.ResourceURI}] = half
		if len(want) != 7 { // 2 meters × 3 VMs on day-1 (meter i%2, VM i%3 cover all 6), plus the span's second day
			t.Fatalf("test data: %d expected rows, want 7", len(want))
		}
		got := aggregates(t, client, srv.base, token, sub, day, day.AddDate(0, 0, 1), "Daily")
		compareAggregates(t, "UsageAggregates after ingest", got, want)
		// The window before holds nothing: records are selected by reported time.
		if got := aggregates(t, client, srv.base, token, sub, day.AddDate(0, 0, -1), day, "Daily"); len(got) != 0 {
			t.Errorf("the day before the reported times has %d rows, want 0", len(got))
		}

		// Metrics count the records and time the requests.
		resp, err := client.Get(srv.base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range []string{
			`reckon_ingest_records_total{outcome="accepted"} 61`,
			`reckon_ingest_records_total{outcome="duplicate"} 61`,
			`reckon_ingest_records_total{outcome="rejected"} 2`,
			`reckon_ingest_rejected_records_total{code="Conflict"} 1`,
			// 4 + 4 batches of the file and its replay, and the rejected request.
			`reckon_http_request_duration_seconds_count{method="POST",route="POST /metering/v1/usage",status="200"} 9`,
		} {
			if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(line) + `$`).Match(metrics) {
				t.Errorf("/metrics lacks the line %s", line)
			}
		}
		if !strings.Contains(string(metrics), `reckon_http_request_duration_seconds_bucket{method="GET",route="/subscriptions/{subscriptionId}/providers/Microsoft.Commerce/UsageAggregates",status="200",le="+Inf"}`) {
			t.Errorf("/metrics has no UsageAggregates latency histogram:\n%s", grepLines(string(metrics), "reckon_http_request_duration_seconds_count"))
		}

		// Graceful shutdown: cancelling the context makes run return nil.
		if err := srv.stop(t); err != nil {
			t.Fatalf("serve returned %v after cancellation; log:\n%s", err, srv.log.String())
		}
		if !strings.Contains(srv.log.String(), "msg=stopped") {
			t.Errorf("no 'stopped' line in the log:\n%s", srv.log.String())
		}

		// ingest --direct writes into the stopped server's store.
		more := e2eRecords("direct", sub, meters, day, 10)
		direct := append([]string{"ingest", "--direct", "--quiet"}, storeArgs...)
		out = mustCLI(t, ctx, getenv, append(direct, writeFile(t, "more.ndjson", ndjson(t, more)))...)
		if want := "records: 10, accepted: 10, duplicates: 0, rejected: 0\n"; out != want {
			t.Fatalf("ingest --direct printed %q, want %q", out, want)
		}
		out = mustCLI(t, ctx, getenv, append(direct, file)...)
		if want := "records: 61, accepted: 0, duplicates: 61, rejected: 0\n"; out != want {
			t.Fatalf("ingest --direct of records sent through the server printed %q, want %q", out, want)
		}
		for _, r := range more {
			addUsage(t, want, r)
		}

		// A restarted server serves everything.
		srv = serveInProcess(t, getenv, client, "http", storeArgs...)
		got = aggregates(t, client, srv.base, token, sub, day, day.AddDate(0, 0, 1), "Daily")
		compareAggregates(t, "UsageAggregates after ingest --direct and a restart", got, want)
		if err := srv.stop(t); err != nil {
			t.Fatalf("serve returned %v after cancellation", err)
		}
	})
}

// TestFlagsAfterArguments checks the documented command forms, whose flags
// follow the positional argument: "reckon subscription put ID --json … --server
// URL --token T" and "reckon ingest FILE --server URL --token T".
func TestFlagsAfterArguments(t *testing.T) {
	ctx := context.Background()
	getenv, secret := operatorEnv(t)
	client := &http.Client{Timeout: 30 * time.Second}
	srv := serveInProcess(t, getenv, client, "http", "--data-dir", t.TempDir())
	token := signIn(t, client, srv.base, testOperatorID, secret)
	sub := "0d5f1e2a-3b4c-4d5e-8f60-718293a4b5c6"
	meter := "1e6a2f3b-4c5d-4e6f-9071-8293a4b5c6d7"
	mustCLI(t, ctx, getenv, "subscription", "put", sub, "--json", `{"displayName":"Flags","billingAccount":"flags"}`, "--server", srv.base, "--token", token)
	mustCLI(t, ctx, getenv, "meter", "put", meter, "--json", `{"meterName":"M","meterCategory":"C","unit":"1"}`, "--server", srv.base, "--token", token)
	out := mustCLI(t, ctx, getenv, "subscription", "get", sub, "--server", srv.base, "--token", token)
	if !strings.Contains(out, `"displayName": "Flags"`) {
		t.Errorf("subscription get printed %s", out)
	}
	recs := e2eRecords("flags", sub, [2]string{meter, meter}, utcDay(-3), 3)
	file := writeFile(t, "usage.ndjson", ndjson(t, recs))
	out = mustCLI(t, ctx, getenv, "ingest", file, "--server", srv.base, "--token", token)
	if want := "records: 3, accepted: 3, duplicates: 0, rejected: 0\n"; out != want {
		t.Errorf("ingest FILE --server … printed %q, want %q", out, want)
	}
	// "--" ends the flags: what follows is an argument even if it looks like a flag.
	if r := runCLI(ctx, getenv, "ingest", "--server", srv.base, "--", "--no-such-file"); r.err == nil || !strings.Contains(r.err.Error(), "--no-such-file") {
		t.Errorf("ingest -- --no-such-file: err = %v, want an error opening the file", r.err)
	}
	if err := srv.stop(t); err != nil {
		t.Fatal(err)
	}
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestVersion checks "reckon version", with and without a version set at
// build time.
func TestVersion(t *testing.T) {
	r := runCLI(context.Background(), mapEnv(nil), "version")
	if r.err != nil || !regexp.MustCompile(`^reckon (dev|dev-[0-9a-f]{12}|v\S+)\n$`).MatchString(r.stdout) {
		t.Errorf("reckon version: %v, %q", r.err, r.stdout)
	}
	old := version
	version = "v1.2.3"
	defer func() { version = old }()
	if r := runCLI(context.Background(), mapEnv(nil), "version"); r.err != nil || r.stdout != "reckon v1.2.3\n" {
		t.Errorf("reckon version with -X main.version=v1.2.3: %v, %q", r.err, r.stdout)
	}
}

// TestTLSSelfSigned serves HTTPS with the development certificate: a client
// trusting <data-dir>/tls/cert.pem reaches the server, one that does not is
// refused, and a restart keeps the certificate.
func TestTLSSelfSigned(t *testing.T) {
	getenv, _ := operatorEnv(t)
	dataDir := t.TempDir()
	certPath := filepath.Join(dataDir, "tls", "cert.pem")

	// The certificate is written before the server listens, so once the
	// trusting client is built the poll only waits for the listener.
	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &lazyTrustTransport{certPath: certPath}}
	srv := serveInProcess(t, getenv, trusting, "https", "--data-dir", dataDir, "--tls-self-signed")

	if !strings.HasPrefix(srv.base, "https://127.0.0.1:") {
		t.Fatalf("base URL %s", srv.base)
	}
	if !strings.Contains(srv.log.String(), "msg=\"development certificate\" file="+certPath) {
		t.Errorf("the log does not name the development certificate %s:\n%s", certPath, srv.log.String())
	}
	pemBytes, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		t.Fatalf("%s holds no PEM block", certPath)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	hasLoopback := false
	for _, ip := range cert.IPAddresses {
		hasLoopback = hasLoopback || ip.Equal(net.IPv4(127, 0, 0, 1))
	}
	if !hasLoopback || !contains(cert.DNSNames, "localhost") {
		t.Errorf("certificate names %v %v, want localhost and 127.0.0.1", cert.DNSNames, cert.IPAddresses)
	}

	// A client that does not trust the certificate is refused.
	_, err = (&http.Client{Timeout: 10 * time.Second}).Get(srv.base + "/healthz")
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("GET /healthz without trusting the certificate: err = %v, want x509.UnknownAuthorityError", err)
	}
	// The CLI trusts it with --cacert.
	out := mustCLI(t, context.Background(), getenv, "subscription", "list", "--server", srv.base, "--cacert", certPath)
	var list struct{ Value []json.RawMessage }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Value) != 0 {
		t.Errorf("subscription list over HTTPS printed %q (%v)", out, err)
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve returned %v", err)
	}

	// A restart reuses the certificate, so clients' trust survives it.
	srv = serveInProcess(t, getenv, trusting, "https", "--data-dir", dataDir, "--tls-self-signed")
	again, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(pemBytes) {
		t.Error("the restarted server made a new certificate instead of reusing it")
	}
	if err := srv.stop(t); err != nil {
		t.Fatalf("serve returned %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// lazyTrustTransport trusts the certificate in certPath, read at each
// request until it exists (the server writes it when it starts).
type lazyTrustTransport struct {
	certPath string
	tr       *http.Transport
}

func (l *lazyTrustTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if l.tr == nil {
		pemBytes, err := os.ReadFile(l.certPath)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("%s holds no certificate", l.certPath)
		}
		l.tr = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	return l.tr.RoundTrip(r)
}

// TestGracefulShutdownFinishesIngest cancels the server (as SIGTERM does)
// while an ingest request is being received, and checks that the request is
// still answered with every record accepted, that run returns nil, and that
// the records are in the store afterwards.
func TestGracefulShutdownFinishesIngest(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		ctx := context.Background()
		getenv, secret := operatorEnv(t)
		storeArgs := []string{"--data-dir", t.TempDir()}
		if b == reckontest.Postgres {
			storeArgs = append(storeArgs, "--db", reckontest.DSN(t, b))
		}
		client := &http.Client{Timeout: 30 * time.Second}
		srv := serveInProcess(t, getenv, client, "http", storeArgs...)
		token := signIn(t, client, srv.base, testOperatorID, secret)
		sub := "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
		meters := [2]string{"3b4c5d6e-7f80-4b9c-8d1e-2f3a4b5c6d7e", "4c5d6e7f-8091-4cad-9e2f-3a4b5c6d7e8f"}
		mustCLI(t, ctx, getenv, "subscription", "put", "--server", srv.base, "--json", `{"displayName":"Shutdown","billingAccount":"shutdown"}`, sub)
		for _, m := range meters {
			mustCLI(t, ctx, getenv, "meter", "put", "--server", srv.base, "--json", `{"meterName":"M","meterCategory":"C","unit":"1"}`, m)
		}
		day := utcDay(-3)
		recs := e2eRecords("shutdown", sub, meters, day, 400)
		body := ndjson(t, recs)

		// With "Expect: 100-continue" the server says when the handler
		// starts reading the body; the body is then held back until the
		// shutdown has begun.
		pr, pw := io.Pipe()
		req, err := http.NewRequest("POST", srv.base+"/metering/v1/usage", pr)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Expect", "100-continue")
		req.ContentLength = int64(len(body))
		continued := make(chan struct{})
		req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			Got100Continue: func() { close(continued) },
		}))
		slow := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{ExpectContinueTimeout: 30 * time.Second}}
		type answer struct {
			status int
			body   []byte
			err    error
		}
		answered := make(chan answer, 1)
		go func() {
			resp, err := slow.Do(req)
			if err != nil {
				answered <- answer{err: err}
				return
			}
			data, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			answered <- answer{resp.StatusCode, data, err}
		}()
		select {
		case <-continued:
		case a := <-answered:
			t.Fatalf("the server answered before reading the body: %d %s %v", a.status, a.body, a.err)
		case <-time.After(30 * time.Second):
			t.Fatal("no 100 Continue within 30s")
		}
		half := len(body) / 2
		if _, err := pw.Write(body[:half]); err != nil {
			t.Fatal(err)
		}
		stopped := make(chan error, 1)
		go func() {
			err, ok := srv.shutdown()
			if !ok {
				err = errors.New("serve did not return within 60s of cancellation")
			}
			stopped <- err
		}()
		// The shutdown has begun once the listener refuses new connections.
		addr := strings.TrimPrefix(srv.base, "http://")
		for deadline := time.Now().Add(30 * time.Second); ; {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				break
			}
			c.Close()
			if time.Now().After(deadline) {
				t.Fatal("the server still accepts connections 30s after cancellation")
			}
			time.Sleep(10 * time.Millisecond) // polling for the listener to close
		}
		select {
		case err := <-stopped:
			t.Fatalf("serve returned (%v) while a request was still being received", err)
		default:
		}
		if _, err := pw.Write(body[half:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		a := <-answered
		if a.err != nil || a.status != http.StatusOK {
			t.Fatalf("in-flight ingest during shutdown: %d %s %v", a.status, a.body, a.err)
		}
		var res usage.Result
		if err := json.Unmarshal(a.body, &res); err != nil || res.Accepted != len(recs) || res.Duplicates != 0 || len(res.Rejected) != 0 {
			t.Fatalf("in-flight ingest during shutdown answered %s (%v), want %d accepted", a.body, err, len(recs))
		}
		select {
		case err := <-stopped:
			if err != nil {
				t.Fatalf("serve returned %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("serve did not return")
		}

		// The records are in the store: a direct replay finds them all.
		out := mustCLI(t, ctx, getenv, append(append([]string{"ingest", "--direct", "--quiet"}, storeArgs...), writeFile(t, "u.ndjson", body))...)
		if want := fmt.Sprintf("records: %d, accepted: 0, duplicates: %d, rejected: 0\n", len(recs), len(recs)); out != want {
			t.Fatalf("replay after shutdown printed %q, want %q", out, want)
		}
	})
}
