package browsertest

import (
	"encoding/csv"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// ArtifactsEnv names the variable holding the directory the screenshots
// go to; by default, test-output/portal-screenshots at the repository's
// root.
const ArtifactsEnv = "RECKON_TEST_ARTIFACTS"

// artifactsDir returns (and creates) the screenshots' directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv(ArtifactsEnv)
	if dir == "" {
		root, err := os.Getwd()
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				t.Fatalf("no go.mod above the test's directory; set %s", ArtifactsEnv)
			}
			root = parent
		}
		dir = filepath.Join(root, "test-output", "portal-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// testScreenshots saves full-page PNGs of the main pages, signed in as the
// operator (who sees every page), at desktop (1366×900) and phone
// (390×844, mobile emulation) sizes. It fails on a page that does not
// answer 200, that overflows the phone's width, that throws a JavaScript
// error or violates its Content-Security-Policy, or whose controls, tables
// and charts lack accessible labels.
func testScreenshots(t *testing.T, w *world) {
	dir := artifactsDir(t)
	sub := demo.SubContosoProd
	inv := ""
	for _, i := range w.invoices[sub] {
		if i.Corrects == "" {
			inv = i.Name
			break
		}
	}
	pages := []struct{ name, path string }{
		{"overview", overviewPath(sub)},
		{"overview-fabrikam-eur", overviewPath(demo.SubFabrikam)},
		{"usage", "/portal/subscriptions/" + sub + "/usage"},
		{"invoices", "/portal/subscriptions/" + sub + "/invoices"},
		{"invoice-detail", "/portal/subscriptions/" + sub + "/invoices/" + inv},
		{"ratecard", "/portal/subscriptions/" + sub + "/ratecard"},
		{"access", "/portal/subscriptions/" + sub + "/access"},
		{"operator", "/portal/operator"},
		{"operator-subscriptions", "/portal/operator/subscriptions"},
		{"operator-principals", "/portal/operator/principals"},
		{"operator-imports", "/portal/operator/imports"},
		{"operator-ingestion", "/portal/operator/ingestion"},
	}
	for _, size := range []struct {
		name   string
		w, h   int64
		mobile bool
	}{{"desktop", desktopWidth, desktopHeight, false}, {"phone", phoneWidth, phoneHeight, true}} {
		anon := newTab(t, w.srv.URL, "anonymous "+size.name)
		anon.viewport(size.w, size.h, size.mobile)
		anon.open("/portal/signin")
		shoot(t, anon, filepath.Join(dir, "signin-"+size.name+".png"), size.w, size.h, size.mobile)

		b := newTab(t, w.srv.URL, "operator "+size.name)
		b.viewport(size.w, size.h, size.mobile)
		if st := b.signIn(reckontest.OperatorID, reckontest.OperatorSecret); st != http.StatusOK {
			t.Fatalf("sign in: status %d", st)
		}
		for _, p := range pages {
			st := b.open(p.path)
			if st != http.StatusOK {
				t.Errorf("%s %s: status %d", size.name, p.path, st)
			}
			if size.mobile {
				// Nothing wider than the phone: the page itself must not
				// scroll sideways (wide tables may scroll in a wrapper).
				if sw := eval[int](b, `document.documentElement.scrollWidth`); sw > int(size.w)+1 {
					t.Errorf("phone %s: the page is %d px wide (viewport %d): it scrolls sideways", p.path, sw, size.w)
				}
			}
			shoot(t, b, filepath.Join(dir, p.name+"-"+size.name+".png"), size.w, size.h, size.mobile)
			if !size.mobile {
				checkLabels(t, b)
			}
			if e := pageErrors(b); len(e) > 0 {
				t.Errorf("%s %s: JavaScript errors: %v", size.name, p.path, e)
			}
		}
	}
	t.Logf("screenshots in %s", dir)
}

// shoot saves a full-page PNG of the tab, whose viewport is w×h (mobile:
// a phone's). The viewport is made as tall as the page for the capture,
// then restored: capturing beyond the viewport instead lays a phone page
// out wider than the phone.
func shoot(t *testing.T, b *tab, file string, w, h int64, mobile bool) {
	t.Helper()
	full := int64(eval[int](b, `Math.max(document.documentElement.scrollHeight, document.body ? document.body.scrollHeight : 0)`))
	full = min(max(full, h), 12000)
	b.viewport(w, full, mobile)
	defer b.viewport(w, h, mobile)
	ctx, cancel := b.step()
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", file, err)
		return
	}
	if err := os.WriteFile(file, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pageErrors returns the uncaught exceptions and Content-Security-Policy
// violations of the tab's current document (see errorCatcher).
func pageErrors(b *tab) []string {
	b.t.Helper()
	return eval[[]string](b, `window.__reckonErrors || []`)
}

// readCSV parses a CSV body.
func readCSV(body string) ([][]string, error) {
	r := csv.NewReader(strings.NewReader(body))
	r.FieldsPerRecord = -1
	return r.ReadAll()
}
