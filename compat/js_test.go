package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// requireTool returns the path of a program, skipping the test when it is
// missing, except in CI (CI=true), where it fails.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not on PATH; CI must run the JavaScript compatibility test", name)
		}
		t.Skipf("%s is not on PATH", name)
	}
	return p
}

// ensureNodeModules installs compat/js's locked dependencies when they are missing.
func ensureNodeModules(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("js", "node_modules", "@azure", "arm-commerce", "package.json")); err == nil {
		return
	}
	npm := requireTool(t, "npm")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund")
	cmd.Dir = "js"
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in compat/js: %v\n%s", err, out)
	}
}

// jsResult is what compat/js/list-usage.js prints.
type jsResult struct {
	Rows               int                `json:"rows"`
	Pages              int                `json:"pages"`
	TotalsByMeter      map[string]string  `json:"totalsByMeter"`
	FloatTotalsByMeter map[string]float64 `json:"floatTotalsByMeter"`
}

// TestAzureSDKForJavaScript lists the data set through @azure/arm-commerce
// 3.0.0 (compat/js/list-usage.js) over HTTPS and compares the row counts and
// the totals per meter with what was ingested.
func TestAzureSDKForJavaScript(t *testing.T) {
	node := requireTool(t, "node")
	ensureNodeModules(t)
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, queries := startCompat(t, b, reckontest.NewClock(serverNow))
		ca := filepath.Join(t.TempDir(), "reckon-test-ca.pem")
		if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				cmd := exec.CommandContext(ctx, node, filepath.Join("js", "list-usage.js"),
					"--base-url", srv.URL, "--subscription", subscription,
					"--start", q.start.Format(time.RFC3339), "--end", q.end.Format(time.RFC3339),
					"--granularity", q.granularity, "--show-details", fmt.Sprint(q.showDetails))
				cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca, "RECKON_TOKEN="+srv.AdminToken)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("node list-usage.js: %v\n%s", err, stderr.Bytes())
				}
				var got jsResult
				if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
					t.Fatalf("output %q: %v", stdout.Bytes(), err)
				}
				if got.Rows != len(q.rows) {
					t.Errorf("the JavaScript SDK read %d rows, want %d", got.Rows, len(q.rows))
				}
				if want := (len(q.rows) + 999) / 1000; got.Pages != want {
					t.Errorf("the JavaScript SDK read %d pages, want %d", got.Pages, want)
				}
				want := q.totals()
				if !equalMaps(got.TotalsByMeter, want) {
					t.Errorf("totals by meter %v, want %v", got.TotalsByMeter, want)
				}
				if len(got.FloatTotalsByMeter) != len(want) {
					t.Errorf("float totals %v, want one per meter of %v", got.FloatTotalsByMeter, want)
				}
				for m, w := range q.totalNanos() {
					exp := float64(w) / 1e9
					if f := got.FloatTotalsByMeter[m]; math.Abs(f-exp) > 1e-9*exp {
						t.Errorf("meter %s: float total %v, want %v", m, f, exp)
					}
				}
			})
		}
	})
}
