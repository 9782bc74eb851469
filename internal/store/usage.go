package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/usage"
)

var _ usage.Store = (*DB)(nil)

// inChunk bounds the values of one IN list.
const inChunk = 500

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// lookupKeys runs query (with one "%s" for the IN list) over ids in chunks
// and collects (text, key) pairs.
func lookupKeys[T any](ctx context.Context, db *DB, query string, ids []T, scan func(*sql.Rows) error) error {
	for len(ids) > 0 {
		n := min(len(ids), inChunk)
		args := make([]any, n)
		for i := range n {
			args[i] = ids[i]
		}
		rows, err := db.read.QueryContext(ctx, db.rebind(fmt.Sprintf(query, placeholders(n))), args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			if err := scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func (db *DB) keysByID(ctx context.Context, query string, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	err := lookupKeys(ctx, db, query, ids, func(rows *sql.Rows) error {
		var id string
		var k int64
		if err := rows.Scan(&id, &k); err != nil {
			return err
		}
		out[id] = k
		return nil
	})
	return out, err
}

// SubscriptionKeys implements usage.Store.
func (db *DB) SubscriptionKeys(ctx context.Context, ids []string) (map[string]int64, error) {
	return db.keysByID(ctx, `SELECT subscription_id, subscription_key FROM subscriptions WHERE subscription_id IN (%s)`, ids)
}

// MeterKeys implements usage.Store.
func (db *DB) MeterKeys(ctx context.Context, ids []string) (map[string]int64, error) {
	return db.keysByID(ctx, `SELECT meter_id, meter_key FROM meters WHERE meter_id IN (%s)`, ids)
}

// Instances implements usage.Store.
func (db *DB) Instances(ctx context.Context, keys []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(keys))
	err := lookupKeys(ctx, db, `SELECT instance_key, instance_data FROM usage_instances WHERE instance_key IN (%s)`, keys, func(rows *sql.Rows) error {
		var k int64
		var data string
		if err := rows.Scan(&k, &data); err != nil {
			return err
		}
		out[k] = data
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: instances: %w", err)
	}
	return out, nil
}

// MetersByKey implements usage.Store.
func (db *DB) MetersByKey(ctx context.Context, keys []int64) (map[int64]catalog.Meter, error) {
	out := make(map[int64]catalog.Meter, len(keys))
	err := lookupKeys(ctx, db, `SELECT `+meterColumns+`, meter_key FROM meters WHERE meter_key IN (%s)`, keys, func(rows *sql.Rows) error {
		var k int64
		m, err := scanMeter(rows, &k)
		if err != nil {
			return err
		}
		out[k] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: meters by key: %w", err)
	}
	return out, nil
}

// ScanSegments implements usage.Store.
func (db *DB) ScanSegments(ctx context.Context, sub, from, to int64, fn func(int64, []byte) error) error {
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT reported_us, data FROM usage_segments
		WHERE subscription_key = ? AND reported_us >= ? AND reported_us < ? ORDER BY reported_us, segment_id`), sub, from, to)
	if err != nil {
		return fmt.Errorf("store: scan segments: %w", err)
	}
	defer rows.Close()
	var at int64
	var data sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&at, &data); err != nil {
			return fmt.Errorf("store: scan segments: %w", err)
		}
		if err := fn(at, data); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Ingest implements usage.Store.
func (db *DB) Ingest(ctx context.Context, fn func(usage.IngestTx) error) error {
	if db.dialect == Postgres {
		return db.ingestPostgres(ctx, fn)
	}
	db.keys.mu.Lock() // the key log's memory changes only with commits
	defer db.keys.mu.Unlock()
	if len(db.keys.pending) >= mergeThreshold {
		// In a transaction of its own, before the records' transaction
		// takes its reported time: a merge may take seconds.
		if err := db.mergeKeyLog(ctx); err != nil {
			return err
		}
	}
	tx, err := db.write.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see _txlock
	if err != nil {
		return fmt.Errorf("store: begin ingest: %w", err)
	}
	defer tx.Rollback()
	kt := &sqliteKeyTx{log: &db.keys, staged: make(map[[16]byte]keyEntry)}
	if err := db.keys.begin(ctx, tx, kt); err != nil {
		return fmt.Errorf("store: load the key log: %w", err)
	}
	if err := fn(&sqliteIngest{tx: tx, keys: kt}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		db.keys.loaded = false
		return fmt.Errorf("store: commit ingest: %w", err)
	}
	db.keys.commit(kt)
	db.maybeBuildRunFilters()
	return nil
}

type sqliteIngest struct {
	tx   *sql.Tx
	keys *sqliteKeyTx
}

func (t *sqliteIngest) InstanceKeys(ctx context.Context, insts []usage.NewInstance) ([]int64, error) {
	ins, err := t.tx.PrepareContext(ctx, `INSERT INTO usage_instances (subscription_key, instance_hash, instance_data) VALUES (?, ?, ?)
		ON CONFLICT (subscription_key, instance_hash) DO NOTHING`)
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	sel, err := t.tx.PrepareContext(ctx, `SELECT instance_key FROM usage_instances WHERE subscription_key = ? AND instance_hash = ?`)
	if err != nil {
		return nil, err
	}
	defer sel.Close()
	keys := make([]int64, len(insts))
	for i, in := range insts {
		if _, err := ins.ExecContext(ctx, in.SubscriptionKey, in.Hash[:], in.Data); err != nil {
			return nil, err
		}
		if err := sel.QueryRowContext(ctx, in.SubscriptionKey, in.Hash[:]).Scan(&keys[i]); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// keysPerInsert is how many keys one statement carries on SQLite: fewer
// statements, and so less per-row overhead, on the hottest path.
const keysPerInsert = 250

func (t *sqliteIngest) InsertSegments(ctx context.Context, segs []usage.Segment) error {
	ins, err := t.tx.PrepareContext(ctx, `INSERT INTO usage_segments (subscription_key, reported_us, record_count, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for _, s := range segs {
		if _, err := ins.ExecContext(ctx, s.SubscriptionKey, s.ReportedAt, s.Records, s.Data); err != nil {
			return err
		}
	}
	return nil
}

// ingestPostgres runs fn in a transaction on a native pgx connection, so
// that keys and segments can be written with COPY.
func (db *DB) ingestPostgres(ctx context.Context, fn func(usage.IngestTx) error) error {
	conn, err := db.write.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: ingest connection: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("store: begin ingest: %w", err)
		}
		defer tx.Rollback(ctx)
		if err := fn(&pgIngest{tx: tx}); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("store: commit ingest: %w", err)
		}
		return nil
	})
}

type pgIngest struct{ tx pgx.Tx }

// CreateInstances implements usage.InstanceCreator: on PostgreSQL the new
// instances are inserted in a statement of their own (autocommit) before
// the records' transaction, which then only reads them, so that
// concurrent ingest transactions do not wait for each other's uncommitted
// instance rows. On SQLite, whose writer is single, it does nothing.
func (db *DB) CreateInstances(ctx context.Context, insts []usage.NewInstance) error {
	if db.dialect != Postgres || len(insts) == 0 {
		return nil
	}
	subs, hashes, data := instanceArrays(insts)
	_, err := db.write.ExecContext(ctx, insertInstances, subs, hashes, data)
	return err
}

// insertInstances inserts instances (subscription keys, hashes, data as
// arrays), in a fixed order so that concurrent statements cannot deadlock.
const insertInstances = `INSERT INTO usage_instances (subscription_key, instance_hash, instance_data)
		SELECT * FROM unnest($1::bigint[], $2::bytea[], $3::text[]) ORDER BY 1, 2
		ON CONFLICT (subscription_key, instance_hash) DO NOTHING`

// InstanceKeys implements usage.IngestTx on PostgreSQL. The instances
// usually exist already (usage creates them before the transaction through
// DB.CreateInstances), so it reads first and inserts only those missing.
func (t *pgIngest) InstanceKeys(ctx context.Context, insts []usage.NewInstance) ([]int64, error) {
	keys := make([]int64, len(insts))
	if err := t.readInstanceKeys(ctx, insts, keys); err != nil {
		return nil, err
	}
	var missing []usage.NewInstance
	var at []int
	for i, k := range keys {
		if k == 0 {
			missing, at = append(missing, insts[i]), append(at, i)
		}
	}
	if len(missing) == 0 {
		return keys, nil
	}
	subs, hashes, data := instanceArrays(missing)
	if _, err := t.tx.Exec(ctx, insertInstances, subs, hashes, data); err != nil {
		return nil, err
	}
	found := make([]int64, len(missing))
	if err := t.readInstanceKeys(ctx, missing, found); err != nil {
		return nil, err
	}
	for j, i := range at {
		keys[i] = found[j]
	}
	return keys, nil
}

// readInstanceKeys sets keys[i] to the key of insts[i] when it exists.
func (t *pgIngest) readInstanceKeys(ctx context.Context, insts []usage.NewInstance, keys []int64) error {
	subs, hashes, _ := instanceArrays(insts)
	rows, err := t.tx.Query(ctx, `SELECT i.ord, u.instance_key FROM unnest($1::bigint[], $2::bytea[]) WITH ORDINALITY AS i(sub, hash, ord)
		JOIN usage_instances u ON u.subscription_key = i.sub AND u.instance_hash = i.hash`, subs, hashes)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var ord, k int64
		if err := rows.Scan(&ord, &k); err != nil {
			return err
		}
		keys[ord-1] = k
	}
	return rows.Err()
}

