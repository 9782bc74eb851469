package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Shape of the crash test.
const (
	crashClients     = 3    // concurrent ingest clients
	crashBatch       = 2000 // records per request
	crashKills       = 5    // SIGKILLs of the server
	crashMinUptimeMs = 250  // the server is killed at a random moment
	crashMaxUptimeMs = 1250 // between these many milliseconds after it is healthy
)

// buildReckon builds the reckon binary into a temporary directory.
func buildReckon(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build reckon: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "reckon")
	cmd := exec.Command(goTool, "build", "-buildvcs=false", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// reckonProcess is "reckon serve" running as a child process.
type reckonProcess struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // set before done is closed
}

// startReckon starts the binary with args, appending its output to logPath.
func startReckon(t *testing.T, bin, logPath string, env []string, args ...string) *reckonProcess {
	t.Helper()
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close() // the child has its own descriptor
	fmt.Fprintf(logFile, "\n===== %s start: reckon %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &reckonProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *reckonProcess) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func (p *reckonProcess) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("reckon exited: %v", p.err)
	default:
		return nil
	}
}

// crashRecords generates batch b of client c, the same every time.
func crashRecords(sub string, meters [2]string, day time.Time, c, b int) []usage.RecordInput {
	recs := make([]usage.RecordInput, crashBatch)
	reported := day.Add(3 * time.Hour).Format(time.RFC3339)
	for i := range recs {
		start := day.Add(-4*time.Hour + time.Duration((i/6)%6)*time.Hour + time.Duration((b+i)%4)*10*time.Minute)
		n := c*7919 + b*104729 + i*31
		recs[i] = usage.RecordInput{
			ID:             fmt.Sprintf("crash-c%d-b%05d-r%04d", c, b, i),
			SubscriptionID: sub,
			MeterID:        meters[(i/3)%2],
			Quantity:       json.RawMessage(fmt.Sprintf("%d.%09d", n%50, (n*7)%1_000_000_000)),
			UsageStartTime: start.Format(time.RFC3339),
			UsageEndTime:   start.Add(15 * time.Minute).Format(time.RFC3339),
			ResourceURI:    fmt.Sprintf("/subscriptions/%s/resourceGroups/crash/providers/Microsoft.Compute/virtualMachines/vm-%d-%d", sub, c, i%3),
			ReportedTime:   reported,
		}
	}
	return recs
}

type batchID struct{ client, batch int }

// postBatch sends one batch; ok is true only for a 200 answer with a
// decoded result (an acknowledgement).
func postBatch(client *http.Client, base, token string, body []byte) (res usage.Result, status int, err error) {
	req, err := http.NewRequest("POST", base+"/metering/v1/usage", bytes.NewReader(body))
	if err != nil {
		return res, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := client.Do(req)
	if err != nil {
		return res, 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return res, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return res, resp.StatusCode, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return res, resp.StatusCode, fmt.Errorf("decoding %q: %w", data, err)
	}
	return res, resp.StatusCode, nil
}

// TestCrashDuringIngest kills the server with SIGKILL at random moments
// while several clients ingest, restarts it on the same store, and checks
// that every acknowledged batch survived exactly once, that every request
// was all-or-nothing, and that replaying everything leaves each record
// counted exactly once.
func TestCrashDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and kills it repeatedly; skipped with -short")
	}
	bin := buildReckon(t)
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		crashDuringIngest(t, bin, b)
	})
}

