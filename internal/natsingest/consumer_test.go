package natsingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/usage"
)

// memStore is an in-memory usage.Store whose commits can be made to fail,
// as a store that is down.
type memStore struct {
	mu       sync.Mutex
	keys     map[[16]byte]int64
	records  int
	down     atomic.Bool
	attempts atomic.Int64
}

func (m *memStore) SubscriptionKeys(_ context.Context, ids []string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, id := range ids {
		out[id] = 1
	}
	return out, nil
}

func (m *memStore) MeterKeys(ctx context.Context, ids []string) (map[string]int64, error) {
	return m.SubscriptionKeys(ctx, ids)
}

func (m *memStore) Ingest(ctx context.Context, fn func(tx usage.IngestTx) error) error {
	m.attempts.Add(1)
	if m.down.Load() {
		return errors.New("memstore: down")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	tx := &memTx{m: m, keys: map[[16]byte]int64{}}
	if err := fn(tx); err != nil {
		return err
	}
	for k, v := range tx.keys {
		m.keys[k] = v
	}
	m.records += tx.records
	return nil
}

func (m *memStore) ScanSegments(context.Context, int64, int64, int64, func(int64, []byte) error) error {
	return nil
}
func (m *memStore) Instances(context.Context, []int64) (map[int64]string, error) { return nil, nil }
func (m *memStore) MetersByKey(context.Context, []int64) (map[int64]catalog.Meter, error) {
	return nil, nil
}

type memTx struct {
	m       *memStore
	keys    map[[16]byte]int64
	records int
}

func (t *memTx) InstanceKeys(_ context.Context, in []usage.NewInstance) ([]int64, error) {
	out := make([]int64, len(in))
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out, nil
}

func (t *memTx) InsertKeys(_ context.Context, rows []usage.KeyRow) (map[[16]byte]int64, error) {
	existing := map[[16]byte]int64{}
	for _, r := range rows {
		if fp, ok := t.m.keys[r.Key]; ok {
			existing[r.Key] = fp
		} else {
			t.keys[r.Key] = r.Fingerprint
		}
	}
	return existing, nil
}

func (t *memTx) InsertSegments(_ context.Context, segs []usage.Segment) error {
	for _, s := range segs {
		t.records += s.Records
	}
	return nil
}

func (m *memStore) counts() (keys, records int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys), m.records
}

// TestCommitFailure: while the store is down nothing is acknowledged and
// the messages come back with a delay; once it is up again every record is
// stored exactly once.
func TestCommitFailure(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	st := &memStore{keys: map[[16]byte]int64{}}
	st.down.Store(true)
	svc := usage.NewService(st, time.Now, slog.New(slog.DiscardHandler), usage.Config{})
	defer svc.Close()
	c, err := Start(context.Background(), Config{URL: ns.ClientURL(), RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond}, svc)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	const msgs, per = 20, 50
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	for m := range msgs {
		var b strings.Builder
		for r := range per {
			rec, _ := json.Marshal(usage.RecordInput{ID: fmt.Sprintf("r-%d-%d", m, r), SubscriptionID: "0b0b0000-0000-4000-8000-000000000001",
				MeterID: "0b0b0000-0000-4000-8000-000000000002", Quantity: json.RawMessage("1.5"),
				UsageStartTime: day.Format(time.RFC3339), UsageEndTime: day.Add(time.Hour).Format(time.RFC3339)})
			b.Write(rec)
			b.WriteByte('\n')
		}
		if _, err := js.Publish(ctx, "reckon.usage.test", []byte(b.String())); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.Consumer(ctx, "RECKON_USAGE", "reckon-ingest")
	if err != nil {
		t.Fatal(err)
	}
	// Down: attempts fail, and nothing is acknowledged.
	waitFor(t, "three failed commits", func() bool { return c.Stats().CommitFailures >= 3 })
	ci, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ci.AckFloor.Stream != 0 || c.Stats().Messages != 0 || c.Stats().Accepted != 0 {
		t.Fatalf("while the store is down: ack floor %d, stats %+v; want nothing acknowledged", ci.AckFloor.Stream, c.Stats())
	}
	if k, r := st.counts(); k != 0 || r != 0 {
		t.Fatalf("store holds %d keys, %d records while down", k, r)
	}
	// Up again: everything is committed once and acknowledged.
	st.down.Store(false)
	waitFor(t, "every message acknowledged", func() bool {
		ci, err := cons.Info(ctx)
		// The totals are counted just after the acknowledgements are sent.
		return err == nil && ci.AckFloor.Stream == msgs && ci.NumAckPending == 0 && c.Stats().Messages == msgs
	})
	if k, r := st.counts(); k != msgs*per || r != msgs*per {
		t.Fatalf("store holds %d keys and %d records, want %d", k, r, msgs*per)
	}
	if s := c.Stats(); s.Accepted != msgs*per || s.Duplicates != 0 || s.Messages != msgs {
		t.Fatalf("stats %+v, want %d accepted in %d messages", s, msgs*per, msgs)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling the consumer's state
	}
}
