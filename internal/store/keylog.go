package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"

	"github.com/reckon-billing/reckon/internal/usage"
)

// On SQLite the idempotency index is kept in two tiers, because inserting
// random keys into one large B-tree, one commit at a time, rewrites most of
// its pages into the WAL in every commit:
//
//   - usage_key_log receives the keys of each commit, appended in commit
//     order (cheap: it only grows at its end), and this process keeps those
//     keys in memory (keyLog.pending) to answer lookups;
//   - when the log holds mergeThreshold keys, one transaction of its own
//     (never the records' transaction, whose reported time must stay fresh)
//     moves them, sorted, into usage_record_keys and empties the log.
//
// A key is new when it is in neither tier. Most new keys are not looked up in
// usage_record_keys at all: a Bloom filter over it (keyLog.merged, built in
// the background after start and kept current by our own merges) says they
// are certainly absent. Until it is built, or after another process merged
// (usage_key_merges.generation tells), keys are looked up.
//
// The in-memory set is rebuilt from
// the log whenever another connection (another process: "reckon ingest
// --direct", a restarted server) may have written, which PRAGMA data_version
// tells; the whole ingest transaction holds keyLog.mu, so the set changes
// only together with what is committed.

// mergeThreshold is how many logged keys trigger a merge.
var mergeThreshold = 500_000 // a variable only so that tests can merge small logs

type keyLog struct {
	mu      sync.Mutex
	loaded  bool
	version int64 // data_version after our last commit
	pending map[[16]byte]int64

	// merged covers every key of usage_record_keys as of merge generation
	// generation; nil when there is none yet.
	merged     *bloom
	generation int64
	building   bool
}

// sqliteKeyTx is the key-log side of one ingest transaction.
type sqliteKeyTx struct {
	log     *keyLog
	version int64              // data_version when the transaction began
	staged  map[[16]byte]int64 // appended in this transaction
	merged  bool               // the transaction merged the log
}

// begin makes the in-memory set current with the database, inside the
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
	rows, err := tx.QueryContext(ctx, "SELECT record_key, fingerprint FROM usage_key_log")
	if err != nil {
		return err
	}
	defer rows.Close()
	pending := make(map[[16]byte]int64)
	var k []byte
	var fp int64
	for rows.Next() {
		if err := rows.Scan(&k, &fp); err != nil {
			return err
		}
		if len(k) != 16 {
			return fmt.Errorf("store: a logged key of %d bytes", len(k))
		}
		pending[[16]byte(k)] = fp
	}
	if err := rows.Err(); err != nil {
		return err
	}
	l.pending, l.loaded, l.version = pending, true, t.version
	var gen int64
	if err := tx.QueryRowContext(ctx, "SELECT generation FROM usage_key_merges").Scan(&gen); err != nil {
		return err
	}
	if gen != l.generation {
		l.merged, l.generation = nil, gen // another process merged: the filter misses its keys
	}
	return nil
}

// commit applies a committed transaction's changes to the in-memory set,
// which is then current with the database as of that commit.
func (l *keyLog) commit(t *sqliteKeyTx) {
	if t.merged {
		if l.merged != nil {
			for k := range l.pending {
				l.merged.add(k)
			}
			if l.merged.full() {
				l.merged = nil // rebuilt larger in the background
			}
		}
		l.generation++
		clear(l.pending)
	} else {
		for k, fp := range t.staged {
			l.pending[k] = fp
		}
	}
	l.version = t.version
}

// InsertKeys implements usage.IngestTx on SQLite, over the two tiers.
func (t *sqliteIngest) InsertKeys(ctx context.Context, rows []usage.KeyRow) (map[[16]byte]int64, error) {
	kt := t.keys
	existing := make(map[[16]byte]int64)
	var look [][16]byte
	for i := range rows {
		k := rows[i].Key
		if fp, ok := kt.log.pending[k]; ok {
			existing[k] = fp
		} else if fp, ok := kt.staged[k]; ok {
			existing[k] = fp
		} else if kt.log.merged == nil || kt.log.merged.mayContain(k) {
			look = append(look, k)
		}
	}
	if err := t.lookupKeys(ctx, look, existing); err != nil {
		return nil, err
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
		kt.staged[r.Key] = r.Fingerprint
	}
	return existing, nil
}

