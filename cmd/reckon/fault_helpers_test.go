package main

import (
	"bytes"
	"context"
	"database/sql/driver"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// ---- SQLite faults: the writer connection of a store under test ----

// sqliteWriters holds, by database path, the writer connection of every
// SQLite store opened in this test process (the store opens its single
// writer with _txlock=immediate). The fault tests set pragmas on it to make
// the database full (max_page_count) or read-only (query_only): real SQLite
// conditions, with real SQLITE_FULL and SQLITE_READONLY errors, without a
// special filesystem.
var sqliteWriters struct {
	once  sync.Once
	mu    sync.Mutex
	conns map[string]sqlite.ExecQuerierContext
}

func captureSQLiteWriters() {
	sqliteWriters.once.Do(func() {
		sqliteWriters.conns = map[string]sqlite.ExecQuerierContext{}
		sqlite.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
			if !strings.Contains(dsn, "_txlock=immediate") {
				return nil
			}
			path := strings.TrimPrefix(dsn, "file:")
			if i := strings.IndexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
			sqliteWriters.mu.Lock()
			sqliteWriters.conns[filepath.Clean(path)] = conn
			sqliteWriters.mu.Unlock()
			return nil
		})
	})
}

// sqlitePragma runs a pragma on the writer connection of the database at
// path and returns its result. The server must be idle: the connection is
// the store's, used here behind its pool's back.
func sqlitePragma(t testing.TB, path, pragma string) string {
	t.Helper()
	sqliteWriters.mu.Lock()
	conn := sqliteWriters.conns[filepath.Clean(path)]
	sqliteWriters.mu.Unlock()
	if conn == nil {
		t.Fatalf("no SQLite writer connection was opened on %s", path)
	}
	rows, err := conn.QueryContext(context.Background(), "PRAGMA "+pragma, nil)
	if err != nil {
		t.Fatalf("PRAGMA %s: %v", pragma, err)
	}
	defer rows.Close()
	vals := make([]driver.Value, len(rows.Columns()))
	if len(vals) == 0 {
		return ""
	}
	if err := rows.Next(vals); err != nil {
		if err == io.EOF {
			return ""
		}
		t.Fatalf("PRAGMA %s: %v", pragma, err)
	}
	return fmt.Sprint(vals[0])
}

// ---- A private PostgreSQL cluster ----

// privatePG is a PostgreSQL cluster of the test's own, which it may
// restart without disturbing the shared one other packages test against.
type privatePG struct {
	bin, dir, data, sock string
	port                 int
	asPostgres           bool // run the binaries as the postgres user (the test runs as root)
	logPath              string
}

// startPrivatePG initdbs and starts a private cluster, or skips the test
// with the reason (fails when CI=true).
func startPrivatePG(t *testing.T) *privatePG {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("private PostgreSQL cluster: %s (CI=true: this test must run)", msg)
		}
		t.Skipf("private PostgreSQL cluster: %s", msg)
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if p, err := exec.LookPath("initdb"); err == nil {
			bins = []string{p}
		} else {
			unavailable("no initdb in /usr/lib/postgresql/*/bin or on PATH")
		}
	}
	pg := &privatePG{bin: filepath.Dir(bins[len(bins)-1])}
	dir, err := os.MkdirTemp("", "reckon-pg-")
	if err != nil {
		t.Fatal(err)
	}
	pg.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	pg.data, pg.sock, pg.logPath = filepath.Join(dir, "data"), filepath.Join(dir, "sock"), filepath.Join(dir, "pg.log")
	for _, d := range []string{pg.data, pg.sock} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailable("running as root and there is no postgres user to run the cluster as: %v", err)
		}
		if _, err := exec.LookPath("runuser"); err != nil {
			unavailable("running as root and runuser is missing")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, pg.data, pg.sock} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		pg.asPostgres = true
	}
	if out, err := pg.run("initdb", "-D", pg.data, "-U", "postgres", "-A", "trust", "--no-sync"); err != nil {
		unavailable("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pg.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if out, err := pg.ctl("start"); err != nil {
		log, _ := os.ReadFile(pg.logPath)
		unavailable("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	t.Cleanup(func() { pg.ctl("stop", "-m", "immediate") })
	if out, err := pg.run("createdb", "-h", "127.0.0.1", "-p", strconv.Itoa(pg.port), "-U", "postgres", "reckon"); err != nil {
		t.Fatalf("createdb: %v\n%s", err, out)
	}
	return pg
}

// dsn is the DSN of the cluster's database "reckon".
func (pg *privatePG) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/reckon?sslmode=disable&connect_timeout=5", pg.port)
}

// run runs one of the cluster's binaries.
func (pg *privatePG) run(name string, args ...string) ([]byte, error) {
	path := filepath.Join(pg.bin, name)
	var cmd *exec.Cmd
	if pg.asPostgres {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// ctl runs pg_ctl with the cluster's options.
func (pg *privatePG) ctl(action string, args ...string) ([]byte, error) {
	full := []string{action, "-D", pg.data, "-w", "-t", "30", "-l", pg.logPath,
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50", pg.port, pg.sock)}
	return pg.run("pg_ctl", append(full, args...)...)
}

// ---- Raw HTTP ----

// faultConn opens a TCP connection to addr.
func faultConn(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedWithin reports whether the peer closes c (a read returns an error
// other than a timeout) within d; a response the server sends first is read
// and returned.
func closedWithin(c net.Conn, d time.Duration) (closed bool, got []byte) {
	c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return false, got
			}
			return true, got
		}
	}
}

// faultRequest sends one request and returns the status, the body and the
// Retry-After header.
func faultRequest(client *http.Client, method, url, token, contentType string, body io.Reader) (status int, data []byte, retryAfter string, err error) {
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		return 0, nil, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	data, err = io.ReadAll(resp.Body)
	return resp.StatusCode, data, resp.Header.Get("Retry-After"), err
}
