// Package browsertest drives the portal (internal/portal) in a real browser:
// Debian's headless chromium, through chromedp. The tests sign in, read the
// pages the way a user sees them and check their numbers against the API;
// they also save screenshots of the main pages for reviewers.
//
// One chromium process serves every test (started in TestMain); each test
// works in browser contexts of its own (separate cookie jars). The browser
// is "chromium" or "chromium-browser" from PATH (RECKON_CHROMIUM names
// another), headless, without sandbox (CI runs as root). Without it the
// tests skip, except in CI (CI=true), where they fail.
//
// The screenshots go to $RECKON_TEST_ARTIFACTS, by default
// test-output/portal-screenshots at the repository's root:
//
//	go test ./internal/portal/browsertest/
//	RECKON_TEST_ARTIFACTS=/tmp/shots go test ./internal/portal/browsertest/ -run TestPortal/sqlite/Screenshots
package browsertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// stepTimeout bounds every browser step (a navigation, a click, a read).
const stepTimeout = 10 * time.Second

// The shared browser, started by TestMain.
var (
	browserCtx context.Context // nil when there is no browser
	browserErr error           // why there is none
)

func TestMain(m *testing.M) {
	cancel := startBrowser()
	code := m.Run()
	cancel()
	os.Exit(code)
}

// chromiumPath finds Debian's chromium ("chromium", then
// "chromium-browser") in PATH; RECKON_CHROMIUM overrides it.
func chromiumPath() (string, error) {
	if p := os.Getenv("RECKON_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New(`neither "chromium" nor "chromium-browser" is in PATH (Debian: apt-get install -y chromium)`)
}

// startBrowser starts the shared headless chromium and returns the func
// that stops it.
func startBrowser() (cancel func()) {
	path, err := chromiumPath()
	if err != nil {
		browserErr = err
		return func() {}
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.WindowSize(desktopWidth, desktopHeight),
		chromedp.Flag("lang", "en-US"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(allocCtx)
	// The first run starts the browser; it must have no timeout, as the
	// timeout would end the browser with it.
	done := make(chan error, 1)
	go func() { done <- chromedp.Do(ctx) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		err = errors.New("chromium did not start within 30 s")
	}
	if err != nil {
		browserErr = fmt.Errorf("start %s: %w", path, err)
		cancelCtx()
		cancelAlloc()
		return func() {}
	}
	browserCtx = ctx
	return func() {
		cancelCtx()
		cancelAlloc()
	}
}

// needBrowser skips the test when there is no browser, or fails it in CI.
func needBrowser(t *testing.T) {
	t.Helper()
	if browserCtx != nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests need chromium in CI: %v", browserErr)
	}
	t.Skipf("skipping the browser tests: %v", browserErr)
}

// tab is a browser tab in a browser context of its own (its own cookies),
// pointed at a test server.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string // the server's URL, without a trailing slash
	name string // for messages
}

// newTab opens a tab in a new browser context, closed at the end of the
// test. width and height set the viewport; mobile emulates a phone.
func newTab(t *testing.T, base, name string) *tab {
	t.Helper()
	needBrowser(t)
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run opens the target; no timeout here either (it would
	// close the tab), the test's own timeout bounds it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: open a tab: %v", name, err)
	}
	b := &tab{t: t, ctx: ctx, base: strings.TrimSuffix(base, "/"), name: name}
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: errorCatcher}); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b.viewport(desktopWidth, desktopHeight, false)
	return b
}

// errorCatcher runs in every document the tabs load: it keeps the page's
// uncaught exceptions and Content-Security-Policy violations in
// window.__reckonErrors.
const errorCatcher = `window.__reckonErrors = [];
window.addEventListener('error', e => window.__reckonErrors.push('error: ' + (e.message || e.type)));
window.addEventListener('unhandledrejection', e => window.__reckonErrors.push('unhandled rejection: ' + e.reason));
document.addEventListener('securitypolicyviolation', e => window.__reckonErrors.push('CSP: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline')));`

// Viewports of the screenshots.
const (
	desktopWidth, desktopHeight = 1366, 900
	phoneWidth, phoneHeight     = 390, 844
)

// viewport sets the tab's viewport; mobile emulates a phone (touch, device
// scale factor 2).
func (b *tab) viewport(w, h int64, mobile bool) {
	b.t.Helper()
	if mobile {
		b.do(chromedp.EmulateViewport(w, h, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	} else {
		b.do(chromedp.EmulateViewport(w, h, chromedp.EmulateScale(1)))
	}
}

// step returns a context bounded by stepTimeout.
func (b *tab) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, stepTimeout)
}

