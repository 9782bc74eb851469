package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// mnNode is one "reckon serve" process of a multi-node test.
type mnNode struct {
	name, base string
	proc       *reckonProcess
}

// mnCluster is two reckon processes on one PostgreSQL database, sharing an
// export directory, both running the closing scheduler.
type mnCluster struct {
	nodes  [2]*mnNode
	client *http.Client
	getenv func(string) string
	secret string
	token  string // the operator's, issued by node A
}

// startCluster builds the binary and starts both nodes at the same time on
// a fresh database (they race for the migrations and the bootstrap).
func startCluster(t *testing.T) *mnCluster {
	t.Helper()
	if !slices.Contains(reckontest.Backends(), reckontest.Postgres) {
		t.Skip("RECKON_TEST_POSTGRES_DSN is not set: the multi-node tests need PostgreSQL")
	}
	bin := buildReckon(t)
	dsn := reckontest.DSN(t, reckontest.Postgres)
	dir := t.TempDir()
	c := &mnCluster{client: &http.Client{Timeout: 30 * time.Second}}
	c.getenv, c.secret = operatorEnv(t)
	env := []string{"RECKON_BOOTSTRAP_CLIENT_ID=" + testOperatorID, "RECKON_BOOTSTRAP_CLIENT_SECRET=" + c.secret}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECKON_") {
			env = append(env, kv)
		}
	}
	for i, name := range []string{"A", "B"} {
		addr := freeAddr(t)
		n := &mnNode{name: name, base: "http://" + addr}
		logPath := filepath.Join(dir, "node-"+name+".log")
		n.proc = startReckon(t, bin, logPath, env, "serve", "--addr", addr, "--db", dsn,
			"--data-dir", filepath.Join(dir, "data-"+name), "--export-dir", filepath.Join(dir, "exports"),
			"--close-interval", "100ms", "--grace-time", "1s", "--settle-margin", "1s", "--log-level", "warn")
		c.nodes[i] = n
		t.Cleanup(func() {
			n.proc.kill()
			if t.Failed() {
				if log, err := os.ReadFile(logPath); err == nil {
					if len(log) > 6000 {
						log = log[len(log)-6000:]
					}
					t.Logf("node %s log (end):\n%s", name, log)
				}
			}
		})
	}
	for _, n := range c.nodes {
		waitHealthy(t, c.client, n.base, n.proc.exited)
	}
	c.token = signIn(t, c.client, c.nodes[0].base, testOperatorID, c.secret)
	return c
}

// do sends a request and returns the status and body.
func (c *mnCluster) do(t testing.TB, method, u, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, data
}

// must sends a request and fails the test unless it answers want.
func (c *mnCluster) must(t testing.TB, want int, method, u string, body string) []byte {
	t.Helper()
	var b []byte
	if body != "" {
		b = []byte(body)
	}
	status, data := c.do(t, method, u, c.token, b)
	if status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, u, status, want, data)
	}
	return data
}

