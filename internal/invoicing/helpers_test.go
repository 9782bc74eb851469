package invoicing_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"

	_ "github.com/jackc/pgx/v5/stdlib"
)

var ctx = context.Background()

// The test harness of package reckontest imports the HTTP layer; these
// tests need only stores, so they open them themselves, the same way:
// SQLite always, PostgreSQL when RECKON_TEST_POSTGRES_DSN is set (and then
// a failure to reach it fails the test).

type backend string

const (
	sqliteBackend   backend = "sqlite"
	postgresBackend backend = "postgres"
	postgresEnv             = "RECKON_TEST_POSTGRES_DSN"
)

func backends() []backend {
	if os.Getenv(postgresEnv) != "" {
		return []backend{sqliteBackend, postgresBackend}
	}
	return []backend{sqliteBackend}
}

func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// openStore opens a fresh, migrated store of kind b.
func openStore(t testing.TB, b backend) (*store.DB, string) {
	t.Helper()
	dsn := "sqlite:" + t.TempDir() + "/reckon.db"
	if b == postgresBackend {
		dsn = postgresDSN(t)
	}
	db, err := store.Open(context.Background(), dsn, t.TempDir(), store.Options{SQLiteCacheMiB: 16, MaxConns: 8})
	if err != nil {
		t.Fatalf("open %s store: %v", b, err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}

// postgresDSN creates a fresh PostgreSQL database, dropped after the test.
func postgresDSN(t testing.TB) string {
	base := os.Getenv(postgresEnv)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	defer admin.Close()
	buf := make([]byte, 6)
	rand.Read(buf)
	name := "reckon_test_" + hex.EncodeToString(buf)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("postgres (from %s) cannot create a test database: %v", postgresEnv, err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	u.Path = "/" + name
	return u.String()
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// textRenderer is a fake Renderer: a deterministic text dump of the
// invoice, so that tests can check what was rendered and stored.
type textRenderer struct{}

func (textRenderer) Render(inv *invoicing.Invoice) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s %s %s..%s\n", inv.Kind, inv.Name, inv.SubscriptionID, inv.PeriodName,
		inv.PeriodStart.Format(time.DateOnly), inv.PeriodEnd.Format(time.DateOnly))
	for _, l := range inv.Lines {
		fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s\n", l.Kind, l.MeterName, l.Quantity, l.IncludedQuantity, l.Amount, l.OriginalPeriod)
	}
	fmt.Fprintf(&b, "subtotal %s total %s %s\n", inv.SubTotal, inv.Total, inv.Currency)
	return []byte(b.String()), nil
}

// failingRenderer fails, to check that a failed issue stores nothing.
type failingRenderer struct{}

func (failingRenderer) Render(*invoicing.Invoice) ([]byte, error) {
	return nil, fmt.Errorf("renderer down")
}

const settle = time.Second

// fixture is a store with the services invoicing builds on, on a test
// clock.
type fixture struct {
	t        testing.TB
	backend  backend
	db       *store.DB
	dsn      string
	clock    *testClock
	accounts *account.Service
	catalog  *catalog.Service
	usage    *usage.Service
	charges  *charges.Service
	svc      *invoicing.Service
	n        int
}

func newFixture(t testing.TB, b backend, now time.Time, cfg invoicing.Config) *fixture {
	t.Helper()
	f := &fixture{t: t, backend: b, clock: &testClock{t: now}}
	f.db, f.dsn = openStore(t, b)
	f.accounts = account.NewService(f.db, f.clock.Now)
	f.catalog = catalog.NewService(f.db, f.clock.Now)
	f.usage = usage.NewService(f.db, f.clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), usage.Config{SettleMargin: settle})
	t.Cleanup(f.usage.Close)
	f.charges = charges.NewService(f.accounts, f.catalog, f.usage, f.clock.Now)
	f.svc = f.service(cfg)
	return f
}

// service returns another invoicing.Service over the same store, as a
// second server process would have.
func (f *fixture) service(cfg invoicing.Config) *invoicing.Service {
	if cfg.SettleMargin == 0 {
		cfg.SettleMargin = settle
	}
	return invoicing.NewService(f.db, f.accounts, f.charges, textRenderer{}, f.clock.Now, cfg)
}

func (f *fixture) serviceWith(r invoicing.Renderer, cfg invoicing.Config) *invoicing.Service {
	if cfg.SettleMargin == 0 {
		cfg.SettleMargin = settle
	}
	return invoicing.NewService(f.db, f.accounts, f.charges, r, f.clock.Now, cfg)
}

func (f *fixture) putSub(id, acct string, day int, region string) account.Subscription {
	f.t.Helper()
	s, _, err := f.accounts.Put(ctx, id, account.Subscription{DisplayName: "test " + id[:8], BillingAccount: acct, BillingDay: day, RegionInfo: region})
	if err != nil {
		f.t.Fatalf("put subscription: %v", err)
	}
	return s
}

// Meters of the test catalog (offer MS-AZR-0003P, USD).
const (
	meterVM      = "11111111-0000-4000-8000-000000000001" // 0.096 per hour, no tiers
	meterStorage = "11111111-0000-4000-8000-000000000002" // 5 included, tiers 0.0208 / 100: 0.02 / 1000: 0.0192
	meterEgress  = "11111111-0000-4000-8000-000000000003" // 10 included, tiers 0.087 / 50: 0.083
)

type testMeter struct {
	id, name, category string
	included           string
	tiers              [][2]string // min, price
}

var testMeters = []testMeter{
	{meterVM, "D2 v3", "Virtual Machines", "0", [][2]string{{"0", "0.096"}}},
	{meterStorage, "Hot LRS Data Stored", "Storage", "5", [][2]string{{"0", "0.0208"}, {"100", "0.02"}, {"1000", "0.0192"}}},
	{meterEgress, "Data Transfer Out", "Networking", "10", [][2]string{{"0", "0.087"}, {"50", "0.083"}}},
}

// importCatalog imports the test meters, with the given offer terms (a
// JSON array, "" for none).
func (f *fixture) importCatalog(terms string) {
	f.t.Helper()
	if terms == "" {
		terms = "[]"
	}
	var rc strings.Builder
	rc.WriteString(`{"OfferTerms":` + terms + `,"Meters":[`)
	for i, m := range testMeters {
		if i > 0 {
			rc.WriteByte(',')
		}
		var rates []string
		for _, t := range m.tiers {
			rates = append(rates, fmt.Sprintf(`"%s":%s`, t[0], t[1]))
		}
		fmt.Fprintf(&rc, `{"MeterId":"%s","MeterName":"%s","MeterCategory":"%s","MeterSubCategory":"","Unit":"1 Hour","MeterTags":[],"MeterRegion":"US East",`+
			`"MeterRates":{%s},"EffectiveDate":"2020-01-01T00:00:00Z","IncludedQuantity":%s}`, m.id, m.name, m.category, strings.Join(rates, ","), m.included)
	}
	rc.WriteString(`],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`)
	if _, err := f.catalog.Import(ctx, catalog.FormatRateCard, catalog.ImportParams{OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US"},
		strings.NewReader(rc.String())); err != nil {
		f.t.Fatalf("import catalog: %v", err)
	}
}

// rec is a usage record for ingest: an hour of usage (or dur) starting at
// start, reported at reported.
type rec struct {
	sub, meter string
	start      time.Time
	qty        string
	reported   time.Time
	dur        time.Duration
}

// ingest ingests records as the operator (with their reported times); the
// clock must be at or after every reported time.
func (f *fixture) ingest(recs ...rec) {
	f.t.Helper()
	for len(recs) > 0 {
		n := min(len(recs), 20_000)
		batch := f.usage.NewBatch(true)
		for i, r := range recs[:n] {
			f.n++
			if r.dur == 0 {
				r.dur = time.Hour
			}
			in := usage.RecordInput{
				ID: fmt.Sprintf("rec-%d", f.n), SubscriptionID: r.sub, MeterID: r.meter,
				Quantity:       json.RawMessage(`"` + r.qty + `"`),
				UsageStartTime: r.start.Format(time.RFC3339), UsageEndTime: r.start.Add(r.dur).Format(time.RFC3339),
				ReportedTime: r.reported.UTC().Format(time.RFC3339Nano),
			}
			batch.Add(i, &in, nil)
		}
		res, err := f.usage.Ingest(ctx, batch)
		if err != nil {
			f.t.Fatalf("ingest: %v", err)
		}
		if res.Accepted != n {
			f.t.Fatalf("ingest: %d of %d accepted: %+v", res.Accepted, n, res.Rejected[:min(3, len(res.Rejected))])
		}
		recs = recs[n:]
	}
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t, err = time.Parse(time.DateOnly, s)
		if err != nil {
			panic(err)
		}
	}
	return t.UTC()
}

func dec(s string) money.Decimal {
	d, err := money.ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

func eqDec(t testing.TB, what string, got money.Decimal, want string) {
	t.Helper()
	if got.Cmp(dec(want)) != 0 {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func subID(n int) string { return fmt.Sprintf("0b6c1e7a-0000-4000-8000-%012x", n) }

// openStoreAt opens another store on dsn, as another server process would.
func openStoreAt(t testing.TB, dsn string) (*store.DB, string) {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, t.TempDir(), store.Options{SQLiteCacheMiB: 16, MaxConns: 8})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db, dsn
}