func crashDuringIngest(t *testing.T, bin string, backend reckontest.Backend) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	t.Logf("seed %d", seed)

	dir := t.TempDir()
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
	args := []string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn"}
	if backend == reckontest.Postgres {
		args = append(args, "--db", reckontest.DSN(t, backend))
	}
	var proc *reckonProcess
	t.Cleanup(func() {
		if proc != nil {
			proc.kill()
		}
		if t.Failed() {
			if log, err := os.ReadFile(logPath); err == nil {
				if len(log) > 8000 {
					log = log[len(log)-8000:]
				}
				t.Logf("server log (end):\n%s", log)
			}
		}
	})
	client := &http.Client{Timeout: 60 * time.Second}
	start := func() {
		t.Helper()
		proc = startReckon(t, bin, logPath, env, args...)
		waitHealthy(t, client, base, proc.exited)
	}
	start()
	// The token stays valid across the crashes: the signing keys are in the store.
	token := signIn(t, client, base, testOperatorID, secret)

	sub := "5e1c3a7b-9d2f-4c8e-a6b4-2f0e8d1c3b5a"
	meters := [2]string{"6f2d4b8c-0e3a-4d9f-b7c5-3a1f9e2d4c6b", "70e5c9d1-1f4b-4eaf-88d6-4b2a0f3e5d7c"}
	ctx := context.Background()
	mustCLI(t, ctx, getenv, "subscription", "put", "--server", base, "--json", `{"displayName":"Crash test","billingAccount":"crash"}`, sub)
	for i, m := range meters {
		mustCLI(t, ctx, getenv, "meter", "put", "--server", base,
			"--json", fmt.Sprintf(`{"meterName":"Crash meter %d","meterCategory":"Test","unit":"1"}`, i), m)
	}
	day := utcDay(-2)

	// up is closed while the server runs; clients whose request failed wait
	// on it before sending their next batch.
	var (
		mu       sync.Mutex
		up       = make(chan struct{})
		acked    []batchID
		unacked  []batchID
		sent     [crashClients]int // batches generated per client
		failures []string
		stop     atomic.Bool
	)
	close(up)
	upNow := func() chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		return up
	}
	var wg sync.WaitGroup
	for c := range crashClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; !stop.Load(); b++ {
				<-upNow()
				if stop.Load() {
					return
				}
				recs := crashRecords(sub, meters, day, c, b)
				body := ndjsonBytes(recs)
				mu.Lock()
				sent[c] = b + 1
				mu.Unlock()
				res, status, err := postBatch(client, base, token, body)
				mu.Lock()
				switch {
				case err == nil && res.Accepted == crashBatch && res.Duplicates == 0 && len(res.Rejected) == 0:
					acked = append(acked, batchID{c, b})
				case err == nil:
					failures = append(failures, fmt.Sprintf("batch %d/%d, sent once, answered %d accepted, %d duplicates, %d rejected (%v)",
						c, b, res.Accepted, res.Duplicates, len(res.Rejected), res.Rejected))
				case status >= 400 && status < 500:
					failures = append(failures, fmt.Sprintf("batch %d/%d: %v", c, b, err))
				default: // the server died under the request, or answered 5xx
					unacked = append(unacked, batchID{c, b})
				}
				mu.Unlock()
			}
		}()
	}

	for kill := 1; kill <= crashKills; kill++ {
		d := time.Duration(crashMinUptimeMs+rng.IntN(crashMaxUptimeMs-crashMinUptimeMs)) * time.Millisecond
		time.Sleep(d) // the random moment of the crash
		mu.Lock()
		up = make(chan struct{})
		mu.Unlock()
		proc.kill()
		if proc.err == nil || !strings.Contains(proc.err.Error(), "killed") {
			t.Fatalf("reckon did not die of SIGKILL: %v", proc.err)
		}
		mu.Lock()
		t.Logf("kill %d after %v: %d batches acknowledged, %d not so far", kill, d, len(acked), len(unacked))
		mu.Unlock()
		start()
		if kill == crashKills {
			stop.Store(true)
		}
		mu.Lock()
		close(up)
		mu.Unlock()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests answered wrongly, e.g.: %s", len(failures), strings.Join(failures[:min(5, len(failures))], "; "))
	}
	total := 0
	for _, n := range sent {
		total += n
	}
	t.Logf("%s: %d batches of %d records sent, %d acknowledged, %d not", backend, total, crashBatch, len(acked), len(unacked))
	if len(acked) == 0 {
		t.Fatal("no batch was acknowledged")
	}
	if len(acked)+len(unacked) != total {
		t.Fatalf("%d batches sent but %d outcomes recorded", total, len(acked)+len(unacked))
	}

	// What the store holds after the crashes, before any replay.
	afterCrashes := aggregates(t, client, base, token, sub, day, day.AddDate(0, 0, 1), "Daily")

	// Replaying an unacknowledged batch shows whether it was committed: all
	// of it or none of it, never a part.
	wantAfterCrashes := map[aggKey]money.Quantity{}
	wantAll := map[aggKey]money.Quantity{}
	committedUnacked := 0
	replay := func(id batchID) usage.Result {
		recs := crashRecords(sub, meters, day, id.client, id.batch)
		res, _, err := postBatch(client, base, token, ndjsonBytes(recs))
		if err != nil {
			t.Fatalf("replay of batch %d/%d: %v", id.client, id.batch, err)
		}
		if len(res.Rejected) > 0 {
			t.Fatalf("replay of batch %d/%d: %d rejected, e.g. %+v", id.client, id.batch, len(res.Rejected), res.Rejected[0])
		}
		return res
	}
	add := func(want map[aggKey]money.Quantity, id batchID) {
		for _, r := range crashRecords(sub, meters, day, id.client, id.batch) {
			addUsage(t, want, r)
		}
	}
	for _, id := range unacked {
		res := replay(id)
		switch {
		case res.Duplicates == crashBatch && res.Accepted == 0:
			committedUnacked++
			add(wantAfterCrashes, id)
		case res.Accepted == crashBatch && res.Duplicates == 0:
		default:
			t.Errorf("unacknowledged batch %d/%d was half committed: replay accepted %d and found %d duplicates",
				id.client, id.batch, res.Accepted, res.Duplicates)
		}
		add(wantAll, id)
	}
	// Every acknowledged batch is a duplicate on replay: it survived, and
	// is never accepted twice.
	for _, id := range acked {
		res := replay(id)
		if res.Duplicates != crashBatch || res.Accepted != 0 {
			t.Errorf("acknowledged batch %d/%d on replay: %d accepted, %d duplicates; want %d duplicates",
				id.client, id.batch, res.Accepted, res.Duplicates, crashBatch)
		}
		add(wantAfterCrashes, id)
		add(wantAll, id)
	}
	t.Logf("%d of %d unacknowledged batches had been committed before the crash", committedUnacked, len(unacked))
	compareAggregates(t, "UsageAggregates after the crashes (acknowledged batches and committed unacknowledged ones)", afterCrashes, wantAfterCrashes)
	compareAggregates(t, "UsageAggregates after replaying every batch", aggregates(t, client, base, token, sub, day, day.AddDate(0, 0, 1), "Daily"), wantAll)
}

// ndjsonBytes encodes records as NDJSON.
func ndjsonBytes(recs []usage.RecordInput) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range recs {
		enc.Encode(&recs[i])
	}
	return b.Bytes()
}
