// Package store keeps Reckon's data in SQLite (the embedded default) or
// PostgreSQL (production). Both dialects implement the same repositories
// and pass the same conformance suite (package storetest); the SQL is
// written for both, side by side, where they differ.
package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // the SQLite driver: pure Go, no cgo
)

//go:embed migrations
var migrations embed.FS

// Dialect names a SQL dialect.
type Dialect string

// Dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// DB is an open store.
type DB struct {
	dialect Dialect
	// write is the connection pool that writes; for SQLite it has exactly
	// one connection, which is how SQLite wants its writers.
	write *sql.DB
	// read serves queries; for PostgreSQL it is the same pool as write.
	read *sql.DB
	desc string
	// keys is the SQLite idempotency key log's in-memory side.
	keys keyLog
	// stop ends background work (SQLite's key filter build) on Close.
	stop      chan struct{}
	closeOnce sync.Once
}

// Options tune Open.
type Options struct {
	// SQLiteCacheMiB is the page cache per SQLite connection.
	SQLiteCacheMiB int
	// MaxConns bounds the PostgreSQL pool.
	MaxConns int
}

// Open opens (and migrates) the store named by dsn: "postgres://…" or
// "postgresql://…" for PostgreSQL; "sqlite:PATH", "file:PATH" or a bare path
// for SQLite. An empty dsn means SQLite at dataDir/reckon.db.
func Open(ctx context.Context, dsn, dataDir string, opt Options) (*DB, error) {
	if opt.SQLiteCacheMiB <= 0 {
		opt.SQLiteCacheMiB = 64
	}
	if opt.MaxConns <= 0 {
		opt.MaxConns = 16
	}
	var db *DB
	var err error
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err = openPostgres(dsn, opt)
	default:
		path := dsn
		path = strings.TrimPrefix(path, "sqlite://")
		path = strings.TrimPrefix(path, "sqlite:")
		path = strings.TrimPrefix(path, "file:")
		if path == "" {
			if dataDir == "" {
				dataDir = "."
			}
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, fmt.Errorf("store: create data directory: %w", err)
			}
			path = filepath.Join(dataDir, "reckon.db")
		}
		db, err = openSQLite(path, opt)
	}
	if err != nil {
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openSQLite(path string, opt Options) (*DB, error) {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	dsn := func(cacheMiB int) string {
		q := url.Values{}
		for _, p := range []string{
			"journal_mode(WAL)",
			// FULL: a commit is on disk before the ingest response says so.
			"synchronous(FULL)",
			"busy_timeout(10000)",
			"foreign_keys(ON)",
			fmt.Sprintf("cache_size(-%d)", cacheMiB*1024),
			"temp_store(MEMORY)",
		} {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	// The writer keeps the idempotency index hot in a large cache; readers
	// mostly scan segments and share the OS page cache.
	write, err := sql.Open("sqlite", dsn(opt.SQLiteCacheMiB)+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	if err := write.Ping(); err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	read, err := sql.Open("sqlite", dsn(min(opt.SQLiteCacheMiB, 32)))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("store: open sqlite: %w", err)
	}
	read.SetMaxOpenConns(8)
	read.SetMaxIdleConns(8)
	return &DB{dialect: SQLite, write: write, read: read, desc: "sqlite:" + path, stop: make(chan struct{})}, nil
}

func openPostgres(dsn string, opt Options) (*DB, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db.SetMaxOpenConns(opt.MaxConns)
	db.SetMaxIdleConns(opt.MaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to postgres: %w", err)
	}
	return &DB{dialect: Postgres, write: db, read: db, desc: "postgres:" + redactDSN(dsn)}, nil
}

// RedactDSN describes a DSN as Open reads it, without its password.
func RedactDSN(dsn string) string {
	switch {
	case dsn == "":
		return "(SQLite in the data directory)"
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres://" + redactDSN(dsn)
	}
	return dsn // an SQLite path holds no secret
}

// redactDSN hides the password of a PostgreSQL URL.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Host + u.Path + "?" + u.RawQuery
}

// Dialect reports which SQL dialect the store speaks.
func (db *DB) Dialect() Dialect { return db.dialect }

// IngestCommitters is how many ingest transactions are worth running at
// once (usage.Config.Committers): one on SQLite, whose writer is single;
// four on PostgreSQL, whose transactions run concurrently.
func (db *DB) IngestCommitters() int {
	if db.dialect == Postgres {
		return 4
	}
	return 1
}

// String describes the store without secrets.
func (db *DB) String() string { return db.desc }

// Close closes the store.
func (db *DB) Close() error {
	if db.stop != nil {
		db.closeOnce.Do(func() { close(db.stop) })
	}
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	return err
}

// Ping checks that the store answers.
func (db *DB) Ping(ctx context.Context) error {
	return db.read.PingContext(ctx)
}

func (db *DB) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+string(db.dialect))
	if err != nil {
		return err
	}
	var opts []goose.ProviderOption
	dialect := goose.DialectSQLite3
	if db.dialect == Postgres {
		dialect = goose.DialectPostgres
		// Several nodes may start at once; one migrates, the others wait.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, db.write, sub, opts...)
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// rebind turns ?-placeholders into $n for PostgreSQL.
func (db *DB) rebind(q string) string {
	if db.dialect != Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// Secret returns the named server secret, creating it (32 random bytes) the
// first time. Every node sharing the store gets the same secret.
func (db *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	if _, err := db.write.ExecContext(ctx, db.rebind(`INSERT INTO server_secrets (name, secret, created_us) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`),
		name, fresh, time.Now().UnixMicro()); err != nil {
		return nil, fmt.Errorf("store: create secret: %w", err)
	}
	var secret []byte
	if err := db.read.QueryRowContext(ctx, db.rebind(`SELECT secret FROM server_secrets WHERE name = ?`), name).Scan(&secret); err != nil {
		return nil, fmt.Errorf("store: read secret: %w", err)
	}
	return secret, nil
}
