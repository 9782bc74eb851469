package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/reckon-billing/reckon/internal/usage"
)

// On SQLite the idempotency index is kept in tiers, because inserting
// random keys into one large B-tree, one commit at a time, rewrites most of
// its pages into the WAL in every commit, and because a row per key costs
// more than the key itself:
//
//   - each ingest transaction appends its new keys to the key log as ONE
//     row of usage_key_batches (packed entries: cheap, it only grows at its
//     end), and this process keeps the logged keys in memory
//     (keyLog.pending) to answer lookups;
//   - when the log holds mergeThreshold keys, one transaction of its own
//     (never the records' transaction, whose reported time must stay fresh)
//     sorts them in memory and writes them as a new immutable *run*: sorted
//     blocks of blockEntries entries in usage_key_blocks, keyed (run,
//     first key), and empties the log. A merge appends at the end of the
//     B-tree, so its cost does not grow with the index.
//
// An entry is 32 bytes: key (16), fingerprint (8) and subscription key (8),
// big-endian. Runs merged before blocks existed keep one row per key in
// usage_record_keys (format 0), and keys logged before batches existed stay
// in usage_key_log until the next merge moves them; both are still read.
//
// A key is new when it is in the log and in no run. Each run has a Bloom
// filter in memory (keyRun.filter: built from the keys themselves by our
// own merges, or in the background from the table for runs found at start
// or merged by another process); a key is looked up only in the runs whose
// filter may contain it, or that have no filter yet.
//
// The in-memory state is brought up to date whenever another connection
// (another process: "reckon ingest --direct", a restarted server) may have
// written, which PRAGMA data_version tells; the whole ingest transaction
// holds keyLog.mu, so the state changes only together with what is
// committed. Runs are never changed or removed once committed, so a filter,
// once built, stays right.

// mergeThreshold is how many logged keys trigger a merge.
var mergeThreshold = 500_000 // a variable only so that tests can merge small logs

// Run formats (usage_key_runs.format).
const (
	runRows   = 0 // one row per key in usage_record_keys
	runBlocks = 1 // sorted blocks of entries in usage_key_blocks
)

// blockEntries is how many entries a block of a run holds (8 KiB).
const blockEntries = 256

// entrySize is the size of a packed entry: key, fingerprint, subscription key.
const entrySize = 32

// keyEntry is what the log knows of a key.
type keyEntry struct {
	fingerprint, subscription int64
}

type keyLog struct {
	mu      sync.Mutex
	loaded  bool
	version int64 // data_version after our last commit
	pending map[[16]byte]keyEntry

	runs     []keyRun // every committed run, in run order
	building bool     // a background filter build is running
}

// keyRun is one merged run of keys.
type keyRun struct {
	id     int64
	format int
	filter *bloom // nil until built
}

// sqliteKeyTx is the key-log side of one ingest transaction.
type sqliteKeyTx struct {
	log     *keyLog
	version int64                 // data_version when the transaction began
	staged  map[[16]byte]keyEntry // appended in this transaction
	run     int64                 // the run the transaction merged, or 0
}

// begin makes the in-memory state current with the database, inside the
// write transaction t (which keeps every other writer out until it ends).
func (l *keyLog) begin(ctx context.Context, tx *sql.Tx, t *sqliteKeyTx) error {
	// data_version changes when another connection commits; this
	// connection's own commits do not change it.
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&t.version); err != nil {
		return err
	}
	if l.loaded && t.version == l.version {
		return nil
	}
	pending, err := loadKeyLog(ctx, tx)
	if err != nil {
		return err
	}
	var last int64
	if n := len(l.runs); n > 0 {
		last = l.runs[n-1].id
	}
	rows, err := tx.QueryContext(ctx, "SELECT run, format FROM usage_key_runs WHERE run > ? ORDER BY run", last)
	if err != nil {
		return err
	}
	defer rows.Close()
	var runs []keyRun
	for rows.Next() {
		var r keyRun
		if err := rows.Scan(&r.id, &r.format); err != nil {
			return err
		}
		runs = append(runs, r) // merged by another process: no filter yet
	}
	if err := rows.Err(); err != nil {
		return err
	}
	l.pending, l.loaded, l.version = pending, true, t.version
	l.runs = append(l.runs, runs...)
	return nil
}

