package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/reckon-billing/reckon/internal/usage"
)

func keyRow(n byte, fp int64) usage.KeyRow {
	var k [16]byte
	k[0], k[15] = n, n
	return usage.KeyRow{Key: k, Fingerprint: fp, SubscriptionKey: 1}
}

// insertKeys runs InsertKeys in its own ingest transaction; fail makes the
// transaction fail after the keys were written.
func insertKeys(t *testing.T, db *DB, fail bool, rows ...usage.KeyRow) map[[16]byte]int64 {
	t.Helper()
	var existing map[[16]byte]int64
	errFail := errors.New("fail on purpose")
	err := db.Ingest(context.Background(), func(tx usage.IngestTx) error {
		var err error
		existing, err = tx.InsertKeys(context.Background(), rows)
		if err == nil && fail {
			return errFail
		}
		return err
	})
	if fail && !errors.Is(err, errFail) || !fail && err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return existing
}

func countRows(t *testing.T, db *DB, table string) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func openSQLiteAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite:"+path, "", Options{SQLiteCacheMiB: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestKeyLogTiers checks the two tiers of SQLite's idempotency index: keys
// are found whether they are still in the log or already merged, the merge
// moves every logged key, and a failed transaction leaves no key behind, in
// the database or in memory.
func TestKeyLogTiers(t *testing.T) {
	old := mergeThreshold
	mergeThreshold = 5
	t.Cleanup(func() { mergeThreshold = old })
	db := openSQLiteAt(t, filepath.Join(t.TempDir(), "reckon.db"))

	if got := insertKeys(t, db, false, keyRow(1, 10), keyRow(2, 20)); len(got) != 0 {
		t.Fatalf("fresh keys reported existing: %v", got)
	}
	if n := countRows(t, db, "usage_key_log"); n != 2 {
		t.Fatalf("key log holds %d keys, want 2", n)
	}
	// In the log: found with their fingerprints, and not logged twice.
	got := insertKeys(t, db, false, keyRow(1, 10), keyRow(2, 99), keyRow(3, 30))
	if len(got) != 2 || got[keyRow(1, 0).Key] != 10 || got[keyRow(2, 0).Key] != 20 {
		t.Fatalf("existing = %v, want keys 1 and 2 with fingerprints 10 and 20", got)
	}
	// A failed transaction: key 4 must stay new.
	insertKeys(t, db, true, keyRow(4, 40))
	if n := countRows(t, db, "usage_key_log"); n != 3 {
		t.Fatalf("key log holds %d keys after a failed transaction, want 3", n)
	}
	// Reaching the threshold: the next transaction first merges the whole
	// log, key 4 included, in a transaction of its own.
	if got := insertKeys(t, db, false, keyRow(4, 41), keyRow(5, 50)); len(got) != 0 {
		t.Fatalf("keys 4 and 5 reported existing: %v", got)
	}
	if l, m := countRows(t, db, "usage_key_log"), countRows(t, db, "usage_record_keys"); l != 5 || m != 0 {
		t.Fatalf("at the threshold: log %d, index %d; want 5 and 0", l, m)
	}
	insertKeys(t, db, true) // a transaction that fails after the merge
	if l, m := countRows(t, db, "usage_key_log"), countRows(t, db, "usage_record_keys"); l != 0 || m != 5 {
		t.Fatalf("after the merge: log %d, index %d; want 0 and 5", l, m)
	}
	// Merged keys are found in the index; new keys go to the log again.
	got = insertKeys(t, db, false, keyRow(4, 41), keyRow(5, 51), keyRow(6, 60))
	if len(got) != 2 || got[keyRow(4, 0).Key] != 41 || got[keyRow(5, 0).Key] != 50 {
		t.Fatalf("existing = %v, want keys 4 and 5 with fingerprints 41 and 50", got)
	}
	if n := countRows(t, db, "usage_key_log"); n != 1 {
		t.Fatalf("key log holds %d keys, want 1", n)
	}
}

// TestKeyLogSharedFile: two stores open on one SQLite file (a server and
// "reckon ingest --direct", or a restarted process) see each other's logged
// keys.
func TestKeyLogSharedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reckon.db")
	a, b := openSQLiteAt(t, path), openSQLiteAt(t, path)
	insertKeys(t, a, false, keyRow(1, 10))
	insertKeys(t, b, false, keyRow(2, 20)) // b loads the log once here
	insertKeys(t, a, false, keyRow(3, 30)) // written after b loaded
	got := insertKeys(t, b, false, keyRow(1, 11), keyRow(3, 31))
	if len(got) != 2 || got[keyRow(1, 0).Key] != 10 || got[keyRow(3, 0).Key] != 30 {
		t.Fatalf("b sees existing = %v, want a's keys 1 and 3", got)
	}
	got = insertKeys(t, a, false, keyRow(2, 21))
	if len(got) != 1 || got[keyRow(2, 0).Key] != 20 {
		t.Fatalf("a sees existing = %v, want b's key 2", got)
	}
	c := openSQLiteAt(t, path) // a restart
	if got := insertKeys(t, c, false, keyRow(1, 0), keyRow(2, 0), keyRow(3, 0)); len(got) != 3 {
		t.Fatalf("a reopened store sees %d of 3 logged keys", len(got))
	}
}

