package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/natsingest"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// The NATS tests run a real nats-server (built from the module pinned in
// go.mod, as its own process, with JetStream on disk) and the real reckon
// binary, on each backend.

const (
	natsStream     = "RECKON_USAGE"
	natsDurable    = "reckon-ingest"
	natsDeadLetter = "reckon.usage.rejected"
	natsSubject    = "reckon.usage.test"
	// natsAckWait is the serve flag of the tests: messages a killed Reckon
	// had fetched come back after it.
	natsAckWait = 4 * time.Second
)

// buildNATSServer builds nats-server from the module version go.mod pins
// (the tool directive) into dir.
func buildNATSServer(t *testing.T, dir string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build nats-server: %v", err)
	}
	bin := filepath.Join(dir, "nats-server")
	cmd := exec.Command(goTool, "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build nats-server: %v\n%s", err, out)
	}
	return bin
}

// natsEnv is a nats-server and a reckon serve --ingest-nats, both child
// processes, on one backend.
type natsEnv struct {
	t                 *testing.T
	natsBin, reckon   string
	dir               string
	natsArgs          []string
	natsURL           string
	natsLog, reckLog  string
	natsProc, srvProc *reckonProcess
	reckonArgs        []string
	reckonEnv         []string
	base              string
	client            *http.Client
	getenv            func(string) string
	dsn               string
	db                *store.DB
	nc                *nats.Conn
	js                jetstream.JetStream
}

// TestNATSIngest is the NATS JetStream ingestion path end to end: records
// published with reckon publish are ingested exactly once, through a
// republish, dead letters, a NATS server restart and a Reckon crash.
func TestNATSIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and reckon and runs them as processes; skipped with -short")
	}
	bins := t.TempDir()
	var natsBin string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the two builds overlap
		defer wg.Done()
		natsBin = buildNATSServer(t, bins)
	}()
	reckonBin := buildReckon(t)
	wg.Wait()
	if t.Failed() {
		return
	}
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := startNATSEnv(t, natsBin, reckonBin, b)
		t.Run("ExactlyOnce", e.testExactlyOnce)
		t.Run("PublishedTwice", e.testPublishedTwice)
		t.Run("DeadLetters", e.testDeadLetters)
		t.Run("NATSRestart", e.testNATSRestart)
		t.Run("ReckonKilled", e.testReckonKilled)
		t.Run("GracefulStop", e.testGracefulStop)
	})
}