func loadKeyLog(ctx context.Context, tx *sql.Tx) (map[[16]byte]keyEntry, error) {
	pending := make(map[[16]byte]keyEntry)
	rows, err := tx.QueryContext(ctx, "SELECT record_key, fingerprint, subscription_key FROM usage_key_log")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var k []byte
	var e keyEntry
	for rows.Next() {
		if err := rows.Scan(&k, &e.fingerprint, &e.subscription); err != nil {
			return nil, err
		}
		if len(k) != 16 {
			return nil, fmt.Errorf("store: a logged key of %d bytes", len(k))
		}
		pending[[16]byte(k)] = e
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	batches, err := tx.QueryContext(ctx, "SELECT entries FROM usage_key_batches")
	if err != nil {
		return nil, err
	}
	defer batches.Close()
	var b []byte
	for batches.Next() {
		if err := batches.Scan(&b); err != nil {
			return nil, err
		}
		if err := eachEntry(b, func(k [16]byte, e keyEntry) { pending[k] = e }); err != nil {
			return nil, err
		}
	}
	return pending, batches.Err()
}

// eachEntry calls fn for each packed entry of b.
func eachEntry(b []byte, fn func(k [16]byte, e keyEntry)) error {
	if len(b)%entrySize != 0 {
		return fmt.Errorf("store: packed key entries of %d bytes", len(b))
	}
	for ; len(b) > 0; b = b[entrySize:] {
		fn([16]byte(b[:16]), keyEntry{int64(binary.BigEndian.Uint64(b[16:24])), int64(binary.BigEndian.Uint64(b[24:32]))})
	}
	return nil
}

// appendEntry packs an entry at the end of b.
func appendEntry(b []byte, k *[16]byte, e keyEntry) []byte {
	b = append(b, k[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.fingerprint))
	return binary.BigEndian.AppendUint64(b, uint64(e.subscription))
}

// commit applies a committed transaction's changes to the in-memory state,
// which is then current with the database as of that commit.
func (l *keyLog) commit(t *sqliteKeyTx) {
	if t.run != 0 {
		f := newBloom(len(l.pending))
		for k := range l.pending {
			f.add(k)
		}
		l.runs = append(l.runs, keyRun{id: t.run, format: runBlocks, filter: f})
		clear(l.pending)
	} else {
		for k, e := range t.staged {
			l.pending[k] = e
		}
	}
	l.version = t.version
}

// InsertKeys implements usage.IngestTx on SQLite, over the tiers.
func (t *sqliteIngest) InsertKeys(ctx context.Context, rows []usage.KeyRow) (map[[16]byte]int64, error) {
	kt := t.keys
	existing := make(map[[16]byte]int64)
	look := make([][][16]byte, len(kt.log.runs)) // per run, the keys to look up in it
	for i := range rows {
		k := rows[i].Key
		if e, ok := kt.log.pending[k]; ok {
			existing[k] = e.fingerprint
		} else if e, ok := kt.staged[k]; ok {
			existing[k] = e.fingerprint
		} else {
			for r, run := range kt.log.runs {
				if run.filter == nil || run.filter.mayContain(k) {
					look[r] = append(look[r], k)
				}
			}
		}
	}
	for r, keys := range look {
		if len(keys) == 0 {
			continue
		}
		lookup := t.lookupKeys
		if kt.log.runs[r].format == runBlocks {
			lookup = t.lookupBlocks
		}
		if err := lookup(ctx, kt.log.runs[r].id, keys, existing); err != nil {
			return nil, err
		}
	}
	var fresh []usage.KeyRow
	for i := range rows {
		if _, ok := existing[rows[i].Key]; !ok {
			fresh = append(fresh, rows[i])
		}
	}
	if err := t.appendKeys(ctx, fresh); err != nil {
		return nil, err
	}
	for _, r := range fresh {
		kt.staged[r.Key] = keyEntry{r.Fingerprint, r.SubscriptionKey}
	}
	return existing, nil
}

// mergeKeyLog moves the key log, sorted, into a new run of
// usage_record_keys in a transaction of its own. The caller holds
// db.keys.mu.
func (db *DB) mergeKeyLog(ctx context.Context) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin key merge: %w", err)
	}
	defer tx.Rollback()
	kt := &sqliteKeyTx{log: &db.keys}
	if err := db.keys.begin(ctx, tx, kt); err != nil {
		return fmt.Errorf("store: load the key log: %w", err)
	}
	n := len(db.keys.pending)
	if n < mergeThreshold {
		return nil // another process merged it
	}
	kt.run = 1
	if len(db.keys.runs) > 0 {
		kt.run = db.keys.runs[len(db.keys.runs)-1].id + 1
	}
	keys := make([][16]byte, 0, n)
	for k := range db.keys.pending {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	ins, err := tx.PrepareContext(ctx, `INSERT INTO usage_key_blocks (run, first_key, entries) VALUES (?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("store: merge the key log: %w", err)
	}
	defer ins.Close()
	block := make([]byte, 0, blockEntries*entrySize)
	for len(keys) > 0 {
		m := min(len(keys), blockEntries)
		block = block[:0]
		for i := range m {
			block = appendEntry(block, &keys[i], db.keys.pending[keys[i]])
		}
		if _, err := ins.ExecContext(ctx, kt.run, keys[0][:], block); err != nil {
			return fmt.Errorf("store: merge the key log: %w", err)
		}
		keys = keys[m:]
	}
	for _, q := range []string{`DELETE FROM usage_key_log`, `DELETE FROM usage_key_batches`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("store: empty the key log: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_key_runs (run, keys, format) VALUES (?, ?, ?)`, kt.run, n, runBlocks); err != nil {
		return fmt.Errorf("store: record the key run: %w", err)
	}
	if err := tx.Commit(); err != nil {
		db.keys.loaded = false
		return fmt.Errorf("store: commit key merge: %w", err)
	}
	db.keys.commit(kt)
	return nil
}