// instanceArrays returns instances as the column arrays the statements take.
func instanceArrays(insts []usage.NewInstance) (subs []int64, hashes [][]byte, data []string) {
	subs, hashes, data = make([]int64, len(insts)), make([][]byte, len(insts)), make([]string, len(insts))
	for i := range insts {
		in := &insts[i]
		subs[i], hashes[i], data[i] = in.SubscriptionKey, in.Hash[:], in.Data
	}
	return subs, hashes, data
}

func (t *pgIngest) InsertKeys(ctx context.Context, rows []usage.KeyRow) (map[[16]byte]int64, error) {
	if _, err := t.tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS ingest_keys (record_key uuid, fingerprint bigint, subscription_key bigint) ON COMMIT DELETE ROWS`); err != nil {
		return nil, err
	}
	if _, err := t.tx.CopyFrom(ctx, pgx.Identifier{"ingest_keys"}, []string{"record_key", "fingerprint", "subscription_key"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			return []any{rows[i].Key, rows[i].Fingerprint, rows[i].SubscriptionKey}, nil
		})); err != nil {
		return nil, err
	}
	// Rows inserted now come back; the others existed (possibly committed
	// a moment ago by another node) and are read in a second statement,
	// which sees every committed row.
	res, err := t.tx.Query(ctx, `INSERT INTO usage_record_keys (record_key, fingerprint, subscription_key)
		SELECT record_key, fingerprint, subscription_key FROM ingest_keys ORDER BY record_key
		ON CONFLICT DO NOTHING RETURNING record_key`)
	if err != nil {
		return nil, err
	}
	inserted := make(map[[16]byte]bool, len(rows))
	for res.Next() {
		var k [16]byte
		if err := res.Scan(&k); err != nil {
			res.Close()
			return nil, err
		}
		inserted[k] = true
	}
	res.Close()
	if err := res.Err(); err != nil {
		return nil, err
	}
	existing := make(map[[16]byte]int64)
	if len(inserted) == len(rows) {
		return existing, nil
	}
	var missing [][16]byte
	for _, r := range rows {
		if !inserted[r.Key] {
			missing = append(missing, r.Key)
		}
	}
	sel, err := t.tx.Query(ctx, `SELECT record_key, fingerprint FROM usage_record_keys WHERE record_key = ANY($1::uuid[])`, missing)
	if err != nil {
		return nil, err
	}
	defer sel.Close()
	for sel.Next() {
		var k [16]byte
		var fp int64
		if err := sel.Scan(&k, &fp); err != nil {
			return nil, err
		}
		existing[k] = fp
	}
	return existing, sel.Err()
}

func (t *pgIngest) InsertSegments(ctx context.Context, segs []usage.Segment) error {
	_, err := t.tx.CopyFrom(ctx, pgx.Identifier{"usage_segments"}, []string{"subscription_key", "reported_us", "record_count", "data"},
		pgx.CopyFromSlice(len(segs), func(i int) ([]any, error) {
			s := &segs[i]
			return []any{s.SubscriptionKey, s.ReportedAt, int32(s.Records), s.Data}, nil
		}))
	return err
}
