package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/store"
)

// sqliteError runs the statements on a fresh SQLite database and returns
// the error of the last one.
func sqliteError(t *testing.T, stmts ...string) error {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "e.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // pragmas are per connection
	var last error
	for i, s := range stmts {
		_, last = db.Exec(s)
		if last != nil && i < len(stmts)-1 {
			t.Fatalf("%s: %v", s, last)
		}
	}
	if last == nil {
		t.Fatalf("%s did not fail", stmts[len(stmts)-1])
	}
	return fmt.Errorf("store: insert: %w", last) // as the store wraps them
}

func TestIsUnavailable(t *testing.T) {
	create := "CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)"
	full := sqliteError(t, create, "INSERT INTO t VALUES (1, x'00')", "PRAGMA max_page_count = 1",
		"INSERT INTO t SELECT 2, randomblob(100000)")
	readOnly := sqliteError(t, create, "PRAGMA query_only = 1", "INSERT INTO t VALUES (1, x'00')")
	syntax := sqliteError(t, "SELEKT 1")
	unique := sqliteError(t, create, "INSERT INTO t VALUES (1, x'00')", "INSERT INTO t VALUES (1, x'00')")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now: connection refused
	pgDB, err := sql.Open("pgx", fmt.Sprintf("postgres://x@127.0.0.1:%d/x?sslmode=disable&connect_timeout=2", port))
	if err != nil {
		t.Fatal(err)
	}
	defer pgDB.Close()
	refused := pgDB.PingContext(ctx)
	if refused == nil {
		t.Fatal("a ping of a closed port succeeded")
	}

	pg := func(code string) error {
		return fmt.Errorf("store: query: %w", &pgconn.PgError{Severity: "FATAL", Code: code, Message: "test"})
	}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"SQLITE_FULL", full, true},
		{"SQLITE_READONLY", readOnly, true},
		{"SQLite syntax error", syntax, false},
		{"SQLite unique constraint", unique, false},
		{"PostgreSQL connection refused", refused, true},
		{"57P01 admin_shutdown", pg("57P01"), true},
		{"57P03 cannot_connect_now", pg("57P03"), true},
		{"08006 connection_failure", pg("08006"), true},
		{"53100 disk_full", pg("53100"), true},
		{"40001 serialization_failure", pg("40001"), true},
		{"23505 unique_violation", pg("23505"), false},
		{"42601 syntax_error", pg("42601"), false},
		{"conn closed", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true},
		{"bad connection", fmt.Errorf("x: %w", sql.ErrConnDone), true},
		{"cancelled request", fmt.Errorf("x: %w", context.Canceled), false},
		{"request deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{"plain error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if got := store.IsUnavailable(c.err); got != c.want {
			t.Errorf("%s (%v): IsUnavailable = %v, want %v", c.name, c.err, got, c.want)
		}
		u := store.Unavailable(c.err)
		if c.want != (u != nil) {
			t.Errorf("%s: Unavailable = %v", c.name, u)
			continue
		}
		if u != nil && (u.Kind != billing.KindUnavailable || u.RetryAfter != store.UnavailableRetryAfter ||
			!errors.Is(u, c.err) || u.Code != "ServiceUnavailable" || strings.Contains(u.Message, "SQL")) {
			t.Errorf("%s: Unavailable = %+v", c.name, u)
		}
	}
}