// eventually polls cond (every 50 ms, up to limit) and reports how long it
// took to hold; the nodes' caches recheck the store on their own clocks, so
// there is nothing to wait on but time.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestMultiNode runs two reckon processes on one PostgreSQL database and
// checks that any node serves the whole API: identity (tokens, role
// changes, key rotation) made on one node holds on the other, ingestion
// spread over both reads the same everywhere (continuation tokens too), a
// stream replayed through both at once is counted exactly once, the two
// closing schedulers close each period exactly once with gapless numbers
// and the same PDF on either node, and an export started on one node is
// followed and downloaded on the other.
func TestMultiNode(t *testing.T) {
	c := startCluster(t)
	a, b := c.nodes[0], c.nodes[1]

	t.Run("Identity", func(t *testing.T) {
		// The operator's token, issued by A, works on B.
		c.must(t, 200, "GET", b.base+"/admin/v1/subscriptions", "")
		sub := "3a5e0000-0000-4000-8000-00000000000a"
		c.must(t, 201, "PUT", a.base+"/admin/v1/subscriptions/"+sub, `{"displayName":"Identity","billingAccount":"identity"}`)
		const secret = "mn-reader-secret-0123456789"
		c.must(t, 201, "PUT", a.base+"/admin/v1/principals/mn-reader", `{"displayName":"Reader","secret":"`+secret+`"}`)
		reader := signIn(t, c.client, b.base, "mn-reader", secret) // created on A, signed in on B
		subURL := func(n *mnNode) string { return n.base + "/subscriptions/" + sub + "?api-version=2020-01-01" }
		for _, n := range c.nodes {
			if status, body := c.do(t, "GET", subURL(n), reader, nil); status != http.StatusForbidden {
				t.Fatalf("node %s, before the role: %d %s", n.name, status, body)
			}
		}
		const assignment = "/admin/v1/roleAssignments/3a5e0000-0000-4000-8000-0000000000a1"
		c.must(t, 201, "PUT", a.base+assignment, `{"principalId":"mn-reader","roleDefinitionName":"Reader","scope":"/subscriptions/`+sub+`"}`)
		took := eventually(t, 5*time.Second, "the role given on A holds on B", func() bool {
			status, _ := c.do(t, "GET", subURL(b), reader, nil)
			return status == 200
		})
		t.Logf("role assignment seen on B after %s", took)
		c.must(t, http.StatusNoContent, "DELETE", a.base+assignment, "")
		eventually(t, 5*time.Second, "the role removed on A is refused on B", func() bool {
			status, _ := c.do(t, "GET", subURL(b), reader, nil)
			return status == http.StatusForbidden
		})

		// A signing-key rotation on A: B accepts the tokens of the new key
		// and still the old key's, and publishes the new key.
		old := signIn(t, c.client, a.base, testOperatorID, c.secret)
		c.must(t, 200, "POST", a.base+"/admin/v1/signingKeys/rotate", "")
		fresh := signIn(t, c.client, a.base, testOperatorID, c.secret)
		oldKID, newKID := jwtKID(t, old), jwtKID(t, fresh)
		if oldKID == newKID {
			t.Fatalf("the rotation kept the key %s", oldKID)
		}
		eventually(t, 5*time.Second, "B accepts a token of the new key", func() bool {
			status, _ := c.do(t, "GET", b.base+"/admin/v1/subscriptions", fresh, nil)
			return status == 200
		})
		if status, body := c.do(t, "GET", b.base+"/admin/v1/subscriptions", old, nil); status != 200 {
			t.Errorf("B refuses a token of the old key: %d %s", status, body)
		}
		if jwks := string(c.must(t, 200, "GET", b.base+"/adfs/discovery/keys", "")); !strings.Contains(jwks, `"`+newKID+`"`) || !strings.Contains(jwks, `"`+oldKID+`"`) {
			t.Errorf("B's keys lack %s or %s: %s", newKID, oldKID, jwks)
		}
		// And B signs with it too: its tokens work on A.
		fromB := signIn(t, c.client, b.base, testOperatorID, c.secret)
		if jwtKID(t, fromB) != newKID {
			t.Errorf("B signs with %s, not the current key %s", jwtKID(t, fromB), newKID)
		}
		if status, body := c.do(t, "GET", a.base+"/admin/v1/subscriptions", fromB, nil); status != 200 {
			t.Errorf("A refuses a token B issued: %d %s", status, body)
		}
	})

	meters := [2]string{"6a1d0000-0000-4000-8000-0000000000e1", "6a1d0000-0000-4000-8000-0000000000e2"}
	for i, m := range meters {
		c.must(t, 201, "PUT", a.base+"/admin/v1/meters/"+m, fmt.Sprintf(`{"meterName":"Multi-node meter %d","meterCategory":"Test","unit":"1"}`, i))
	}
	// Every subscription has the default offer: price both meters, so
	// that the schedulers can close every period.
	rc := `{"OfferTerms":[],"Meters":[{"MeterId":"` + meters[0] + `","MeterName":"Multi-node meter 0","MeterCategory":"Test","MeterSubCategory":"","Unit":"1",
		"MeterTags":[],"MeterRegion":"","MeterRates":{"0":0.25},"EffectiveDate":"2020-01-01T00:00:00Z","IncludedQuantity":0},{"MeterId":"` + meters[1] + `","MeterName":"Multi-node meter 1","MeterCategory":"Test","MeterSubCategory":"","Unit":"1","MeterTags":[],"MeterRegion":"","MeterRates":{"0":1.5},"EffectiveDate":"2020-01-01T00:00:00Z","IncludedQuantity":0}],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`
	c.must(t, 200, "POST", a.base+"/admin/v1/catalog/import?format=ratecard&offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rc)
	day := time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC)

	t.Run("SpreadIngestion", func(t *testing.T) {
		sub := "3a5e0000-0000-4000-8000-00000000000b"
		c.must(t, 201, "PUT", b.base+"/admin/v1/subscriptions/"+sub, `{"displayName":"Spread","billingAccount":"spread"}`)
		// 24 hours × 2 meters × 25 instances: 1200 hourly rows, two pages.
		var recs []usage.RecordInput
		for h := range 24 {
			for m := range 2 {
				for i := range 25 {
					recs = append(recs, mnRecord(fmt.Sprintf("spread-%02d-%d-%02d", h, m, i), sub, meters[m], day.Add(time.Duration(h)*time.Hour), i, h*50+m*25+i))
				}
			}
		}
		want := map[aggKey]money.Quantity{}
		for _, r := range recs {
			addUsage(t, want, r)
		}
		var wg sync.WaitGroup
		for k := 0; k*100 < len(recs); k++ {
			n := c.nodes[k%2]
			batch := recs[k*100 : min(len(recs), (k+1)*100)]
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, status, err := postBatch(c.client, n.base, c.token, ndjsonBytes(batch))
				if err != nil || res.Accepted != len(batch) {
					t.Errorf("batch %d on %s: %d %+v %v", k, n.name, status, res, err)
				}
			}()
		}
		wg.Wait()
		for _, n := range c.nodes {
			compareAggregates(t, "node "+n.name, aggregates(t, c.client, n.base, c.token, sub, day, day.Add(48*time.Hour), "Daily"), want)
		}
		// Page by page, alternating nodes: A's continuation token on B and
		// B's on A give exactly the pages of one node.
		q := url.Values{"api-version": {"2015-06-01-preview"}, "reportedStartTime": {day.Format(time.RFC3339)},
			"reportedEndTime": {day.Add(48 * time.Hour).Format(time.RFC3339)}, "aggregationGranularity": {"Hourly"}, "showDetails": {"true"}}
		path := "/subscriptions/" + sub + "/providers/Microsoft.Commerce/UsageAggregates?" + q.Encode()
		one, across := aggregatePages(t, c, []*mnNode{a}, path), aggregatePages(t, c, []*mnNode{a, b}, path)
		if len(one) < 2 {
			t.Fatalf("%d pages: the test needs continuation", len(one))
		}
		if !slices.Equal(one, across) {
			t.Errorf("the pages read across nodes differ from one node's")
		}
	})

	t.Run("ConcurrentReplay", func(t *testing.T) {
		sub := "3a5e0000-0000-4000-8000-00000000000c"
		c.must(t, 201, "PUT", a.base+"/admin/v1/subscriptions/"+sub, `{"displayName":"Replay","billingAccount":"replay"}`)
		var recs []usage.RecordInput
		for i := range 3000 {
			recs = append(recs, mnRecord(fmt.Sprintf("replay-%04d", i), sub, meters[i%2], day.Add(time.Duration(i%24)*time.Hour), i%7, i))
		}
		want := map[aggKey]money.Quantity{}
		for _, r := range recs {
			addUsage(t, want, r)
		}
		// Each node is sent every record once: A in batches of 97 from
		// the start, B in batches of 131 from the end, both at once; then
		// both the same 500-record batch of the middle at the same moment.
		var (
			mu         sync.Mutex
			results    [2]usage.Result
			wg         sync.WaitGroup
			startOfAll = make(chan struct{})
		)
		send := func(node int, batch []usage.RecordInput) {
			res, status, err := postBatch(c.client, c.nodes[node].base, c.token, ndjsonBytes(batch))
			if err != nil || len(res.Rejected) != 0 || res.Accepted+res.Duplicates != len(batch) {
				t.Errorf("node %s: %d %+v %v", c.nodes[node].name, status, res, err)
			}
			mu.Lock()
			results[node].Accepted += res.Accepted
			results[node].Duplicates += res.Duplicates
			mu.Unlock()
		}
		head, middle := recs[:2500], recs[2500:]
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-startOfAll
			for k := 0; k < len(head); k += 97 {
				send(0, head[k:min(len(head), k+97)])
			}
		}()
		go func() {
			defer wg.Done()
			<-startOfAll
			for end := len(head); end > 0; end -= 131 {
				send(1, head[max(0, end-131):end])
			}
		}()
		close(startOfAll)
		wg.Wait()
		same := make(chan struct{})
		for node := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-same
				send(node, middle)
			}()
		}
		close(same)
		wg.Wait()
		t.Logf("accepted/duplicates: A %d/%d, B %d/%d", results[0].Accepted, results[0].Duplicates, results[1].Accepted, results[1].Duplicates)
		if got := results[0].Accepted + results[1].Accepted; got != len(recs) {
			t.Errorf("accepted %d in all, want %d (each record on exactly one node)", got, len(recs))
		}
		if got := results[0].Duplicates + results[1].Duplicates; got != len(recs) {
			t.Errorf("duplicates %d in all, want %d (each record a duplicate on the other node)", got, len(recs))
		}
		for _, n := range c.nodes {
			compareAggregates(t, "node "+n.name, aggregates(t, c.client, n.base, c.token, sub, day, day.Add(48*time.Hour), "Daily"), want)
		}
	})

	// Periods for the closing and export tests: usage in the months three
	// and two before the current one (two subscriptions, one billing
	// account, so one numbering sequence).
	thisMonth := time.Now().UTC().AddDate(0, 0, 1-time.Now().UTC().Day()).Truncate(24 * time.Hour)
	closeSubs := []string{"3a5e0000-0000-4000-8000-0000000000d1", "3a5e0000-0000-4000-8000-0000000000d2"}
	t.Run("ClosingSchedulers", func(t *testing.T) {
		for i, sub := range closeSubs {
			c.must(t, 201, "PUT", c.nodes[i].base+"/admin/v1/subscriptions/"+sub, `{"displayName":"Closing `+fmt.Sprint(i)+`","billingAccount":"multinode"}`)
			var recs []usage.RecordInput
			for m := range 2 {
				start := thisMonth.AddDate(0, m-3, 9)
				for k := range 10 {
					recs = append(recs, mnRecord(fmt.Sprintf("close-%d-%d-%d", i, m, k), sub, meters[0], start.Add(time.Duration(k)*time.Hour), k, 100+k))
				}
			}
			if res, status, err := postBatch(c.client, c.nodes[i].base, c.token, ndjsonBytes(recs)); err != nil || res.Accepted != len(recs) {
				t.Fatalf("ingest: %d %+v %v", status, res, err)
			}
		}
		type period struct {
			Name       string
			Properties struct {
				BillingPeriodEndDate string    `json:"billingPeriodEndDate"`
				InvoiceIDs           *[]string `json:"invoiceIds"`
			}
		}
		// Wait until every ended period of both subscriptions has its
		// invoice, closed by whichever scheduler got there first.
		var ended int
		eventually(t, 20*time.Second, "every ended period closed", func() bool {
			ended = 0
			for _, sub := range closeSubs {
				var page struct{ Value []period }
				body := c.must(t, 200, "GET", b.base+"/subscriptions/"+sub+"/providers/Microsoft.Billing/billingPeriods?api-version=2018-03-01-preview", "")
				if err := json.Unmarshal(body, &page); err != nil {
					t.Fatal(err)
				}
				for _, p := range page.Value {
					end, err := time.Parse(time.DateOnly, p.Properties.BillingPeriodEndDate)
					if err != nil {
						t.Fatalf("period %s: end %q", p.Name, p.Properties.BillingPeriodEndDate)
					}
					if !end.After(time.Now().UTC().Add(-5 * time.Second)) {
						ended++
						if p.Properties.InvoiceIDs == nil || len(*p.Properties.InvoiceIDs) == 0 {
							return false
						}
						if len(*p.Properties.InvoiceIDs) != 1 {
							t.Fatalf("period %s of %s has invoices %v", p.Name, sub, *p.Properties.InvoiceIDs)
						}
					}
				}
			}
			return true
		})
		if ended < 4 {
			t.Fatalf("only %d ended periods", ended)
		}
		// Each period exactly one invoice; the numbers 1..n, each once;
		// each PDF the same bytes on either node.
		var names []string
		for _, sub := range closeSubs {
			type invoice struct {
				Name       string
				Properties struct {
					DownloadURL *struct{ URL string } `json:"downloadUrl"`
				}
			}
			var lists [2]map[string]string
			for i, n := range c.nodes {
				var page struct{ Value []invoice }
				body := c.must(t, 200, "GET", n.base+"/subscriptions/"+sub+"/providers/Microsoft.Billing/invoices?api-version=2018-03-01-preview&$expand=downloadUrl", "")
				if err := json.Unmarshal(body, &page); err != nil {
					t.Fatal(err)
				}
				lists[i] = map[string]string{}
				for _, inv := range page.Value {
					if inv.Properties.DownloadURL == nil || !strings.HasPrefix(inv.Properties.DownloadURL.URL, n.base+"/") {
						t.Fatalf("invoice %s on %s: link %+v", inv.Name, n.name, inv.Properties.DownloadURL)
					}
					lists[i][inv.Name] = inv.Properties.DownloadURL.URL
				}
			}
			for name, urlA := range lists[0] {
				urlB, ok := lists[1][name]
				if !ok {
					t.Fatalf("invoice %s listed on A, not on B", name)
				}
				_, pdfA := c.do(t, "GET", urlA, "", nil)
				_, pdfB := c.do(t, "GET", urlB, "", nil)
				if !bytes.HasPrefix(pdfA, []byte("%PDF-")) || !bytes.Equal(pdfA, pdfB) {
					t.Errorf("invoice %s: the PDFs of A (%d bytes) and B (%d bytes) differ", name, len(pdfA), len(pdfB))
				}
				names = append(names, name)
			}
			if len(lists[1]) != len(lists[0]) {
				t.Errorf("%s: A lists %d invoices, B %d", sub, len(lists[0]), len(lists[1]))
			}
		}
		slices.Sort(names)
		var want []string
		for k := 1; k <= ended; k++ {
			want = append(want, fmt.Sprintf("MULTINODE-%06d", k))
		}
		if !slices.Equal(names, want) {
			t.Errorf("invoice numbers %v, want %v", names, want)
		}
	})

	t.Run("Export", func(t *testing.T) {
		body := c.must(t, http.StatusAccepted, "POST", a.base+"/admin/v1/exports",
			`{"dataset":"focus","from":"`+thisMonth.AddDate(0, -3, 0).Format(time.DateOnly)+`","to":"`+thisMonth.Format(time.DateOnly)+`","billingAccount":"multinode"}`)
		var job struct{ ID, Node string }
		if err := json.Unmarshal(body, &job); err != nil || job.ID == "" {
			t.Fatalf("start: %s", body)
		}
		type view struct {
			State, Error, Node string
			Subscriptions      int
			Done               int `json:"subscriptionsDone"`
			Manifest           struct {
				Files []struct{ Name, SHA256 string }
			}
			Files []struct{ Name, URL string }
		}
		var v view
		eventually(t, 20*time.Second, "the export finished, seen on B", func() bool {
			if err := json.Unmarshal(c.must(t, 200, "GET", b.base+"/admin/v1/exports/"+job.ID, ""), &v); err != nil {
				t.Fatal(err)
			}
			return v.State != "Running"
		})
		if v.State != "Succeeded" || v.Node != job.Node || v.Subscriptions != len(closeSubs) || v.Done != len(closeSubs) {
			t.Fatalf("export on B: %+v", v)
		}
		sums := map[string]string{}
		for _, f := range v.Manifest.Files {
			sums[f.Name] = f.SHA256
		}
		if len(v.Files) != len(sums)+1 {
			t.Fatalf("links %+v for files %v", v.Files, sums)
		}
		for _, f := range v.Files {
			if !strings.HasPrefix(f.URL, b.base+"/") {
				t.Fatalf("link %s is not B's", f.URL)
			}
			status, data := c.do(t, "GET", f.URL, "", nil)
			sum := sha256.Sum256(data)
			if status != 200 {
				t.Fatalf("%s from B: %d %s", f.Name, status, data)
			}
			if want, ok := sums[f.Name]; ok && hex.EncodeToString(sum[:]) != want {
				t.Errorf("%s from B: sha256 differs from the manifest's", f.Name)
			}
		}
		var list struct{ Value []struct{ ID string } }
		if err := json.Unmarshal(c.must(t, 200, "GET", b.base+"/admin/v1/exports", ""), &list); err != nil || len(list.Value) != 1 || list.Value[0].ID != job.ID {
			t.Errorf("B's export list: %+v %v", list, err)
		}
	})
}