func startNATSEnv(t *testing.T, natsBin, reckonBin string, backend reckontest.Backend) *natsEnv {
	dir := t.TempDir()
	e := &natsEnv{t: t, natsBin: natsBin, reckon: reckonBin, dir: dir,
		natsLog: filepath.Join(dir, "nats.log"), reckLog: filepath.Join(dir, "reckon.log"),
		client: &http.Client{Timeout: 60 * time.Second}}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1:")
	e.natsURL = "nats://127.0.0.1:" + port
	e.natsArgs = []string{"-js", "-sd", filepath.Join(dir, "jetstream"), "-a", "127.0.0.1", "-p", port}
	t.Cleanup(func() {
		if e.nc != nil {
			e.nc.Close()
		}
		if e.srvProc != nil {
			e.srvProc.kill()
		}
		if e.natsProc != nil {
			e.natsProc.kill()
		}
		if t.Failed() {
			for _, p := range []string{e.reckLog, e.natsLog} {
				if log, err := os.ReadFile(p); err == nil {
					if len(log) > 6000 {
						log = log[len(log)-6000:]
					}
					t.Logf("%s (end):\n%s", filepath.Base(p), log)
				}
			}
		}
	})
	e.startNATS()

	getenv, secret := operatorEnv(t)
	e.getenv = getenv
	e.reckonEnv = []string{"RECKON_BOOTSTRAP_CLIENT_ID=" + testOperatorID, "RECKON_BOOTSTRAP_CLIENT_SECRET=" + secret}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECKON_") {
			e.reckonEnv = append(e.reckonEnv, kv)
		}
	}
	addr := freeAddr(t)
	e.base = "http://" + addr
	e.reckonArgs = []string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "info",
		"--ingest-nats", e.natsURL, "--ingest-nats-ack-wait", natsAckWait.String()}
	e.dsn = "sqlite:" + filepath.Join(dir, "data", "reckon.db")
	if backend == reckontest.Postgres {
		e.dsn = reckontest.DSN(t, backend)
		e.reckonArgs = append(e.reckonArgs, "--db", e.dsn)
	}
	e.startReckon()

	// The test's own view of the store (a second process on the same
	// SQLite file is supported) and of NATS.
	db, err := store.Open(context.Background(), e.dsn, filepath.Join(dir, "data"), store.Options{SQLiteCacheMiB: 8, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	e.nc, err = nats.Connect(e.natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if e.js, err = jetstream.New(e.nc); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *natsEnv) startNATS() {
	e.t.Helper()
	e.natsProc = startReckon(e.t, e.natsBin, e.natsLog, os.Environ(), e.natsArgs...)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := e.natsProc.exited(); err != nil {
			e.t.Fatalf("nats-server: %v", err)
		}
		nc, err := nats.Connect(e.natsURL, nats.Timeout(time.Second))
		if err == nil {
			nc.Close()
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("nats-server not ready after 20s: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling a process that is starting
	}
}

func (e *natsEnv) startReckon() {
	e.t.Helper()
	e.srvProc = startReckon(e.t, e.reckon, e.reckLog, e.reckonEnv, e.reckonArgs...)
	waitHealthy(e.t, e.client, e.base, e.srvProc.exited)
}

// subscription creates a subscription and two meters.
func (e *natsEnv) subscription(t *testing.T, sub string, meters [2]string) {
	t.Helper()
	ctx := context.Background()
	mustCLI(t, ctx, e.getenv, "subscription", "put", "--server", e.base, "--json", `{"displayName":"NATS test","billingAccount":"nats"}`, sub)
	for i, m := range meters {
		mustCLI(t, ctx, e.getenv, "meter", "put", "--server", e.base,
			"--json", fmt.Sprintf(`{"meterName":"NATS meter %d","meterCategory":"Test","unit":"1"}`, i), m)
	}
}

// natsRecords generates n valid records of sub, with ids prefix-<i>, in
// yesterday's hours, each with a distinct positive quantity.
func natsRecords(prefix, sub string, meters [2]string, n int) []usage.RecordInput {
	day := utcDay(-1)
	recs := make([]usage.RecordInput, n)
	for i := range recs {
		start := day.Add(time.Duration(i%24)*time.Hour + time.Duration(i%5)*10*time.Minute)
		recs[i] = usage.RecordInput{
			ID:             fmt.Sprintf("%s-%06d", prefix, i),
			SubscriptionID: sub,
			MeterID:        meters[(i/7)%2],
			Quantity:       json.RawMessage(fmt.Sprintf(`%d.%06d`, 1+i%13, (i*7919)%1_000_000)),
			UsageStartTime: start.Format(time.RFC3339),
			UsageEndTime:   start.Add(10 * time.Minute).Format(time.RFC3339),
			ResourceURI:    fmt.Sprintf("/subscriptions/%s/resourceGroups/nats/providers/Microsoft.Compute/virtualMachines/vm-%d", sub, i%3),
		}
	}
	return recs
}

func wantOf(t testing.TB, recs []usage.RecordInput) map[aggKey]money.Quantity {
	want := map[aggKey]money.Quantity{}
	for _, r := range recs {
		addUsage(t, want, r)
	}
	return want
}

var publishedRE = regexp.MustCompile(`^published (\d+) records in (\d+) messages .*; (\d+) messages \((\d+) records\) were already in the stream`)

// publishResult is what reckon publish printed.
type publishResult struct{ records, messages, dupMessages, dupRecords int }

// publish runs "reckon publish" in-process.
func (e *natsEnv) publish(t *testing.T, file string, batch int) publishResult {
	t.Helper()
	out := mustCLI(t, context.Background(), e.getenv, "publish", "--nats", e.natsURL, "--subject", natsSubject,
		"--batch", strconv.Itoa(batch), file)
	m := publishedRE.FindStringSubmatch(strings.TrimSpace(out))
	if m == nil {
		t.Fatalf("reckon publish printed %q", out)
	}
	var r publishResult
	r.records, _ = strconv.Atoi(m[1])
	r.messages, _ = strconv.Atoi(m[2])
	r.dupMessages, _ = strconv.Atoi(m[3])
	r.dupRecords, _ = strconv.Atoi(m[4])
	return r
}

// consumerState returns the consumer's info and the stream's last sequence.
func (e *natsEnv) consumerState(ctx context.Context) (*jetstream.ConsumerInfo, uint64, error) {
	s, err := e.js.Stream(ctx, natsStream)
	if err != nil {
		return nil, 0, err
	}
	si, err := s.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	c, err := s.Consumer(ctx, natsDurable)
	if err != nil {
		return nil, 0, err
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return nil, 0, err
	}
	return ci, si.State.LastSeq, nil
}

// waitDrained waits until Reckon has acknowledged every message of the
// stream: it acknowledges only after the commit, so the store then holds
// every record.
func (e *natsEnv) waitDrained(t *testing.T, timeout time.Duration) *jetstream.ConsumerInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		if err := e.srvProc.exited(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		ci, lastSeq, err := e.consumerState(ctx)
		cancel()
		if err == nil {
			if ci.NumPending == 0 && ci.NumAckPending == 0 && ci.AckFloor.Stream >= lastSeq {
				return ci
			}
			last = fmt.Sprintf("pending %d, ack pending %d, ack floor %d of %d", ci.NumPending, ci.NumAckPending, ci.AckFloor.Stream, lastSeq)
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer did not drain the stream in %v: %s", timeout, last)
		}
		time.Sleep(20 * time.Millisecond) // polling the consumer's state; NATS has no event for "all acknowledged"
	}
}

// storeTotals aggregates what the store holds for sub, by usage day, meter
// and resource, over every reported time of the test.
func (e *natsEnv) storeTotals(t *testing.T, sub string) map[aggKey]money.Quantity {
	t.Helper()
	later := func() time.Time { return time.Now().Add(72 * time.Hour) } // every window of the test is settled
	svc := usage.NewService(e.db, later, slog.New(slog.DiscardHandler), usage.Config{})
	defer svc.Close()
	q := usage.Query{SubscriptionID: sub, ReportedStart: utcDay(-1), ReportedEnd: utcDay(2), Granularity: usage.Daily, ShowDetails: true}
	out := map[aggKey]money.Quantity{}
	for {
		page, err := svc.Aggregate(context.Background(), q)
		if err != nil {
			t.Fatalf("aggregate: %v", err)
		}
		for _, r := range page.Rows {
			var inst struct {
				Resources struct {
					ResourceURI string `json:"resourceUri"`
				} `json:"Microsoft.Resources"`
			}
			if r.InstanceData != "" {
				if err := json.Unmarshal([]byte(r.InstanceData), &inst); err != nil {
					t.Fatal(err)
				}
			}
			qty, err := money.ParseQuantity(r.Quantity.String())
			if err != nil {
				t.Fatalf("quantity %q: %v", r.Quantity.String(), err)
			}
			k := aggKey{usageStart: r.UsageStart.UTC().Format(armTimeLayout), meterID: r.Meter.MeterID, resourceURI: inst.Resources.ResourceURI}
			out[k] += qty
		}
		if page.Next == nil {
			return out
		}
		q.After = page.Next
	}
}

// ingestMetric reads reckon_ingest_records_total{outcome} from /metrics.
func (e *natsEnv) ingestMetric(t *testing.T, outcome string) int64 {
	t.Helper()
	resp, err := e.client.Get(e.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	want := `reckon_ingest_records_total{outcome="` + outcome + `"} `
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
	}
	return 0
}

func (e *natsEnv) testExactlyOnce(t *testing.T) {
	sub := "7a1c0000-0000-4000-8000-000000000001"
	meters := [2]string{"7a1c0000-0000-4000-8000-0000000000a1", "7a1c0000-0000-4000-8000-0000000000a2"}
	e.subscription(t, sub, meters)
	recs := natsRecords("once", sub, meters, 20_000)
	file := writeFile(t, "records.ndjson", ndjson(t, recs))
	start := time.Now()
	r := e.publish(t, file, 500)
	if r.records != 20_000 || r.messages != 40 || r.dupMessages != 0 {
		t.Fatalf("publish: %+v, want 20000 records in 40 messages, none already stored", r)
	}
	e.waitDrained(t, 30*time.Second)
	t.Logf("20000 records published and ingested in %v", time.Since(start).Round(time.Millisecond))
	compareAggregates(t, "store after one publish", e.storeTotals(t, sub), wantOf(t, recs))
}

func (e *natsEnv) testPublishedTwice(t *testing.T) {
	sub := "7a1c0000-0000-4000-8000-000000000002"
	meters := [2]string{"7a1c0000-0000-4000-8000-0000000000b1", "7a1c0000-0000-4000-8000-0000000000b2"}
	e.subscription(t, sub, meters)
	recs := natsRecords("twice", sub, meters, 5_000)
	// A JSON array this time: reckon publish reads both forms.
	data, err := json.Marshal(recs)
	if err != nil {
		t.Fatal(err)
	}
	file := writeFile(t, "records.json", data)
	dup0 := e.ingestMetric(t, "duplicate")
	if r := e.publish(t, file, 500); r.records != 5000 || r.messages != 10 || r.dupMessages != 0 {
		t.Fatalf("first publish: %+v", r)
	}
	// The same messages again: JetStream drops them by Nats-Msg-Id.
	if r := e.publish(t, file, 500); r.records != 5000 || r.dupMessages != 10 || r.dupRecords != 5000 {
		t.Fatalf("second publish: %+v, want all 10 messages already in the stream", r)
	}
	// Other message boundaries: new messages, so Reckon receives every
	// record a second time and must find each a duplicate.
	if r := e.publish(t, file, 333); r.records != 5000 || r.messages != 16 || r.dupMessages != 0 {
		t.Fatalf("third publish: %+v, want 16 new messages", r)
	}
	e.waitDrained(t, 30*time.Second)
	compareAggregates(t, "store after publishing the file three times", e.storeTotals(t, sub), wantOf(t, recs))
	if got := e.ingestMetric(t, "duplicate") - dup0; got != 5000 {
		t.Fatalf("reckon_ingest_records_total{outcome=duplicate} grew by %d, want 5000 (each record delivered once more)", got)
	}
}

func (e *natsEnv) testDeadLetters(t *testing.T) {
	sub := "7a1c0000-0000-4000-8000-000000000003"
	meters := [2]string{"7a1c0000-0000-4000-8000-0000000000c1", "7a1c0000-0000-4000-8000-0000000000c2"}
	e.subscription(t, sub, meters)
	valid := natsRecords("dl", sub, meters, 1_000)
	// Invalid records, each with the code the HTTP endpoint answers.
	bad := []struct {
		id, code, line string
	}{
		{"dl-bad-negative", usage.CodeNegativeQuantity, ""},
		{"dl-bad-meter", usage.CodeMeterNotFound, ""},
		{"dl-bad-reported", usage.CodeReportedTimeNotAllowed, ""},
		{"dl-bad-property", usage.CodeUnknownProperty, ""},
		{"dl-bad-sub", usage.CodeSubscriptionNotFound, ""},
		{"dl-000007", usage.CodeConflict, ""}, // id of a valid record, other content
	}
	mk := func(id string, edit func(m map[string]any)) string {
		r := natsRecords("x", sub, meters, 1)[0]
		b, _ := json.Marshal(r)
		var m map[string]any
		json.Unmarshal(b, &m)
		m["id"] = id
		edit(m)
		out, _ := json.Marshal(m)
		return string(out)
	}
	bad[0].line = mk(bad[0].id, func(m map[string]any) { m["quantity"] = "-1" })
	bad[1].line = mk(bad[1].id, func(m map[string]any) { m["meterId"] = "7a1c0000-0000-4000-8000-0000000000ff" })
	bad[2].line = mk(bad[2].id, func(m map[string]any) { m["reportedTime"] = utcDay(-1).Format(time.RFC3339) })
	bad[3].line = mk(bad[3].id, func(m map[string]any) { m["colour"] = "blue" })
	bad[4].line = mk(bad[4].id, func(m map[string]any) { m["subscriptionId"] = "7a1c0000-0000-4000-8000-0000000000fe" })
	bad[5].line = mk(bad[5].id, func(m map[string]any) { m["quantity"] = "999" })

	// The valid records first (the conflict needs its original stored),
	// then the invalid ones mixed with more valid ones.
	first, rest := valid[:600], valid[600:]
	if r := e.publish(t, writeFile(t, "first.ndjson", ndjson(t, first)), 200); r.records != 600 {
		t.Fatalf("publish: %+v", r)
	}
	e.waitDrained(t, 30*time.Second)
	var mixed strings.Builder
	for i, r := range rest {
		b, _ := json.Marshal(r)
		mixed.Write(b)
		mixed.WriteByte('\n')
		if i%60 == 0 && i/60 < len(bad) {
			mixed.WriteString(bad[i/60].line + "\n")
		}
	}
	if r := e.publish(t, writeFile(t, "mixed.ndjson", []byte(mixed.String())), 100); r.records != 400+len(bad) {
		t.Fatalf("publish: %+v", r)
	}
	// A message that is not JSON at all.
	if _, err := e.js.Publish(context.Background(), natsSubject, []byte("this is not JSON")); err != nil {
		t.Fatal(err)
	}
	e.waitDrained(t, 30*time.Second)
	compareAggregates(t, "store after records with rejections", e.storeTotals(t, sub), wantOf(t, valid))

	// The dead letters, read back from the stream (which captures the
	// dead-letter subject).
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	oc, err := e.js.OrderedConsumer(ctx, natsStream, jetstream.OrderedConsumerConfig{FilterSubjects: []string{natsDeadLetter}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]natsingest.DeadLetter{}
	var notJSON []natsingest.DeadLetter
	for {
		mb, err := oc.Fetch(100, jetstream.FetchMaxWait(300*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range mb.Messages() {
			n++
			var dl natsingest.DeadLetter
			if err := json.Unmarshal(m.Data(), &dl); err != nil {
				t.Fatalf("dead letter %q: %v", m.Data(), err)
			}
			if m.Headers().Get(natsingest.HeaderCode) != dl.Code {
				t.Errorf("dead letter header %s = %q, body code %q", natsingest.HeaderCode, m.Headers().Get(natsingest.HeaderCode), dl.Code)
			}
			if dl.Index == nil {
				notJSON = append(notJSON, dl)
				continue
			}
			if _, dup := got[dl.ID]; dup {
				t.Errorf("two dead letters for record %s", dl.ID)
			}
			got[dl.ID] = dl
		}
		if n == 0 {
			break
		}
	}
	if len(got) != len(bad) {
		t.Errorf("%d dead letters of records, want %d: %v", len(got), len(bad), got)
	}
	for _, b := range bad {
		dl, ok := got[b.id]
		switch {
		case !ok:
			t.Errorf("no dead letter for %s (%s)", b.id, b.code)
		case dl.Code != b.code:
			t.Errorf("dead letter of %s: code %s (%s), want %s", b.id, dl.Code, dl.Message, b.code)
		case string(dl.Record) != b.line:
			t.Errorf("dead letter of %s carries the record %s, want it as sent: %s", b.id, dl.Record, b.line)
		case dl.Stream != natsStream || dl.StreamSequence == 0 || dl.Subject != natsSubject || dl.Message == "":
			t.Errorf("dead letter of %s: %+v", b.id, dl)
		}
	}
	if len(notJSON) != 1 || notJSON[0].Code != "InvalidRequestContent" || notJSON[0].Data != "this is not JSON" {
		t.Errorf("dead letters of whole messages: %+v, want one InvalidRequestContent with the message", notJSON)
	}
}

func (e *natsEnv) testNATSRestart(t *testing.T) {
	sub := "7a1c0000-0000-4000-8000-000000000004"
	meters := [2]string{"7a1c0000-0000-4000-8000-0000000000d1", "7a1c0000-0000-4000-8000-0000000000d2"}
	e.subscription(t, sub, meters)
	recs := natsRecords("restart", sub, meters, 20_000)
	first, second := recs[:15_000], recs[15_000:]
	if r := e.publish(t, writeFile(t, "first.ndjson", ndjson(t, first)), 100); r.records != 15_000 {
		t.Fatalf("publish: %+v", r)
	}
	// Killed while Reckon consumes what was just published.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	ci, last, err := e.consumerState(ctx)
	cancel()
	if err == nil {
		t.Logf("NATS killed with the consumer at ack floor %d of %d (%d ack pending)", ci.AckFloor.Stream, last, ci.NumAckPending)
	}
	e.natsProc.kill()
	e.startNATS()
	if r := e.publish(t, writeFile(t, "second.ndjson", ndjson(t, second)), 100); r.records != 5_000 {
		t.Fatalf("publish after the restart: %+v", r)
	}
	e.waitDrained(t, 45*time.Second)
	compareAggregates(t, "store after a NATS restart", e.storeTotals(t, sub), wantOf(t, recs))
}

func (e *natsEnv) testReckonKilled(t *testing.T) {
	sub := "7a1c0000-0000-4000-8000-000000000005"
	meters := [2]string{"7a1c0000-0000-4000-8000-0000000000e1", "7a1c0000-0000-4000-8000-0000000000e2"}
	e.subscription(t, sub, meters)
	recs := natsRecords("killed", sub, meters, 20_000)
	file := writeFile(t, "records.ndjson", ndjson(t, recs))
	ctx := context.Background()
	ci0, _, err := e.consumerState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan publishResult, 1)
	go func() {
		r := runCLI(ctx, e.getenv, "publish", "--nats", e.natsURL, "--subject", natsSubject, "--batch", "50", "--window", "16", file)
		m := publishedRE.FindStringSubmatch(strings.TrimSpace(r.stdout))
		var pr publishResult
		if r.err == nil && m != nil {
			pr.records, _ = strconv.Atoi(m[1])
		}
		published <- pr
	}()
	// SIGKILL once a batch is committed and another is in flight.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ci, last, err := e.consumerState(ctx)
		if err == nil && ci.AckFloor.Stream > ci0.AckFloor.Stream && ci.NumAckPending > 0 {
			t.Logf("Reckon killed at ack floor %d of %d, %d messages delivered and not acknowledged", ci.AckFloor.Stream, last, ci.NumAckPending)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never saw a batch in flight after a committed one")
		}
		time.Sleep(2 * time.Millisecond) // polling for the moment of the crash
	}
	e.srvProc.kill()
	if e.srvProc.err == nil || !strings.Contains(e.srvProc.err.Error(), "killed") {
		t.Fatalf("reckon did not die of SIGKILL: %v", e.srvProc.err)
	}
	if r := <-published; r.records != 20_000 {
		t.Fatalf("publish: %+v", r)
	}
	e.startReckon()
	ci := e.waitDrained(t, 45*time.Second)
	t.Logf("after the restart: %d deliveries of %d messages", ci.Delivered.Consumer, ci.Delivered.Stream)
	compareAggregates(t, "store after Reckon was killed and restarted", e.storeTotals(t, sub), wantOf(t, recs))
}

// testGracefulStop stops Reckon with SIGTERM while it consumes: the batch
// in flight is finished and acknowledged (or handed back at once), so no
// message waits for the ack wait, and nothing is lost or counted twice.
func (e *natsEnv) testGracefulStop(t *testing.T) {
	sub := "7a1c0000-0000-4000-8000-000000000006"
	meters := [2]string{"7a1c0000-0000-4000-8000-0000000000f1", "7a1c0000-0000-4000-8000-0000000000f2"}
	e.subscription(t, sub, meters)
	recs := natsRecords("graceful", sub, meters, 20_000)
	ctx := context.Background()
	ci0, _, err := e.consumerState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	published := make(chan error, 1)
	go func() {
		r := runCLI(ctx, e.getenv, "publish", "--nats", e.natsURL, "--subject", natsSubject, "--batch", "50", "--window", "16",
			writeFile(t, "records.ndjson", ndjson(t, recs)))
		published <- r.err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ci, _, err := e.consumerState(ctx)
		if err == nil && ci.AckFloor.Stream > ci0.AckFloor.Stream && ci.NumAckPending > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never saw a batch in flight after a committed one")
		}
		time.Sleep(2 * time.Millisecond) // polling for the moment to stop
	}
	stopped := time.Now()
	e.srvProc.cmd.Process.Signal(syscall.SIGTERM)
	<-e.srvProc.done
	if e.srvProc.err != nil {
		t.Fatalf("reckon serve after SIGTERM: %v", e.srvProc.err)
	}
	// Well within the ack wait: nothing was left delivered and unacknowledged.
	ci, last, err := e.consumerState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(stopped); ci.NumAckPending != 0 || took >= natsAckWait {
		t.Fatalf("%v after SIGTERM: %d messages still delivered and unacknowledged, want 0 (ack floor %d of %d)",
			took, ci.NumAckPending, ci.AckFloor.Stream, last)
	}
	t.Logf("stopped at ack floor %d of %d with nothing pending", ci.AckFloor.Stream, last)
	if err := <-published; err != nil {
		t.Fatalf("publish: %v", err)
	}
	e.startReckon()
	e.waitDrained(t, 45*time.Second)
	compareAggregates(t, "store after a graceful stop and a restart", e.storeTotals(t, sub), wantOf(t, recs))
}
