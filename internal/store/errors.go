package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/reckon-billing/reckon/internal/billing"
)

// UnavailableRetryAfter is the Retry-After, in seconds, of a request that
// failed because the database was unavailable: long enough for a
// PostgreSQL restart or a failover to finish, short enough for an ingest
// client to catch up.
const UnavailableRetryAfter = 5

// IsUnavailable reports whether err, anywhere in its chain, is a database
// driver error that means "the database cannot serve this right now, but
// may again soon, without anything changing in the request": the
// connection was refused, reset or closed; PostgreSQL is shutting down or
// starting (57P01, 57P02, 57P03), out of connections or disk (class 53),
// a connection exception (class 08), a read-only transaction on a standby
// (25006), or a serialization failure or deadlock (40001, 40P01); SQLite is
// full (SQLITE_FULL), read-only (SQLITE_READONLY), busy past its busy
// timeout (SQLITE_BUSY, SQLITE_LOCKED), failed an I/O (SQLITE_IOERR) or
// cannot open its file (SQLITE_CANTOPEN).
//
// A cancelled request (context.Canceled) is not unavailability: the caller
// went away. Errors that are not driver errors (bad SQL, constraint
// violations, bugs) are not either: they stay internal errors.
func IsUnavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED,
			sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources: disk full, out of memory, too many connections
			pe.Code == "57P01",               // admin_shutdown
			pe.Code == "57P02",               // crash_shutdown
			pe.Code == "57P03",               // cannot_connect_now (starting up, or in recovery)
			pe.Code == "25006",               // read_only_sql_transaction: a standby, during a failover
			pe.Code == "40001",               // serialization_failure
			pe.Code == "40P01":               // deadlock_detected
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EROFS) {
		return true
	}
	if pgconn.Timeout(err) && !errors.Is(err, context.DeadlineExceeded) {
		return true // a network timeout inside the driver, not the request's own deadline
	}
	var ne *net.OpError
	if errors.As(err, &ne) {
		return true
	}
	return false
}

// Unavailable returns, when IsUnavailable(err), the domain error a caller
// sees: KindUnavailable, code "ServiceUnavailable", Retry-After
// UnavailableRetryAfter seconds, with err as its logged cause. It returns
// nil for any other error.
func Unavailable(err error) *billing.Error {
	if !IsUnavailable(err) {
		return nil
	}
	return &billing.Error{Kind: billing.KindUnavailable, Code: "ServiceUnavailable", RetryAfter: UnavailableRetryAfter,
		Message: "The database is unavailable right now; retry the request after the time in Retry-After.",
		Err:     err}
}