// buildRunFilter builds the Bloom filter of run id from a read snapshot
// and installs it. It runs in the background; until it is installed, every
// key not found elsewhere is looked up in that run.
func (db *DB) buildRunFilter(ctx context.Context, id int64) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n, format int
	if err := tx.QueryRowContext(ctx, "SELECT keys, format FROM usage_key_runs WHERE run = ?", id).Scan(&n, &format); err != nil {
		return err
	}
	f := newBloom(n)
	q := "SELECT record_key FROM usage_record_keys WHERE run = ?"
	if format == runBlocks {
		q = "SELECT entries FROM usage_key_blocks WHERE run = ?"
	}
	rows, err := tx.QueryContext(ctx, q, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	var b []byte
	for rows.Next() {
		if err := rows.Scan(&b); err != nil {
			return err
		}
		switch {
		case format == runBlocks:
			if err := eachEntry(b, func(k [16]byte, _ keyEntry) { f.add(k) }); err != nil {
				return err
			}
		case len(b) == 16:
			f.add([16]byte(b))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	db.keys.mu.Lock()
	defer db.keys.mu.Unlock()
	for i := range db.keys.runs {
		if db.keys.runs[i].id == id && db.keys.runs[i].filter == nil {
			db.keys.runs[i].filter = f
		}
	}
	return nil
}

// maybeBuildRunFilters starts a background build of the filters of the runs
// that have none. The caller holds db.keys.mu.
func (db *DB) maybeBuildRunFilters() {
	if db.keys.building || db.stop == nil {
		return
	}
	var ids []int64
	for _, r := range db.keys.runs {
		if r.filter == nil {
			ids = append(ids, r.id)
		}
	}
	if len(ids) == 0 {
		return
	}
	db.keys.building = true
	go func() {
		defer func() {
			db.keys.mu.Lock()
			db.keys.building = false
			db.keys.mu.Unlock()
		}()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-db.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		for _, id := range ids {
			if db.buildRunFilter(ctx, id) != nil {
				return // keys are looked up meanwhile, and the next ingest tries again
			}
		}
	}()
}

// stmtsBySize prepares, once per transaction, the statement for each
// number of keys a chunk carries (the last chunk is shorter).
type stmtsBySize struct {
	tx    *sql.Tx
	query func(n int) string
	m     map[int]*sql.Stmt
}

func (c *stmtsBySize) get(ctx context.Context, n int) (*sql.Stmt, error) {
	if st := c.m[n]; st != nil {
		return st, nil
	}
	st, err := c.tx.PrepareContext(ctx, c.query(n))
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = make(map[int]*sql.Stmt)
	}
	c.m[n] = st
	return st, nil
}

func (c *stmtsBySize) close() {
	for _, st := range c.m {
		st.Close()
	}
}

// lookupKeys adds to found the keys of run among keys.
func (t *sqliteIngest) lookupKeys(ctx context.Context, run int64, keys [][16]byte, found map[[16]byte]int64) error {
	stmts := stmtsBySize{tx: t.tx, query: func(n int) string {
		return "SELECT record_key, fingerprint FROM usage_record_keys WHERE run = ? AND record_key IN (" + placeholders(n) + ")"
	}}
	defer stmts.close()
	args := make([]any, 0, 1+keysPerInsert)
	for len(keys) > 0 {
		n := min(len(keys), keysPerInsert)
		st, err := stmts.get(ctx, n)
		if err != nil {
			return err
		}
		args = append(args[:0], run)
		for i := range n {
			args = append(args, keys[i][:])
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		var k []byte
		var fp int64
		for rows.Next() {
			if err := rows.Scan(&k, &fp); err != nil {
				rows.Close()
				return err
			}
			found[[16]byte(k)] = fp
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

// lookupBlocks adds to found the keys of run (a run of blocks) among keys:
// each key is searched in the block whose first key is the greatest not
// above it; consecutive keys of one block read it once.
func (t *sqliteIngest) lookupBlocks(ctx context.Context, run int64, keys [][16]byte, found map[[16]byte]int64) error {
	slices.SortFunc(keys, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	st, err := t.tx.PrepareContext(ctx, `SELECT first_key, entries FROM usage_key_blocks
		WHERE run = ? AND first_key <= ? ORDER BY first_key DESC LIMIT 1`)
	if err != nil {
		return err
	}
	defer st.Close()
	var block []byte // entries of the block read last
	for i := range keys {
		k := keys[i][:]
		n := len(block) / entrySize
		if n == 0 || bytes.Compare(k, block[:16]) < 0 || bytes.Compare(k, block[(n-1)*entrySize:(n-1)*entrySize+16]) > 0 {
			var first []byte
			switch err := st.QueryRowContext(ctx, run, k).Scan(&first, &block); {
			case errors.Is(err, sql.ErrNoRows):
				block = nil
				continue // below the run's first key
			case err != nil:
				return err
			}
			if len(block)%entrySize != 0 || len(block) == 0 {
				return fmt.Errorf("store: a key block of %d bytes in run %d", len(block), run)
			}
			n = len(block) / entrySize
		}
		lo, hi := 0, n
		for lo < hi {
			mid := (lo + hi) / 2
			if bytes.Compare(block[mid*entrySize:mid*entrySize+16], k) < 0 {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		if lo < n && bytes.Equal(block[lo*entrySize:lo*entrySize+16], k) {
			found[keys[i]] = int64(binary.BigEndian.Uint64(block[lo*entrySize+16:]))
		}
	}
	return nil
}

// appendKeys appends rows to the key log, as one packed row.
func (t *sqliteIngest) appendKeys(ctx context.Context, rows []usage.KeyRow) error {
	if len(rows) == 0 {
		return nil
	}
	b := make([]byte, 0, len(rows)*entrySize)
	for i := range rows {
		r := &rows[i]
		b = appendEntry(b, &r.Key, keyEntry{r.Fingerprint, r.SubscriptionKey})
	}
	_, err := t.tx.ExecContext(ctx, "INSERT INTO usage_key_batches (entries) VALUES (?)", b)
	return err
}