// mnRecord is a record of quantity n/4 over one hour from start, reported
// an hour after its end.
func mnRecord(id, sub, meter string, start time.Time, instance, n int) usage.RecordInput {
	return usage.RecordInput{
		ID: id, SubscriptionID: sub, MeterID: meter,
		Quantity:       json.RawMessage(fmt.Sprintf("%d.%02d", n/4, (n%4)*25)),
		UsageStartTime: start.Format(time.RFC3339), UsageEndTime: start.Add(time.Hour).Format(time.RFC3339),
		ResourceURI:  fmt.Sprintf("/subscriptions/%s/resourceGroups/mn/providers/Microsoft.Compute/virtualMachines/vm-%d", sub, instance),
		ReportedTime: start.Add(2 * time.Hour).Format(time.RFC3339),
	}
}

// aggregatePages reads every page of a UsageAggregates query, the k-th
// page from nodes[k % len(nodes)], following each nextLink on the next
// node, and returns the pages' rows (nextLinks excluded).
func aggregatePages(t *testing.T, c *mnCluster, nodes []*mnNode, path string) []string {
	t.Helper()
	var pages []string
	next := nodes[0].base + path
	for k := 0; next != ""; k++ {
		if k > 100 {
			t.Fatal("more than 100 pages")
		}
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		target := nodes[k%len(nodes)].base + u.RequestURI()
		var page struct {
			Value    json.RawMessage `json:"value"`
			NextLink string          `json:"nextLink"`
		}
		if err := json.Unmarshal(c.must(t, 200, "GET", target, ""), &page); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, string(page.Value))
		next = page.NextLink
	}
	return pages
}

// jwtKID is the key id in a JWT's header.
func jwtKID(t *testing.T, token string) string {
	t.Helper()
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	var h struct{ Kid string }
	if err != nil || json.Unmarshal(raw, &h) != nil || h.Kid == "" {
		t.Fatalf("token header %q: %v", head, err)
	}
	return h.Kid
}
