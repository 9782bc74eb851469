// Package bench is Reckon's benchmark tool, behind "reckon bench": it
// starts a real Reckon server in the process (real store, real HTTP API on a
// loopback listener), drives it the way clients do, and measures, next to
// each figure, a baseline taken in the same run: the raw store path of the
// same data with no HTTP, JSON or validation. Both figures and their ratio
// are reported, so that a result can be judged on any machine.
package bench

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for raw reads
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for raw reads

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// SQLiteCacheMiB is the SQLite page cache of the stores the benchmarks
// serve from: the default of "reckon serve".
const SQLiteCacheMiB = 256

// Machine describes where a benchmark ran.
type Machine struct {
	NProc       int    `json:"nproc"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	CPUModel    string `json:"cpuModel"`
	MemTotalMiB int64  `json:"memTotalMiB"`
	GoVersion   string `json:"goVersion"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	// LoadAverage is /proc/loadavg when the benchmark started: other work
	// on the machine skews the figures.
	LoadAverage string `json:"loadAverage"`
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	m := Machine{
		NProc: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAverage = strings.Join(f[:3], " ")
		}
	}
	if kb, ok := procField("/proc/meminfo", "MemTotal:"); ok {
		m.MemTotalMiB = kb / 1024
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

// procField reads a "Name:   123 kB" line of a /proc file, in kB.
func procField(path, name string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			v, err := strconv.ParseInt(f[0], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// RSSBytes returns the resident set size of this process (VmRSS).
func RSSBytes() (int64, bool) {
	kb, ok := procField("/proc/self/status", "VmRSS:")
	return kb * 1024, ok
}

// benchStore is a store opened for a benchmark, with what is needed to
// read it raw and to remove it afterwards.
type benchStore struct {
	DB      *store.DB
	dsn     string // for store.Open and openRaw
	Desc    string // human description, without secrets
	cleanup func()
}

// StoreSpec says where a benchmark keeps its store.
type StoreSpec struct {
	// PostgresDSN, when set, names a PostgreSQL server (postgres://…): each
	// store is a fresh database created on it and dropped afterwards. When
	// empty, each store is an SQLite file in a temporary directory.
	PostgresDSN string
	// TempDir is where temporary SQLite stores are made; empty means the
	// system's temporary directory.
	TempDir string
	// Keep leaves the stores in place (and prints where) instead of
	// removing them.
	Keep bool
}

func (s StoreSpec) backend() string {
	if s.PostgresDSN != "" {
		return "postgres"
	}
	return "sqlite"
}

func (s StoreSpec) check() error {
	if s.PostgresDSN != "" && !strings.HasPrefix(s.PostgresDSN, "postgres://") && !strings.HasPrefix(s.PostgresDSN, "postgresql://") {
		return errors.New("bench: --db must be a postgres:// URL (without it the benchmark uses SQLite in a temporary directory)")
	}
	return nil
}

// freshStore creates an empty store: an SQLite file in a new temporary
// directory, or a new PostgreSQL database. name distinguishes the stores of
// one run. cacheMiB is the SQLite page cache.
func (s StoreSpec) freshStore(ctx context.Context, name string, cacheMiB int, progress io.Writer) (*benchStore, error) {
	if s.PostgresDSN == "" {
		dir, err := os.MkdirTemp(s.TempDir, "reckon-bench-"+name+"-")
		if err != nil {
			return nil, fmt.Errorf("bench: temporary directory: %w", err)
		}
		bs, err := openSQLiteStore(ctx, dir, cacheMiB)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		bs.cleanup = func() {
			if s.Keep {
				fmt.Fprintf(progress, "kept the %s store in %s\n", name, dir)
				return
			}
			os.RemoveAll(dir)
		}
		return bs, nil
	}
	dsn, dbName, drop, err := createPostgresDatabase(ctx, s.PostgresDSN, "reckon_bench_"+name)
	if err != nil {
		return nil, err
	}
	bs, err := openPostgresStore(ctx, dsn, dbName)
	if err != nil {
		drop()
		return nil, err
	}
	bs.cleanup = func() {
		if s.Keep {
			fmt.Fprintf(progress, "kept the %s store: PostgreSQL database %s\n", name, dbName)
			return
		}
		drop()
	}
	return bs, nil
}

func openSQLiteStore(ctx context.Context, dir string, cacheMiB int) (*benchStore, error) {
	path := dir + "/reckon.db"
	dsn := "sqlite:" + path
	db, err := store.Open(ctx, dsn, dir, store.Options{SQLiteCacheMiB: cacheMiB})
	if err != nil {
		return nil, err
	}
	bs := &benchStore{DB: db, dsn: dsn, cleanup: func() {}}
	bs.Desc = fmt.Sprintf("SQLite %s (modernc.org/sqlite; WAL, synchronous=FULL; store.Options{SQLiteCacheMiB: %d}) at %s",
		bs.version(ctx), cacheMiB, path)
	return bs, nil
}

func openPostgresStore(ctx context.Context, dsn, dbName string) (*benchStore, error) {
	db, err := store.Open(ctx, dsn, "", store.Options{})
	if err != nil {
		return nil, err
	}
	bs := &benchStore{DB: db, dsn: dsn, cleanup: func() {}}
	host := "?"
	if u, err := url.Parse(dsn); err == nil {
		host = u.Host
	}
	bs.Desc = fmt.Sprintf("PostgreSQL %s (pgx) at %s, database %s", bs.version(ctx), host, dbName)
	return bs, nil
}

// close closes the store and removes it unless kept.
func (b *benchStore) close() {
	b.DB.Close()
	b.cleanup()
}

func (b *benchStore) version(ctx context.Context) string {
	raw, err := openRaw(b.dsn, 1)
	if err != nil {
		return "?"
	}
	defer raw.Close()
	q := "SELECT sqlite_version()"
	if b.DB.Dialect() == store.Postgres {
		q = "SHOW server_version"
	}
	var v string
	if err := raw.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return "?"
	}
	if i := strings.IndexByte(v, ' '); i > 0 {
		v = v[:i]
	}
	return v
}

// rawReadCacheMiB is the page cache of a raw SQLite reader: the store's
// readers keep at most 32 MiB (they scan segments and share the OS cache).
const rawReadCacheMiB = 32

// openRaw opens the store's database with the driver alone, for the raw
// baselines and for counting what was stored. For SQLite it uses the
// store's read pragmas (and a read-only connection). conns bounds the pool.
func openRaw(dsn string, conns int) (*sql.DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(conns)
		return db, nil
	}
	path := strings.TrimPrefix(dsn, "sqlite:")
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", fmt.Sprintf("cache_size(-%d)", rawReadCacheMiB*1024), "temp_store(MEMORY)", "query_only(1)"} {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// rawRebind turns ?-placeholders into $n for PostgreSQL.
func rawRebind(dsn, q string) string {
	if !strings.HasPrefix(dsn, "postgres") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// countStored reports what the store holds: idempotency keys, records in
// segments, and segments.
func countStored(ctx context.Context, dsn string) (StoredCounts, error) {
	raw, err := openRaw(dsn, 1)
	if err != nil {
		return StoredCounts{}, err
	}
	defer raw.Close()
	var c StoredCounts
	keys := `SELECT COUNT(*) FROM usage_record_keys`
	if !strings.HasPrefix(dsn, "postgres") {
		// SQLite keeps recent keys in a log until they are merged, and
		// packs keys 32 bytes an entry in log batches and run blocks
		// (store/keylog.go).
		keys = `SELECT (SELECT COUNT(*) FROM usage_record_keys) + (SELECT COUNT(*) FROM usage_key_log) +
			(SELECT COALESCE(SUM(LENGTH(entries)), 0) / 32 FROM usage_key_batches) +
			(SELECT COALESCE(SUM(LENGTH(entries)), 0) / 32 FROM usage_key_blocks)`
	}
	if err := raw.QueryRowContext(ctx, keys).Scan(&c.Keys); err != nil {
		return c, fmt.Errorf("bench: count keys: %w", err)
	}
	if err := raw.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(record_count), 0) FROM usage_segments`).Scan(&c.Segments, &c.Records); err != nil {
		return c, fmt.Errorf("bench: count segments: %w", err)
	}
	return c, nil
}

// createPostgresDatabase creates a fresh database on the server of base and
// returns its DSN and a function that drops it.
func createPostgresDatabase(ctx context.Context, base, prefix string) (dsn, name string, drop func(), err error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", "", nil, fmt.Errorf("bench: --db: %w", err)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", "", nil, fmt.Errorf("bench: postgres: %w", err)
	}
	defer admin.Close()
	buf := make([]byte, 5)
	rand.Read(buf)
	name = prefix + "_" + hex.EncodeToString(buf)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(cctx, "CREATE DATABASE "+name); err != nil {
		return "", "", nil, fmt.Errorf("bench: create PostgreSQL database %s: %w", name, err)
	}
	drop = func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		dctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		a.ExecContext(dctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	}
	u.Path = "/" + name
	return u.String(), name, drop, nil
}

// server is a Reckon server running in this process over a store, on a
// loopback listener, wired as "reckon serve" wires it.
type server struct {
	URL         string
	AdminToken  string
	IngestToken string
	Accounts    *account.Service
	Catalog     *catalog.Service
	Usage       *usage.Service

	http *http.Server
	done chan error
}

func startServer(ctx context.Context, db *store.DB, log *slog.Logger, maxIngestBytes int64) (*server, error) {
	key, err := db.Secret(ctx, "continuation-token")
	if err != nil {
		return nil, err
	}
	s := &server{done: make(chan error, 1)}
	s.Accounts = account.NewService(db, time.Now)
	s.Catalog = catalog.NewService(db, time.Now)
	s.Usage = usage.NewService(db, time.Now, log, usage.Config{Committers: db.IngestCommitters()}) // as serve
	authSvc := auth.NewService(db, time.Now, auth.Config{Issuer: "https://reckon-bench.invalid/adfs"})
	if s.AdminToken, s.IngestToken, err = benchPrincipals(ctx, authSvc); err != nil {
		s.Usage.Close()
		return nil, fmt.Errorf("bench: identity: %w", err)
	}
	// No request budgets: the benchmark measures the service, not the throttle.
	api := httpapi.New(httpapi.Config{MaxIngestBytes: maxIngestBytes},
		httpapi.Deps{Log: log, Accounts: s.Accounts, Catalog: s.Catalog, Usage: s.Usage, Auth: authSvc, TokenKey: key, Ready: db.Ping})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Usage.Close()
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	s.http = &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	s.URL = "http://" + ln.Addr().String()
	go func() { s.done <- s.http.Serve(ln) }()
	return s, nil
}

// benchPrincipals creates the benchmark's operator and usage writer (the
// clients send usage as the writer, as a meter source would) and returns a
// token of each.
func benchPrincipals(ctx context.Context, a *auth.Service) (admin, ingest string, err error) {
	if err := a.Init(ctx); err != nil {
		return "", "", err
	}
	if _, _, _, err := a.Bootstrap(ctx, "bench-operator", randomToken()); err != nil {
		return "", "", err
	}
	if _, _, err := a.PutPrincipal(ctx, "bench-operator", "bench-writer", auth.PrincipalInput{DisplayName: "Benchmark usage writer"}); err != nil {
		return "", "", err
	}
	if _, _, err := a.PutAssignment(ctx, "bench-operator", "be4c0000-0000-4000-8000-000000000001",
		auth.Assignment{PrincipalID: "bench-writer", RoleDefinitionName: auth.RoleUsageWriter, Scope: auth.ScopeRoot}); err != nil {
		return "", "", err
	}
	at, err := a.IssueFor(ctx, "bench-operator", "", 24*time.Hour)
	if err != nil {
		return "", "", err
	}
	it, err := a.IssueFor(ctx, "bench-writer", "", 24*time.Hour)
	if err != nil {
		return "", "", err
	}
	return at.AccessToken, it.AccessToken, nil
}

func (s *server) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.http.Shutdown(ctx)
	s.Usage.Close()
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// httpClient is the client of the benchmarks: keep-alive connections, no
// compression, enough idle connections for every client goroutine.
func httpClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}}
}

// benchNamespace derives the GUIDs of benchmark data sets.
var benchNamespace = uuid.MustParse("6f1d3a52-3f0e-4d57-9a7c-2f3b8e0c5a11")

func subscriptionGUID(seed uint64, i int) string {
	return uuid.NewSHA1(benchNamespace, fmt.Appendf(nil, "%d/subscription/%d", seed, i)).String()
}

func meterGUID(seed uint64, i int) string {
	return uuid.NewSHA1(benchNamespace, fmt.Appendf(nil, "%d/meter/%d", seed, i)).String()
}

// meterTemplates are the meters of the benchmark catalog, after Azure's.
var meterTemplates = []catalog.Meter{
	{MeterName: "D2 v3", MeterCategory: "Virtual Machines", MeterSubCategory: "Dv3 Series", Unit: "1 Hour"},
	{MeterName: "D4 v3", MeterCategory: "Virtual Machines", MeterSubCategory: "Dv3 Series", Unit: "1 Hour"},
	{MeterName: "B2s", MeterCategory: "Virtual Machines", MeterSubCategory: "BS Series", Unit: "1 Hour"},
	{MeterName: "E8s v5", MeterCategory: "Virtual Machines", MeterSubCategory: "Esv5 Series", Unit: "1 Hour"},
	{MeterName: "P10 Disks", MeterCategory: "Storage", MeterSubCategory: "Premium SSD Managed Disks", Unit: "1/Month"},
	{MeterName: "LRS Data Stored", MeterCategory: "Storage", MeterSubCategory: "Tiered Block Blob", Unit: "1 GB/Month"},
	{MeterName: "Hot Read Operations", MeterCategory: "Storage", MeterSubCategory: "Tiered Block Blob", Unit: "10K"},
	{MeterName: "Hot Write Operations", MeterCategory: "Storage", MeterSubCategory: "Tiered Block Blob", Unit: "10K"},
	{MeterName: "Data Transfer Out", MeterCategory: "Bandwidth", MeterSubCategory: "Inter-Region", Unit: "1 GB"},
	{MeterName: "Standard Data Processed", MeterCategory: "Load Balancer", MeterSubCategory: "Standard", Unit: "1 GB"},
	{MeterName: "Standard IPv4 Static Public IP", MeterCategory: "Virtual Network", MeterSubCategory: "IP Addresses", Unit: "1 Hour"},
	{MeterName: "vCore", MeterCategory: "SQL Database", MeterSubCategory: "General Purpose - Compute Gen5", Unit: "1 Hour"},
	{MeterName: "Data Stored", MeterCategory: "SQL Database", MeterSubCategory: "General Purpose - Storage", Unit: "1 GB/Month"},
	{MeterName: "P1 v3 App", MeterCategory: "Azure App Service", MeterSubCategory: "Premium v3 Plan", Unit: "1 Hour"},
	{MeterName: "Standard Execution Time", MeterCategory: "Functions", MeterSubCategory: "Premium", Unit: "10 GB Seconds"},
	{MeterName: "Data Ingestion", MeterCategory: "Log Analytics", MeterSubCategory: "Analytics Logs", Unit: "1 GB"},
	{MeterName: "Standard Node", MeterCategory: "Azure Kubernetes Service", MeterSubCategory: "Standard", Unit: "1 Hour"},
	{MeterName: "Request Units", MeterCategory: "Azure Cosmos DB", MeterSubCategory: "Provisioned Throughput", Unit: "100 RU/s/Hour"},
	{MeterName: "Standard Messaging Operations", MeterCategory: "Service Bus", MeterSubCategory: "Standard", Unit: "1M"},
	{MeterName: "Secrets Operations", MeterCategory: "Key Vault", MeterSubCategory: "Standard", Unit: "10K"},
}

var locations = []string{"eastus", "westeurope", "northeurope", "westus2", "southeastasia", "uksouth", "centralus", "japaneast"}

// populate creates subscriptions and meters through the domain services
// (the code behind the operator API) with a few writers at once.
func populate(ctx context.Context, db *store.DB, seed uint64, subs, meters int) (subIDs, meterIDs []string, err error) {
	accounts := account.NewService(db, time.Now)
	cat := catalog.NewService(db, time.Now)
	subIDs = make([]string, subs)
	for i := range subIDs {
		subIDs[i] = subscriptionGUID(seed, i)
	}
	meterIDs = make([]string, meters)
	for i := range meterIDs {
		meterIDs[i] = meterGUID(seed, i)
		m := meterTemplates[i%len(meterTemplates)]
		if i >= len(meterTemplates) {
			m.MeterName += " " + strconv.Itoa(i/len(meterTemplates)+1)
		}
		m.MeterRegion = "US East"
		if _, _, err := cat.PutMeter(ctx, meterIDs[i], m); err != nil {
			return nil, nil, fmt.Errorf("bench: create meter: %w", err)
		}
	}
	err = parallel(ctx, 4, subs, func(i int) error {
		_, _, err := accounts.Put(ctx, subIDs[i], account.Subscription{
			DisplayName: fmt.Sprintf("Benchmark subscription %d", i), BillingAccount: fmt.Sprintf("bench-account-%d", i%50),
		})
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("bench: create subscription: %w", err)
	}
	return subIDs, meterIDs, nil
}

// parallel calls fn(0..n-1) from workers goroutines and returns the first error.
func parallel(ctx context.Context, workers, n int, fn func(i int) error) error {
	var mu sync.Mutex
	next := 0
	var first error
	var wg sync.WaitGroup
	for range max(1, min(workers, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if first != nil || next >= n || ctx.Err() != nil {
					if first == nil && ctx.Err() != nil {
						first = ctx.Err()
					}
					mu.Unlock()
					return
				}
				i := next
				next++
				mu.Unlock()
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// Latency summarises request durations, in milliseconds.
type Latency struct {
	N    int     `json:"n"`
	P50  float64 `json:"p50Ms"`
	P95  float64 `json:"p95Ms"`
	P99  float64 `json:"p99Ms"`
	Max  float64 `json:"maxMs"`
	Mean float64 `json:"meanMs"`
}

func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	// Nearest-rank percentile.
	pct := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return ms(s[max(0, min(i, len(s)-1))])
	}
	var total time.Duration
	for _, d := range s {
		total += d
	}
	return Latency{N: len(s), P50: pct(50), P95: pct(95), P99: pct(99), Max: ms(s[len(s)-1]), Mean: ms(total / time.Duration(len(s)))}
}

// Goal is a target the issue sets, and whether this run met it.
type Goal struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Met    bool   `json:"met"`
	// Note qualifies the goal (for example, a goal stated for SQLite).
	Note string `json:"note,omitempty"`
}

// discardLogger is used when no log writer is given.
func newLogger(w io.Writer) *slog.Logger {
	if w == nil {
		w = io.Discard
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// readBody reads a response body fully into buf (reused between calls).
func readBody(buf *bytes.Buffer, r io.Reader) ([]byte, error) {
	buf.Reset()
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}
