package portal_test

import (
	"database/sql"
	"net/http"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// When PostgreSQL refuses the portal's database (its connections cut and
// new ones refused, as during a restart or a failover), a signed-in page
// answers 503 with Retry-After and says so, never 500; once the database
// takes connections again, the same session works without a restart.
func TestStoreUnavailable(t *testing.T) {
	base := os.Getenv("RECKON_TEST_POSTGRES_DSN")
	if base == "" {
		t.Skip("PostgreSQL only: set RECKON_TEST_POSTGRES_DSN")
	}
	e := start(t, reckontest.Postgres, false)
	b := newBrowser(t, e.srv)
	b.signIn(userReader, password)
	page := "/portal/subscriptions/" + demo.SubContosoProd + "/ratecard"
	b.page(page)

	desc := e.srv.DB.String() // postgres:postgres://…/<database>?…
	name := desc[strings.LastIndex(desc, "/")+1:]
	name, _, _ = strings.Cut(name, "?")
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := admin.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`ALTER DATABASE "` + name + `" ALLOW_CONNECTIONS false`)
	t.Cleanup(func() { admin.Exec(`ALTER DATABASE "` + name + `" ALLOW_CONNECTIONS true`) })
	exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name)

	resp, body := b.get(page)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, `id="unavailable"`) {
		t.Fatalf("with the database away: %d (Retry-After %q)\n%.400s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	exec(`ALTER DATABASE "` + name + `" ALLOW_CONNECTIONS true`)
	b.page(page) // the same session, served again
}