// do runs actions, failing the test on an error.
func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (at %s)", b.name, err, b.location())
	}
}

// location is the tab's URL (for messages).
func (b *tab) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "?"
	}
	return loc
}

// path is the tab's URL path and query, relative to the server.
func (b *tab) path() string {
	return strings.TrimPrefix(b.location(), b.base)
}

// open navigates to a path of the server and returns the status of the
// document (after redirects).
func (b *tab) open(path string) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		b.t.Fatalf("%s: open %s: %v", b.name, path, err)
	}
	if resp == nil {
		b.t.Fatalf("%s: open %s: no response", b.name, path)
	}
	return resp.Status
}

// navigate runs actions that load a new page (a click on a link or a
// submit button) and returns the new document's status.
func (b *tab) navigate(what string, actions ...chromedp.Action[chromedp.Void]) int64 {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("%s: %s: %v (at %s)", b.name, what, err, b.location())
	}
	if resp == nil {
		b.t.Fatalf("%s: %s: no response", b.name, what)
	}
	return resp.Status
}

// click clicks the element with the id and waits for the page it loads.
func (b *tab) click(id string) int64 {
	b.t.Helper()
	return b.navigate("click #"+id, chromedp.Click(chromedp.ID(id), chromedp.NodeVisible))
}

// eval evaluates a JavaScript expression in the page and decodes its value.
func eval[T any](b *tab, js string) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: evaluate %.80q: %v (at %s)", b.name, js, err, b.location())
	}
	return v
}

// has reports whether the page has an element matching the CSS selector.
func (b *tab) has(selector string) bool {
	b.t.Helper()
	return eval[bool](b, fmt.Sprintf("document.querySelector(%q) !== null", selector))
}

// text is the trimmed text content of the element matching the selector
// ("" when there is none).
func (b *tab) text(selector string) string {
	b.t.Helper()
	return strings.TrimSpace(eval[string](b, fmt.Sprintf("(document.querySelector(%q) || {textContent: ''}).textContent", selector)))
}

// setValue sets the value of a form control (by id or CSS selector).
func (b *tab) setValue(selector, value string) {
	b.t.Helper()
	ok := eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.value = %q; return true; })()`, selector, value))
	if !ok {
		b.t.Fatalf("%s: no element %s on %s", b.name, selector, b.path())
	}
}

// must fails the test unless the page has an element matching selector.
func (b *tab) must(selector string) {
	b.t.Helper()
	if !b.has(selector) {
		b.t.Fatalf("%s: %s has no element %s; main text: %.300q", b.name, b.path(), selector, b.text("main, body"))
	}
}

// signIn fills the sign-in form (setting the fields' values) and submits
// it with its button; it returns the status of the page it lands on.
func (b *tab) signIn(clientID, secret string) int64 {
	b.t.Helper()
	b.openSignIn()
	b.setValue("#clientId", clientID)
	b.setValue("#secret", secret)
	return b.click("signin-submit")
}

// signInTyping is signIn typing the credentials key by key, as a user
// does (slower).
func (b *tab) signInTyping(clientID, secret string) int64 {
	b.t.Helper()
	b.openSignIn()
	b.do(
		chromedp.SendKeys(chromedp.ID("clientId"), clientID, chromedp.NodeVisible),
		chromedp.SendKeys(chromedp.ID("secret"), secret, chromedp.NodeVisible),
	)
	return b.click("signin-submit")
}

func (b *tab) openSignIn() {
	b.t.Helper()
	if st := b.open("/portal/signin"); st != 200 {
		b.t.Fatalf("%s: GET /portal/signin: status %d", b.name, st)
	}
	b.must("form#signin-form")
}

// cookie returns the value of the tab's cookie of that name ("" if none).
func (b *tab) cookie(name string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/portal/"}})
	if err != nil {
		b.t.Fatalf("%s: cookies: %v", b.name, err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// chromedpSubmitSearch presses Enter in the rate card's search box.
func chromedpSubmitSearch() chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.ID("meter-search"), "\r", chromedp.NodeVisible)
}

// clickHref clicks the first link whose href is exactly href.
func clickHref(href string) chromedp.Action[chromedp.Void] {
	return chromedp.Click(chromedp.JSPath(fmt.Sprintf(`[...document.querySelectorAll('a')].find(a => a.href === %q)`, href)), chromedp.NodeVisible)
}
