package portal

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/text/language"

	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/money"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages are the page templates, each parsed with the layout.
var pages = map[string]*template.Template{}

var funcs = template.FuncMap{
	"join": strings.Join,
	"inc":  func(i int) int { return i + 1 },
}

func init() {
	entries, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	for _, e := range entries {
		name := strings.TrimSuffix(path.Base(e), ".html")
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, e))
	}
}

// static serves the embedded style sheet and script.
func (p *Portal) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	data, err := staticFS.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	switch path.Ext(name) {
	case ".css":
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	w.Header().Set("Cache-Control", "public, max-age=3600")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

// navItem is a link of the navigation.
type navItem struct {
	Label, Href string
	Current     bool
	ID          string
}

// layoutData is what the layout shows around a page.
type layoutData struct {
	Title    string
	Lang     string
	SignedIn bool
	Who      string
	WhoID    string
	CSRF     string
	Subs     []subOption
	Current  string // the subscription in view
	Page     string
	Nav      []navItem
	OpNav    []navItem
	Body     any
	Year     int
}

// render writes a page with the layout (rc nil: signed out).
func (p *Portal) render(w http.ResponseWriter, r *http.Request, rc *reqCtx, status int, page, title string, body any) {
	t := pages[page]
	d := layoutData{Title: title, Body: body, Lang: "en", Year: p.now().Year()}
	if rc != nil {
		d.SignedIn = true
		d.Who, d.WhoID, d.CSRF = rc.id.DisplayName, rc.id.PrincipalID, rc.session.CSRF
		d.Lang = rc.loc.tag
		subs, _ := p.readable(r, rc)
		d.Subs = subs
		d.Page = rc.page
		cur := ""
		if rc.sub != nil {
			cur = rc.sub.SubscriptionID
		} else if len(subs) > 0 {
			cur = subs[0].ID
		}
		d.Current = cur
		if cur != "" {
			base := "/portal/subscriptions/" + cur + "/"
			d.Nav = []navItem{
				{Label: "Overview", Href: base + "overview", ID: "nav-overview"},
				{Label: "Usage", Href: base + "usage", ID: "nav-usage"},
				{Label: "Invoices", Href: base + "invoices", ID: "nav-invoices"},
				{Label: "Rate card", Href: base + "ratecard", ID: "nav-ratecard"},
			}
			admin := false
			if rc.sub != nil {
				admin = rc.id.Grants.IsAccountAdmin(rc.sub.BillingAccount)
			} else {
				for _, s := range subs {
					if s.ID == cur {
						admin = rc.id.Grants.IsAccountAdmin(s.Account)
					}
				}
			}
			if admin {
				d.Nav = append(d.Nav, navItem{Label: "Access", Href: base + "access", ID: "nav-access"})
			}
		}
		if rc.id.Grants.IsOperator() {
			d.Nav = append(d.Nav, navItem{Label: "Operator", Href: "/portal/operator", ID: "nav-operator"})
			if rc.page == "operator" {
				d.OpNav = []navItem{
					{Label: "Summary", Href: "/portal/operator"},
					{Label: "Subscriptions", Href: "/portal/operator/subscriptions"},
					{Label: "Principals", Href: "/portal/operator/principals"},
					{Label: "Catalog imports", Href: "/portal/operator/imports"},
					{Label: "Ingestion", Href: "/portal/operator/ingestion"},
				}
				for i := range d.OpNav {
					d.OpNav[i].Current = d.OpNav[i].Href == r.URL.Path
				}
			}
		}
		for i := range d.Nav {
			n := &d.Nav[i]
			n.Current = strings.HasSuffix(n.Href, "/"+rc.page) || rc.page == "operator" && n.ID == "nav-operator"
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		p.log.Error("portal: render", "page", page, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// locale is the user's language for numbers and dates.
type locale struct {
	tag string // BCP 47, e.g. "de-DE"
}

// localeFor picks the locale of a request: the first language of
// Accept-Language, else fallback (the subscription's), else en-US.
func (p *Portal) localeFor(r *http.Request, fallback string) locale {
	if al := r.Header.Get("Accept-Language"); al != "" && len(al) < 500 {
		tags, _, err := language.ParseAcceptLanguage(al)
		if err == nil && len(tags) > 0 {
			t := tags[0]
			if b, _ := t.Base(); t != language.Und && b.String() != "mul" && b.String() != "und" {
				// A bare language ("de") gets its most likely region ("de-DE").
				base, _ := t.Base()
				reg, _ := t.Region()
				if tt, err := language.Compose(base, reg); err == nil {
					t = tt
				}
				return locale{tag: t.String()}
			}
		}
	}
	if fallback != "" {
		return locale{tag: fallback}
	}
	return locale{tag: "en-US"}
}

// fmtCache keeps one Format per locale and currency.
var fmtCache sync.Map

func (l locale) format(cur string) invoicepdf.Format {
	key := l.tag + "|" + cur
	if f, ok := fmtCache.Load(key); ok {
		return f.(invoicepdf.Format)
	}
	c, err := money.ParseCurrency(cur)
	if err != nil {
		c = money.MustParseCurrency("USD")
	}
	f := invoicepdf.NewFormat(l.tag, c)
	fmtCache.Store(key, f)
	return f
}

// amount renders an amount rounded to the currency's minor unit, with its
// symbol, as the locale writes it.
func (l locale) amount(cur string, d money.Decimal) string { return l.format(cur).Amount(d) }

// number renders an exact decimal with the locale's separators.
func (l locale) number(d money.Decimal) string { return l.format("USD").Number(d) }

// price renders a unit price exactly, with at least the currency's minor digits.
func (l locale) price(cur string, d money.Decimal) string { return l.format(cur).Price(d) }

// priceSym renders a unit price exactly (as price) with the currency's
// symbol where the locale writes it for amounts: "$0.382", "0,382 €".
func (l locale) priceSym(cur string, d money.Decimal) string {
	f := l.format(cur)
	zero := f.Amount(money.Zero)
	plain := f.Price(money.Zero)
	pre, post, ok := strings.Cut(zero, plain)
	if !ok {
		return f.Price(d) + "\u00a0" + cur
	}
	p := f.Price(d)
	if rest, neg := strings.CutPrefix(p, "-"); neg {
		return "-" + pre + rest + post
	}
	return pre + p + post
}

// count renders a whole number with the locale's grouping: "48,852".
func (l locale) count(n int) string {
	d, err := money.ParseDecimal(strconv.Itoa(n))
	if err != nil {
		return strconv.Itoa(n)
	}
	return l.number(d)
}

var monthsEN = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// date renders a day as the locale writes short dates.
func (l locale) date(t time.Time) string {
	t = t.UTC()
	lang, _, _ := strings.Cut(l.tag, "-")
	switch {
	case l.tag == "en-US" || lang == "en" && strings.HasSuffix(l.tag, "-PH"):
		return monthsEN[t.Month()-1] + " " + itoa(t.Day()) + ", " + itoa(t.Year())
	case lang == "en":
		return itoa(t.Day()) + " " + monthsEN[t.Month()-1] + " " + itoa(t.Year())
	case lang == "de" || lang == "ru" || lang == "pl" || lang == "fi" || lang == "nb" || lang == "da" || lang == "cs" || lang == "tr":
		return t.Format("02.01.2006")
	case lang == "fr" || lang == "es" || lang == "it" || lang == "pt":
		return t.Format("02/01/2006")
	case lang == "nl":
		return t.Format("02-01-2006")
	case lang == "ja" || lang == "zh":
		return t.Format("2006/01/02")
	}
	return t.Format("2006-01-02")
}

// dateTime renders an instant (UTC) with minutes.
func (l locale) dateTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return l.date(t) + " " + t.UTC().Format("15:04") + " UTC"
}

// shortDay renders a chart tick: day and month.
func (l locale) shortDay(t time.Time) string {
	lang, _, _ := strings.Cut(l.tag, "-")
	switch lang {
	case "en":
		if l.tag == "en-US" {
			return monthsEN[t.Month()-1] + " " + itoa(t.Day())
		}
		return itoa(t.Day()) + " " + monthsEN[t.Month()-1]
	case "de", "ru", "pl", "fi", "nb", "da", "cs", "tr":
		return t.Format("02.01.")
	case "ja", "zh":
		return t.Format("01/02")
	case "fr", "es", "it", "pt":
		return t.Format("02/01")
	}
	return t.Format("01-02")
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	neg := i < 0
	if neg {
		i = -i
	}
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			break
		}
	}
	if neg {
		n--
		b[n] = '-'
	}
	return string(b[n:])
}
