package browsertest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// focused describes the focused element.
type focused struct {
	Tag     string `json:"tag"`
	ID      string `json:"id"`
	Href    string `json:"href"`
	Text    string `json:"text"`
	Outline string `json:"outline"`
	Shadow  string `json:"shadow"`
}

// testKeyboard: with the keyboard alone (Tab), a user reaches the
// subscription switcher, every link of the nav and the chart's range
// switch, and each focused element shows a focus indicator; Enter on a nav
// link follows it.
func testKeyboard(t *testing.T, w *world) {
	b := newTab(t, w.srv.URL, "operator")
	if st := b.signIn(reckontest.OperatorID, reckontest.OperatorSecret); st != http.StatusOK {
		t.Fatalf("sign in: status %d", st)
	}
	sub := demo.SubContosoProd
	b.open(overviewPath(sub))
	b.do(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	reached := map[string]bool{}
	var seen []string
	for range 40 {
		b.do(chromedp.KeyEvent(kb.Tab))
		f := eval[focused](b, `(() => { const e = document.activeElement; const s = getComputedStyle(e);
			return {tag: e.tagName.toLowerCase(), id: e.id || '', href: e.getAttribute('href') || '', text: (e.textContent || '').trim().slice(0, 40),
				outline: s.outlineStyle + ' ' + s.outlineWidth, shadow: s.boxShadow}; })()`)
		if f.Tag == "body" {
			continue
		}
		key := f.ID
		if key == "" {
			key = f.Href
		}
		reached[f.ID], reached[f.Href] = true, true
		seen = append(seen, f.Tag+" "+key)
		if strings.HasPrefix(f.Outline, "none") && (f.Shadow == "" || f.Shadow == "none") {
			t.Errorf("focused %s %q (%s) shows no focus indicator (outline %s, box-shadow %s)", f.Tag, key, f.Text, f.Outline, f.Shadow)
		}
		if f.ID == "range-90" {
			break
		}
	}
	base := "/portal/subscriptions/" + sub + "/"
	for _, want := range []string{"subscription-select", base + "overview", base + "usage", base + "invoices", base + "ratecard", base + "access", "/portal/operator", "range-30", "range-90"} {
		if !reached[want] {
			t.Errorf("Tab never reaches %s; the focus went through %v", want, seen)
		}
	}
	// Enter on the focused nav link follows it.
	b.do(chromedp.Focus(chromedp.CSS(`#nav a[href="` + base + `usage"]`)))
	if st := b.navigate("Enter on the Usage link", chromedp.KeyEvent(kb.Enter)); st != http.StatusOK || !strings.HasPrefix(b.path(), base+"usage") {
		t.Errorf("Enter on the Usage link: status %d at %s", st, b.path())
	}
}

// checkLabels checks that the page's form controls have labels and its
// tables captions (or aria labels), and that its SVG charts have a role and
// a label.
func checkLabels(t *testing.T, b *tab) {
	t.Helper()
	missing := eval[[]string](b, `(() => {
		const out = [];
		const named = e => e.getAttribute('aria-label') || e.getAttribute('aria-labelledby') || e.getAttribute('title');
		for (const e of document.querySelectorAll('input:not([type=hidden]):not([type=submit]), select, textarea')) {
			if (!(e.id && document.querySelector('label[for="' + e.id + '"]')) && !e.closest('label') && !named(e))
				out.push('control ' + (e.id || e.name) + ' has no label');
		}
		for (const e of document.querySelectorAll('table')) {
			if (!e.querySelector('caption') && !named(e)) out.push('table ' + (e.id || '?') + ' has no caption');
		}
		for (const e of document.querySelectorAll('main svg')) {
			if (e.closest('a, button')) continue;
			if (e.getAttribute('aria-hidden') === 'true') continue;
			if (e.getAttribute('role') !== 'img' || !named(e)) out.push('svg ' + (e.id || '?') + ' has no role=img and label');
		}
		return out; })()`)
	for _, m := range missing {
		t.Errorf("%s: %s", b.path(), m)
	}
}