// mergeKeyLog moves the key log, sorted, into usage_record_keys in a
// transaction of its own. The caller holds db.keys.mu.
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
	if len(db.keys.pending) < mergeThreshold {
		return nil // another process merged it
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO usage_record_keys (record_key, fingerprint, subscription_key)
		SELECT record_key, fingerprint, subscription_key FROM usage_key_log ORDER BY record_key`); err != nil {
		return fmt.Errorf("store: merge the key log: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM usage_key_log`); err != nil {
		return fmt.Errorf("store: empty the key log: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE usage_key_merges SET generation = generation + 1`); err != nil {
		return fmt.Errorf("store: count the key merge: %w", err)
	}
	if err := tx.Commit(); err != nil {
		db.keys.loaded = false
		return fmt.Errorf("store: commit key merge: %w", err)
	}
	kt.merged = true
	db.keys.commit(kt)
	return nil
}

// buildKeyFilter builds the Bloom filter over usage_record_keys from a
// read snapshot and installs it if no merge happened meanwhile. It runs in
// the background; ingestion looks keys up until it is installed.
func (db *DB) buildKeyFilter(ctx context.Context) error {
	tx, err := db.read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var gen, n int64
	if err := tx.QueryRowContext(ctx, "SELECT generation FROM usage_key_merges").Scan(&gen); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM usage_record_keys").Scan(&n); err != nil {
		return err
	}
	f := newBloom(int(n)*2 + mergeThreshold)
	rows, err := tx.QueryContext(ctx, "SELECT record_key FROM usage_record_keys")
	if err != nil {
		return err
	}
	defer rows.Close()
	var k []byte
	for rows.Next() {
		if err := rows.Scan(&k); err != nil {
			return err
		}
		if len(k) == 16 {
			f.add([16]byte(k))
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	db.keys.mu.Lock()
	defer db.keys.mu.Unlock()
	if db.keys.loaded && db.keys.generation == gen {
		db.keys.merged = f
	}
	return nil
}

// maybeBuildKeyFilter starts a background build of the Bloom filter when
// there is none. The caller holds db.keys.mu.
func (db *DB) maybeBuildKeyFilter() {
	if db.keys.merged != nil || db.keys.building || !db.keys.loaded || db.stop == nil {
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
		db.buildKeyFilter(ctx) // on failure keys are looked up, and the next ingest tries again
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

// lookupKeys adds to found the keys of usage_record_keys among keys.
func (t *sqliteIngest) lookupKeys(ctx context.Context, keys [][16]byte, found map[[16]byte]int64) error {
	stmts := stmtsBySize{tx: t.tx, query: func(n int) string {
		return "SELECT record_key, fingerprint FROM usage_record_keys WHERE record_key IN (" + placeholders(n) + ")"
	}}
	defer stmts.close()
	args := make([]any, 0, keysPerInsert)
	for len(keys) > 0 {
		n := min(len(keys), keysPerInsert)
		st, err := stmts.get(ctx, n)
		if err != nil {
			return err
		}
		args = args[:0]
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

// appendKeys appends rows to the key log.
func (t *sqliteIngest) appendKeys(ctx context.Context, rows []usage.KeyRow) error {
	stmts := stmtsBySize{tx: t.tx, query: func(n int) string {
		return "INSERT INTO usage_key_log (record_key, fingerprint, subscription_key) VALUES " +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?), ", n), ", ")
	}}
	defer stmts.close()
	args := make([]any, 0, 3*keysPerInsert)
	for len(rows) > 0 {
		n := min(len(rows), keysPerInsert)
		st, err := stmts.get(ctx, n)
		if err != nil {
			return err
		}
		args = args[:0]
		for i := range n {
			r := &rows[i]
			args = append(args, r.Key[:], r.Fingerprint, r.SubscriptionKey)
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}
