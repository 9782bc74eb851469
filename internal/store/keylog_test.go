package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

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

// loggedKeys counts the keys in the key log: rows logged before batches
// existed and the entries of the batches.
func loggedKeys(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow(`SELECT (SELECT COUNT(*) FROM usage_key_log) +
		(SELECT COALESCE(SUM(LENGTH(entries)), 0) / 32 FROM usage_key_batches)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// mergedKeys counts the keys of every run, in rows or in blocks.
func mergedKeys(t *testing.T, db *DB) int {
	t.Helper()
	var n int
	if err := db.read.QueryRow(`SELECT (SELECT COUNT(*) FROM usage_record_keys) +
		(SELECT COALESCE(SUM(LENGTH(entries)), 0) / 32 FROM usage_key_blocks)`).Scan(&n); err != nil {
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
	if n := loggedKeys(t, db); n != 2 {
		t.Fatalf("key log holds %d keys, want 2", n)
	}
	// In the log: found with their fingerprints, and not logged twice.
	got := insertKeys(t, db, false, keyRow(1, 10), keyRow(2, 99), keyRow(3, 30))
	if len(got) != 2 || got[keyRow(1, 0).Key] != 10 || got[keyRow(2, 0).Key] != 20 {
		t.Fatalf("existing = %v, want keys 1 and 2 with fingerprints 10 and 20", got)
	}
	// A failed transaction: key 4 must stay new.
	insertKeys(t, db, true, keyRow(4, 40))
	if n := loggedKeys(t, db); n != 3 {
		t.Fatalf("key log holds %d keys after a failed transaction, want 3", n)
	}
	// Reaching the threshold: the next transaction first merges the whole
	// log, key 4 included, in a transaction of its own.
	if got := insertKeys(t, db, false, keyRow(4, 41), keyRow(5, 50)); len(got) != 0 {
		t.Fatalf("keys 4 and 5 reported existing: %v", got)
	}
	if l, m := loggedKeys(t, db), mergedKeys(t, db); l != 5 || m != 0 {
		t.Fatalf("at the threshold: log %d, index %d; want 5 and 0", l, m)
	}
	insertKeys(t, db, true) // a transaction that fails after the merge
	if l, m := loggedKeys(t, db), mergedKeys(t, db); l != 0 || m != 5 {
		t.Fatalf("after the merge: log %d, index %d; want 0 and 5", l, m)
	}
	// Merged keys are found in the index; new keys go to the log again.
	got = insertKeys(t, db, false, keyRow(4, 41), keyRow(5, 51), keyRow(6, 60))
	if len(got) != 2 || got[keyRow(4, 0).Key] != 41 || got[keyRow(5, 0).Key] != 50 {
		t.Fatalf("existing = %v, want keys 4 and 5 with fingerprints 41 and 50", got)
	}
	if n := loggedKeys(t, db); n != 1 {
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

// runFilter returns the filter of run id as a's memory holds it.
func runFilter(db *DB, id int64) *bloom {
	db.keys.mu.Lock()
	defer db.keys.mu.Unlock()
	for _, r := range db.keys.runs {
		if r.id == id {
			return r.filter
		}
	}
	return nil
}

// TestKeyRuns: each merge adds a run; merged keys are found whether their
// run has a filter (our own merges) or not yet (another process's merge),
// new keys are not; and the filters do decide which runs are searched.
func TestKeyRuns(t *testing.T) {
	old := mergeThreshold
	mergeThreshold = 3
	t.Cleanup(func() { mergeThreshold = old })
	path := filepath.Join(t.TempDir(), "reckon.db")
	a, b := openSQLiteAt(t, path), openSQLiteAt(t, path)
	ctx := context.Background()

	insertKeys(t, a, false, keyRow(1, 10), keyRow(2, 20), keyRow(3, 30))
	insertKeys(t, a, false, keyRow(4, 40)) // merges 1–3 first, as run 1
	if m, r := mergedKeys(t, a), countRows(t, a, "usage_key_runs"); m != 3 || r != 1 {
		t.Fatalf("index holds %d keys in %d runs, want 3 in 1", m, r)
	}
	f := runFilter(a, 1)
	if f == nil || !f.mayContain(keyRow(1, 0).Key) || !f.mayContain(keyRow(3, 0).Key) {
		t.Fatalf("run 1's filter %v does not cover its keys", f)
	}
	got := insertKeys(t, a, false, keyRow(1, 11), keyRow(4, 41), keyRow(9, 90))
	if len(got) != 2 || got[keyRow(1, 0).Key] != 10 || got[keyRow(4, 0).Key] != 40 {
		t.Fatalf("existing = %v, want keys 1 (merged) and 4 (logged)", got)
	}

	// b merges keys of its own (4, 9, 5) as run 2: a learns of the run
	// without a filter and searches it.
	insertKeys(t, b, false, keyRow(5, 50))
	insertKeys(t, b, false, keyRow(6, 60)) // merges 4, 9, 5 first
	if m, r := mergedKeys(t, b), countRows(t, b, "usage_key_runs"); m != 6 || r != 2 {
		t.Fatalf("index holds %d keys in %d runs, want 6 in 2", m, r)
	}
	got = insertKeys(t, a, false, keyRow(5, 51), keyRow(9, 91), keyRow(6, 61))
	if len(got) != 3 || got[keyRow(5, 0).Key] != 50 || got[keyRow(9, 0).Key] != 90 || got[keyRow(6, 0).Key] != 60 {
		t.Fatalf("a sees existing = %v, want b's merged keys 5, 9 and logged key 6", got)
	}
	if err := a.buildRunFilter(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if f := runFilter(a, 2); f == nil || !f.mayContain(keyRow(5, 0).Key) {
		t.Fatal("run 2's filter was not built from the table")
	}
	if got := insertKeys(t, a, false, keyRow(4, 0), keyRow(5, 0), keyRow(1, 0)); len(got) != 3 {
		t.Fatalf("with both filters built, merged keys 1, 4, 5 found: %v", got)
	}

	// The filters decide: an empty filter for run 2 hides its keys.
	a.keys.mu.Lock()
	a.keys.runs[1].filter = newBloom(1)
	a.keys.mu.Unlock()
	if got := insertKeys(t, a, true, keyRow(5, 0)); len(got) != 0 {
		t.Fatalf("run 2 was searched although its filter excludes key 5: %v", got)
	}
}

// TestKeyRunsMigration: keys merged under the schema before runs (one
// B-tree keyed by record_key) are found after the migration, as run 1.
func TestKeyRunsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "reckon.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	for _, r := range []usage.KeyRow{keyRow(1, 10), keyRow(2, 20)} {
		if _, err := raw.Exec("INSERT INTO usage_record_keys (record_key, fingerprint, subscription_key) VALUES (?, ?, ?)", r.Key[:], r.Fingerprint, r.SubscriptionKey); err != nil {
			t.Fatal(err)
		}
	}
	raw.Close()

	db := openSQLiteAt(t, path)
	got := insertKeys(t, db, false, keyRow(1, 11), keyRow(2, 21), keyRow(3, 30))
	if len(got) != 2 || got[keyRow(1, 0).Key] != 10 || got[keyRow(2, 0).Key] != 20 {
		t.Fatalf("after the migration existing = %v, want keys 1 and 2", got)
	}
	if r := countRows(t, db, "usage_key_runs"); r != 1 {
		t.Fatalf("%d runs after the migration, want 1", r)
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
	if fp > 300 { // about 0.08 % expected
		t.Errorf("%d false positives in 100,000, want about 80", fp)
	}
}

// TestKeyBlocks: a run written as blocks answers exactly — every merged
// key with its fingerprint, no absent key — for keys inside blocks, between
// blocks, before the first and after the last, with and without a filter.
func TestKeyBlocks(t *testing.T) {
	old := mergeThreshold
	mergeThreshold = 3 * blockEntries
	t.Cleanup(func() { mergeThreshold = old })
	db := openSQLiteAt(t, filepath.Join(t.TempDir(), "reckon.db"))
	key := func(i int) usage.KeyRow {
		h := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		return usage.KeyRow{Key: [16]byte(h[:16]), Fingerprint: int64(i) * 7, SubscriptionKey: int64(i % 5)}
	}
	var rows []usage.KeyRow
	for i := range mergeThreshold {
		rows = append(rows, key(i))
	}
	insertKeys(t, db, false, rows...)
	insertKeys(t, db, false) // merges
	if l, m := loggedKeys(t, db), mergedKeys(t, db); l != 0 || m != mergeThreshold {
		t.Fatalf("log %d, runs %d; want 0 and %d", l, m, mergeThreshold)
	}
	var blocks int
	if err := db.read.QueryRow("SELECT COUNT(*) FROM usage_key_blocks").Scan(&blocks); err != nil || blocks != 3 {
		t.Fatalf("%d blocks (%v), want 3", blocks, err)
	}
	for _, filter := range []bool{true, false} {
		if !filter {
			db.keys.mu.Lock()
			db.keys.runs[0].filter = nil // every key is searched in the blocks
			db.keys.mu.Unlock()
		}
		var probe []usage.KeyRow
		for i := range 2 * mergeThreshold { // half merged, half absent
			probe = append(probe, key(i))
		}
		probe = append(probe, usage.KeyRow{Key: [16]byte{}}, usage.KeyRow{Key: [16]byte{0: 0xff, 15: 0xff}})
		got := insertKeys(t, db, true, probe...)
		if len(got) != mergeThreshold {
			t.Fatalf("filter %v: %d keys found, want %d", filter, len(got), mergeThreshold)
		}
		for i := range mergeThreshold {
			if fp, ok := got[key(i).Key]; !ok || fp != int64(i)*7 {
				t.Fatalf("filter %v: key %d found %v with fingerprint %d", filter, i, ok, fp)
			}
		}
	}
}

// TestKeyBlocksMigration: keys logged and merged under the schema before
// blocks (a row per key) are found after the migration; the next merge
// moves the old log into blocks, and both kinds of runs keep answering.
func TestKeyBlocksMigration(t *testing.T) {
	old := mergeThreshold
	mergeThreshold = 4
	t.Cleanup(func() { mergeThreshold = old })
	path := filepath.Join(t.TempDir(), "reckon.db")
	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := fs.Sub(migrations, "migrations/sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"INSERT INTO usage_key_runs (run, keys) VALUES (1, 2)",
		"INSERT INTO usage_record_keys (run, record_key, fingerprint, subscription_key) VALUES (1, ?, 10, 1), (1, ?, 20, 1)",
		"INSERT INTO usage_key_log (record_key, fingerprint, subscription_key) VALUES (?, 30, 1), (?, 40, 1)",
	} {
		var args []any
		switch {
		case strings.Contains(q, "usage_record_keys"):
			args = []any{keyBytes(1), keyBytes(2)}
		case strings.Contains(q, "usage_key_log"):
			args = []any{keyBytes(3), keyBytes(4)}
		}
		if _, err := raw.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db := openSQLiteAt(t, path)
	got := insertKeys(t, db, false, keyRow(1, 0), keyRow(3, 0), keyRow(5, 50), keyRow(6, 60))
	if len(got) != 2 || got[keyRow(1, 0).Key] != 10 || got[keyRow(3, 0).Key] != 30 {
		t.Fatalf("after the migration existing = %v, want keys 1 (old run) and 3 (old log)", got)
	}
	insertKeys(t, db, false) // the log holds 3, 4, 5, 6: merged into blocks
	var logRows, runs int
	if err := db.read.QueryRow("SELECT (SELECT COUNT(*) FROM usage_key_log), (SELECT COUNT(*) FROM usage_key_runs WHERE format = 1)").Scan(&logRows, &runs); err != nil {
		t.Fatal(err)
	}
	if logRows != 0 || runs != 1 || loggedKeys(t, db) != 0 || mergedKeys(t, db) != 6 {
		t.Fatalf("after the merge: old log %d rows, %d block runs, log %d, merged %d", logRows, runs, loggedKeys(t, db), mergedKeys(t, db))
	}
	c := openSQLiteAt(t, path) // a restart: runs found without filters
	got = insertKeys(t, c, false, keyRow(2, 0), keyRow(4, 0), keyRow(6, 0), keyRow(7, 70))
	if len(got) != 3 || got[keyRow(2, 0).Key] != 20 || got[keyRow(4, 0).Key] != 40 || got[keyRow(6, 0).Key] != 60 {
		t.Fatalf("reopened: existing = %v, want 2 (rows), 4 and 6 (blocks)", got)
	}
}

func keyBytes(n byte) []byte {
	k := keyRow(n, 0).Key
	return k[:]
}
