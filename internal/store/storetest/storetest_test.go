package storetest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/store/storetest"
)

// TestRunSQLite runs the suite on its own, on SQLite files opened directly,
// so that the suite is checked without the test harness.
func TestRunSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.DB {
		db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "conformance.db"), "", store.Options{SQLiteCacheMiB: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
