package store_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/store/storetest"
)

// TestConformance runs the conformance suite on every backend.
func TestConformance(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		storetest.Run(t, func(t *testing.T) *store.DB { return reckontest.OpenStore(t, b) })
	})
}

func open(t *testing.T, dsn, dataDir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, dataDir, store.Options{SQLiteCacheMiB: 8, MaxConns: 4})
	if err != nil {
		t.Fatalf("Open(%s): %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSharedDatabase opens two handles on one database, as two nodes do:
// they share the secret and see each other's writes, and opening an
// already-migrated database migrates nothing twice.
func TestSharedDatabase(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		ctx := context.Background()
		dsn := reckontest.DSN(t, b)
		one := open(t, dsn, "")
		two := open(t, dsn, "")
		if one.Dialect() != store.Dialect(b) || two.Dialect() != store.Dialect(b) {
			t.Fatalf("dialects %s, %s; want %s", one.Dialect(), two.Dialect(), b)
		}
		s1, err := one.Secret(ctx, "continuation-token")
		if err != nil {
			t.Fatal(err)
		}
		s2, err := two.Secret(ctx, "continuation-token")
		if err != nil {
			t.Fatal(err)
		}
		if len(s1) != 32 || !bytes.Equal(s1, s2) {
			t.Fatalf("two handles got different secrets: %x and %x", s1, s2)
		}

		id := "0f0e0d0c-0b0a-4908-8706-050403020100"
		now := func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) }
		if _, _, err := one.PutSubscription(ctx, account.Subscription{SubscriptionID: id, DisplayName: "shared", BillingAccount: "a",
			State: "Enabled", OfferDurableID: "MS-AZR-0003P", Currency: "USD", Locale: "en-US", RegionInfo: "US", BillingDay: 1}, now); err != nil {
			t.Fatal(err)
		}
		got, err := two.Subscription(ctx, id)
		if err != nil || got.DisplayName != "shared" {
			t.Fatalf("second handle reads %+v, %v", got, err)
		}
		k1, _ := one.SubscriptionKeys(ctx, []string{id})
		k2, _ := two.SubscriptionKeys(ctx, []string{id})
		if k1[id] == 0 || k1[id] != k2[id] {
			t.Fatalf("handles disagree on the key: %v, %v", k1, k2)
		}

		// Reopening after closing keeps everything.
		one.Close()
		three := open(t, dsn, "")
		s3, err := three.Secret(ctx, "continuation-token")
		if err != nil || !bytes.Equal(s1, s3) {
			t.Fatalf("secret after reopening = %x, %v", s3, err)
		}
		if _, err := three.Subscription(ctx, id); err != nil {
			t.Fatalf("subscription after reopening: %v", err)
		}
	})
}

// TestOpenSQLiteForms checks the SQLite DSN forms and the default path.
func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	def := open(t, "", filepath.Join(dir, "data"))
	if _, err := os.Stat(filepath.Join(dir, "data", "reckon.db")); err != nil {
		t.Fatalf("empty DSN did not create dataDir/reckon.db: %v", err)
	}
	if def.Dialect() != store.SQLite || !strings.Contains(def.String(), "reckon.db") {
		t.Fatalf("store %s (%s)", def, def.Dialect())
	}
	for _, dsn := range []string{"sqlite:" + filepath.Join(dir, "a.db"), "file:" + filepath.Join(dir, "b.db"), filepath.Join(dir, "c.db"),
		"sqlite://" + filepath.Join(dir, "d.db")} {
		db := open(t, dsn, "")
		if err := db.Ping(context.Background()); err != nil {
			t.Fatalf("%s: %v", dsn, err)
		}
	}
	for _, f := range []string{"a.db", "b.db", "c.db", "d.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not created: %v", f, err)
		}
	}
}

// TestStringHidesPassword checks that a store describes itself without
// the PostgreSQL password.
func TestStringHidesPassword(t *testing.T) {
	if os.Getenv(reckontest.PostgresEnv) == "" {
		t.Skip(reckontest.PostgresEnv + " is not set")
	}
	dsn := reckontest.DSN(t, reckontest.Postgres)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok {
		t.Skip("the test DSN has no password")
	}
	db := open(t, dsn, "")
	if strings.Contains(db.String(), ":"+pw+"@") || u.User.Username() != pw && strings.Contains(db.String(), pw) {
		t.Fatalf("String() = %q shows the password", db.String())
	}
	if db.Dialect() != store.Postgres {
		t.Fatalf("dialect %s", db.Dialect())
	}
}

// TestOpenUnreachablePostgres fails fast with an error, not a hang.
func TestOpenUnreachablePostgres(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := store.Open(ctx, "postgres://nobody:secret@127.0.0.1:1/none?sslmode=disable&connect_timeout=2", "", store.Options{})
	if err == nil {
		t.Fatal("Open of an unreachable PostgreSQL succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error shows the password: %v", err)
	}
}
