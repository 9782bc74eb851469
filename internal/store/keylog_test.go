package store

import (
	"context"
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