// TestKeyFilter: with the Bloom filter over merged keys in place, merged
// keys are still found, new keys are not, and a merge made by another
// process invalidates the filter rather than hiding that process's keys.
func TestKeyFilter(t *testing.T) {
	old := mergeThreshold
	mergeThreshold = 3
	t.Cleanup(func() { mergeThreshold = old })
	path := filepath.Join(t.TempDir(), "reckon.db")
	a, b := openSQLiteAt(t, path), openSQLiteAt(t, path)
	ctx := context.Background()

	insertKeys(t, a, false, keyRow(1, 10), keyRow(2, 20), keyRow(3, 30))
	insertKeys(t, a, false, keyRow(4, 40)) // merges 1–3 first
	if m := countRows(t, a, "usage_record_keys"); m != 3 {
		t.Fatalf("index holds %d keys, want 3", m)
	}
	if err := a.buildKeyFilter(ctx); err != nil {
		t.Fatal(err)
	}
	a.keys.mu.Lock()
	f := a.keys.merged
	a.keys.mu.Unlock()
	if f == nil || !f.mayContain(keyRow(1, 0).Key) || !f.mayContain(keyRow(3, 0).Key) {
		t.Fatalf("filter %v does not cover the merged keys", f)
	}
	got := insertKeys(t, a, false, keyRow(1, 11), keyRow(4, 41), keyRow(9, 90))
	if len(got) != 2 || got[keyRow(1, 0).Key] != 10 || got[keyRow(4, 0).Key] != 40 {
		t.Fatalf("existing = %v, want keys 1 (merged) and 4 (logged)", got)
	}

	// b merges keys of its own (4, 9, 5): a's filter does not know them.
	insertKeys(t, b, false, keyRow(5, 50))
	insertKeys(t, b, false, keyRow(6, 60)) // merges 4, 9, 5 first
	if m := countRows(t, b, "usage_record_keys"); m != 6 {
		t.Fatalf("index holds %d keys, want 6", m)
	}
	got = insertKeys(t, a, false, keyRow(5, 51), keyRow(9, 91), keyRow(6, 61))
	if len(got) != 3 || got[keyRow(5, 0).Key] != 50 || got[keyRow(9, 0).Key] != 90 || got[keyRow(6, 0).Key] != 60 {
		t.Fatalf("a sees existing = %v, want b's merged keys 5, 9 and logged key 6", got)
	}

	// Our own merges keep the filter current.
	if err := a.buildKeyFilter(ctx); err != nil {
		t.Fatal(err)
	}
	insertKeys(t, a, false, keyRow(7, 70), keyRow(8, 80))
	insertKeys(t, a, false) // merges 6, 7, 8
	a.keys.mu.Lock()
	f = a.keys.merged
	a.keys.mu.Unlock()
	if f == nil || !f.mayContain(keyRow(7, 0).Key) || !f.mayContain(keyRow(8, 0).Key) {
		t.Fatal("the filter lost track of our own merge")
	}
	if got := insertKeys(t, a, false, keyRow(7, 0), keyRow(8, 0)); len(got) != 2 {
		t.Fatalf("merged keys 7 and 8 not found: %v", got)
	}
}

func TestBloom(t *testing.T) {
	f := newBloom(100_000)
	var k [16]byte
	for i := range 100_000 {
		binary.LittleEndian.PutUint64(k[:8], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(k[8:], uint64(i)*0xc2b2ae3d27d4eb4f+1)
		f.add(k)
	}
	for i := range 100_000 {
		binary.LittleEndian.PutUint64(k[:8], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(k[8:], uint64(i)*0xc2b2ae3d27d4eb4f+1)
		if !f.mayContain(k) {
			t.Fatalf("key %d added but reported absent", i)
		}
	}
	fp := 0
	for i := range 100_000 {
		h := sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16), 'x'})
		if f.mayContain([16]byte(h[:16])) {
			fp++
		}
	}
	if fp > 2_000 { // about 1 % expected
		t.Errorf("%d false positives in 100,000, want about 1,000", fp)
	}
}
