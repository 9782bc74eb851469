package loadtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// API versions the clients use, as real clients send them.
const (
	versionUsage         = "2015-06-01-preview"
	versionRateCard      = "2016-08-31-preview"
	versionInvoices      = "2018-03-01-preview"
	versionSubscriptions = "2020-01-01"
)

// answer is one HTTP exchange.
type answer struct {
	status int
	code   string // ARM error code of a failed request
	body   []byte // decompressed
	wire   int64  // bytes received on the wire
	took   time.Duration
	header http.Header
}

// call sends a request. A transport failure comes back as an error (and
// status 0); an HTTP answer, whatever its status, does not.
func (sh *shared) call(ctx context.Context, method, u string, body []byte, hdr map[string]string, auth bool) (answer, error) {
	ctx, cancel := context.WithTimeout(ctx, sh.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return answer{}, err
	}
	if auth {
		tok, err := sh.cfg.Token(ctx)
		if err != nil {
			return answer{code: "SignInFailed"}, err
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := sh.cfg.HTTP.Do(req)
	if err != nil {
		return answer{took: time.Since(start)}, err
	}
	defer resp.Body.Close()
	cr := &countReader{r: resp.Body}
	var r io.Reader = cr
	if strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") && !resp.Uncompressed {
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return answer{status: resp.StatusCode, code: "BadGzip", took: time.Since(start)}, nil
		}
		r = zr
	}
	data, err := io.ReadAll(r)
	a := answer{status: resp.StatusCode, body: data, wire: cr.n, took: time.Since(start), header: resp.Header}
	if err != nil {
		if ctx.Err() != nil {
			return a, err
		}
		a.code = "TruncatedAnswer"
		return a, nil
	}
	if a.status >= 300 {
		a.code = resp.Header.Get("x-ms-error-code")
		if a.code == "" {
			var e struct {
				Error struct{ Code string } `json:"error"`
			}
			if json.Unmarshal(data, &e) == nil {
				a.code = e.Error.Code
			}
		}
	}
	return a, nil
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// discover finds the subscriptions and meters to load, unless given.
func (sh *shared) discover(ctx context.Context) error {
	if len(sh.cfg.Subscriptions) > 0 {
		sh.subs = append([]string(nil), sh.cfg.Subscriptions...)
	} else {
		seen := map[string]bool{}
		var problems []string
		add := func(path string) {
			a, err := sh.call(ctx, http.MethodGet, sh.base+path, nil, nil, true)
			if err != nil || a.status != http.StatusOK {
				problems = append(problems, fmt.Sprintf("GET %s: %s", path, describe(a, err)))
				return
			}
			var list struct {
				Value []struct {
					SubscriptionID string `json:"subscriptionId"`
					State          string `json:"state"`
				} `json:"value"`
			}
			if err := json.Unmarshal(a.body, &list); err != nil {
				problems = append(problems, fmt.Sprintf("GET %s: %v", path, err))
				return
			}
			for _, s := range list.Value {
				if s.SubscriptionID != "" && !strings.EqualFold(s.State, "Deleted") && !seen[s.SubscriptionID] {
					seen[s.SubscriptionID] = true
					sh.subs = append(sh.subs, s.SubscriptionID)
				}
			}
		}
		add("/subscriptions?api-version=" + versionSubscriptions)
		add("/admin/v1/subscriptions")
		if len(sh.subs) == 0 {
			return fmt.Errorf("loadtest: no subscription to load (%s)", strings.Join(problems, "; "))
		}
	}
	if len(sh.cfg.Meters) > 0 {
		sh.meters = append([]string(nil), sh.cfg.Meters...)
		return nil
	}
	a, err := sh.call(ctx, http.MethodGet, sh.base+"/admin/v1/meters", nil, nil, true)
	if err == nil && a.status == http.StatusOK {
		var list struct {
			Value []struct {
				MeterID     string `json:"meterId"`
				MeterStatus string `json:"meterStatus"`
			} `json:"value"`
		}
		if err := json.Unmarshal(a.body, &list); err != nil {
			return fmt.Errorf("loadtest: GET /admin/v1/meters: %w", err)
		}
		for _, m := range list.Value {
			if m.MeterStatus == "" || strings.EqualFold(m.MeterStatus, "Active") {
				sh.meters = append(sh.meters, m.MeterID)
			}
		}
	} else {
		// Not an operator: the meters of the first subscription's RateCard.
		path := "/subscriptions/" + sh.subs[0] + "/providers/Microsoft.Commerce/RateCard?api-version=" + versionRateCard
		b, err2 := sh.call(ctx, http.MethodGet, sh.base+path, nil, nil, true)
		if err2 != nil || b.status != http.StatusOK {
			return fmt.Errorf("loadtest: no meters: GET /admin/v1/meters: %s; GET %s: %s", describe(a, err), path, describe(b, err2))
		}
		var rc struct {
			Meters []struct {
				MeterID string `json:"MeterId"`
			} `json:"Meters"`
		}
		if err := json.Unmarshal(b.body, &rc); err != nil {
			return fmt.Errorf("loadtest: RateCard: %w", err)
		}
		for _, m := range rc.Meters {
			sh.meters = append(sh.meters, m.MeterID)
		}
	}
	if len(sh.meters) == 0 && sh.cfg.Mix[OpIngest] > 0 {
		return errors.New("loadtest: the server has no meter to ingest usage for")
	}
	return nil
}

func describe(a answer, err error) string {
	if err != nil {
		return err.Error()
	}
	if a.code != "" {
		return fmt.Sprintf("%d %s", a.status, a.code)
	}
	return strconv.Itoa(a.status)
}

// worker is one client.
type worker struct {
	sh  *shared
	rng *rand.Rand
	ctx context.Context // cancelled on ctrl-C: requests in flight are cut short
	buf bytes.Buffer
}

func (w *worker) stopped() bool {
	select {
	case <-w.sh.stop:
		return true
	case <-w.ctx.Done():
		return true
	default:
		return false
	}
}

func (w *worker) loop() {
	for !w.stopped() {
		if w.sh.pace != nil {
			select {
			case <-w.sh.pace:
			case <-w.sh.stop:
				return
			case <-w.ctx.Done():
				return
			}
		}
		switch w.sh.cfg.Mix.pick(w.rng) {
		case OpIngest:
			w.ingest()
		case OpAggregates:
			w.aggregates()
		case OpRateCard:
			w.rateCard()
		case OpInvoices:
			w.invoices(w.sub())
		case OpDownload:
			w.download()
		}
	}
}

func (w *worker) sub() string { return w.sh.subs[w.rng.IntN(len(w.sh.subs))] }

// exchange sends a request of op, records it, and returns the answer when
// it succeeded (2xx); ok is false otherwise.
func (w *worker) exchange(op Op, method, u string, body []byte, hdr map[string]string, auth bool) (answer, bool) {
	a, err := w.sh.call(w.ctx, method, u, body, hdr, auth)
	if err != nil {
		if w.ctx.Err() != nil {
			return a, false // cut short by ctrl-C: not a server error
		}
		code := a.code
		if code == "" {
			code = "NetworkError"
			if isTimeout(err) {
				code = "Timeout"
			}
		}
		w.sh.rec.request(op, a.took, 0, code, 0, a.wire, true)
		return a, false
	}
	if a.status < 200 || a.status >= 300 || a.code != "" {
		w.sh.rec.request(op, a.took, a.status, a.code, 0, a.wire, true)
		return a, false
	}
	return a, true
}

// invalidAnswer records a 2xx answer that is not what the API promises.
func (w *worker) invalidAnswer(op Op, a answer) {
	w.sh.rec.request(op, a.took, a.status, "InvalidAnswer", 0, a.wire, true)
}

// ingest sends a batch of new records of one subscription: random ids,
// meters of the catalog, usage in the last whole hour.
func (w *worker) ingest() {
	sh := w.sh
	sub := w.sub()
	hour := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	w.buf.Reset()
	for range sh.cfg.Batch {
		m := w.rng.IntN(55)
		start := hour.Add(time.Duration(m) * time.Minute)
		end := start.Add(time.Duration(1+w.rng.IntN(60-m)) * time.Minute)
		b := w.buf.AvailableBuffer()
		b = append(b, `{"id":"`...)
		b = append(b, uuid.NewString()...)
		b = append(b, `","subscriptionId":"`...)
		b = append(b, sub...)
		b = append(b, `","meterId":"`...)
		b = append(b, sh.meters[w.rng.IntN(len(sh.meters))]...)
		b = append(b, `","quantity":"`...)
		b = strconv.AppendInt(b, int64(w.rng.IntN(100)), 10)
		b = append(b, '.')
		b = fmt.Appendf(b, "%03d", w.rng.IntN(1000))
		b = append(b, `","usageStartTime":"`...)
		b = start.AppendFormat(b, time.RFC3339)
		b = append(b, `","usageEndTime":"`...)
		b = end.AppendFormat(b, time.RFC3339)
		b = append(b, `","resourceUri":"/subscriptions/`...)
		b = append(b, sub...)
		b = fmt.Appendf(b, `/resourceGroups/loadtest/providers/Microsoft.Compute/virtualMachines/loadtest-vm-%02d","location":"eastus","tags":{"source":"reckon-loadtest"}}`, w.rng.IntN(sh.cfg.Instances))
		b = append(b, '\n')
		w.buf.Write(b)
	}
	a, ok := w.exchange(OpIngest, http.MethodPost, sh.base+"/metering/v1/usage", w.buf.Bytes(),
		map[string]string{"Content-Type": "application/x-ndjson"}, true)
	if !ok {
		return
	}
	var res struct {
		Accepted   *int64 `json:"accepted"`
		Duplicates int64  `json:"duplicates"`
		Rejected   []struct {
			Code string `json:"code"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(a.body, &res); err != nil || res.Accepted == nil {
		w.invalidAnswer(OpIngest, a)
		return
	}
	codes := make([]string, len(res.Rejected))
	for i, r := range res.Rejected {
		codes[i] = r.Code
	}
	sh.rec.request(OpIngest, a.took, a.status, "", *res.Accepted, a.wire, false)
	sh.rec.ingested(*res.Accepted, res.Duplicates, codes)
}

// aggregates reads every page of a subscription's UsageAggregates over the
// configured window (Daily, with instance details), following nextLink.
func (w *worker) aggregates() {
	sh := w.sh
	q := url.Values{}
	q.Set("api-version", versionUsage)
	q.Set("reportedStartTime", sh.aggStart.Format(time.RFC3339))
	q.Set("reportedEndTime", sh.aggEnd.Format(time.RFC3339))
	q.Set("aggregationGranularity", "Daily")
	q.Set("showDetails", "true")
	next := sh.base + "/subscriptions/" + w.sub() + "/providers/Microsoft.Commerce/UsageAggregates?" + q.Encode()
	for pages := 0; next != ""; pages++ {
		if pages > 0 && w.stopped() {
			return
		}
		a, ok := w.exchange(OpAggregates, http.MethodGet, next, nil, nil, true)
		if !ok {
			return
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil || page.Value == nil || pages > 10_000 {
			w.invalidAnswer(OpAggregates, a)
			return
		}
		sh.rec.request(OpAggregates, a.took, a.status, "", int64(len(page.Value)), a.wire, false)
		next = page.NextLink
	}
}

// rateCard reads a subscription's RateCard (its own offer, currency and
// locale), gzip-compressed as real clients ask for it.
func (w *worker) rateCard() {
	u := w.sh.base + "/subscriptions/" + w.sub() + "/providers/Microsoft.Commerce/RateCard?api-version=" + versionRateCard
	a, ok := w.exchange(OpRateCard, http.MethodGet, u, nil, map[string]string{"Accept-Encoding": "gzip"}, true)
	if !ok {
		return
	}
	var rc struct {
		Meters []json.RawMessage `json:"Meters"`
	}
	if err := json.Unmarshal(a.body, &rc); err != nil || rc.Meters == nil {
		w.invalidAnswer(OpRateCard, a)
		return
	}
	w.sh.rec.request(OpRateCard, a.took, a.status, "", int64(len(rc.Meters)), a.wire, false)
}

// invoices lists a subscription's invoices with their download links
// (Invoices_List, $expand=downloadUrl), every page, and keeps the links.
func (w *worker) invoices(sub string) {
	sh := w.sh
	next := sh.base + "/subscriptions/" + sub + "/providers/Microsoft.Billing/invoices?api-version=" + versionInvoices + "&%24expand=downloadUrl"
	var links []string
	for pages := 0; next != ""; pages++ {
		if pages > 0 && w.stopped() {
			return
		}
		a, ok := w.exchange(OpInvoices, http.MethodGet, next, nil, nil, true)
		if !ok {
			return
		}
		var page struct {
			Value []struct {
				Name       string `json:"name"`
				Properties struct {
					DownloadURL *struct {
						URL string `json:"url"`
					} `json:"downloadUrl"`
				} `json:"properties"`
			} `json:"value"`
			NextLink string `json:"nextLink"`
		}
		if err := json.Unmarshal(a.body, &page); err != nil || pages > 10_000 {
			w.invalidAnswer(OpInvoices, a)
			return
		}
		for _, v := range page.Value {
			if v.Properties.DownloadURL == nil || v.Properties.DownloadURL.URL == "" {
				w.invalidAnswer(OpInvoices, a)
				return
			}
			links = append(links, v.Properties.DownloadURL.URL)
		}
		sh.rec.request(OpInvoices, a.took, a.status, "", int64(len(page.Value)), a.wire, false)
		next = page.NextLink
	}
	sh.mu.Lock()
	sh.links[sub], sh.linksAt[sub] = links, time.Now()
	sh.mu.Unlock()
}

// download fetches an invoice PDF through a download link (no token, as a
// browser would), listing a subscription's invoices first when no recent
// link is at hand.
func (w *worker) download() {
	sh := w.sh
	link := w.pickLink()
	if link == "" {
		for _, i := range w.rng.Perm(len(sh.subs)) {
			if w.stopped() {
				return
			}
			sub := sh.subs[i]
			sh.mu.Lock()
			fresh := time.Since(sh.linksAt[sub]) < linkMaxAge
			sh.mu.Unlock()
			if !fresh {
				w.invoices(sub)
			}
			if link = w.pickLink(); link != "" {
				break
			}
		}
	}
	if link == "" {
		sh.rec.skip(OpDownload)
		return
	}
	a, ok := w.exchange(OpDownload, http.MethodGet, link, nil, nil, false)
	if !ok {
		return
	}
	if !strings.HasPrefix(a.header.Get("Content-Type"), "application/pdf") || !bytes.HasPrefix(a.body, []byte("%PDF-")) {
		w.invalidAnswer(OpDownload, a)
		return
	}
	sh.rec.request(OpDownload, a.took, a.status, "", 1, a.wire, false)
}

// pickLink returns a random recent download link, or "".
func (w *worker) pickLink() string {
	sh := w.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var n int
	for sub, l := range sh.links {
		if time.Since(sh.linksAt[sub]) < linkMaxAge {
			n += len(l)
		}
	}
	if n == 0 {
		return ""
	}
	k := w.rng.IntN(n)
	for _, sub := range sh.subs { // a fixed order, so that k picks one link
		l := sh.links[sub]
		if time.Since(sh.linksAt[sub]) >= linkMaxAge {
			continue
		}
		if k < len(l) {
			return l[k]
		}
		k -= len(l)
	}
	return ""
}
