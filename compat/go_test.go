package compat_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/commerce/armcommerce"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

// fakeCredential is an azcore.TokenCredential that hands out a fixed token.
type fakeCredential struct{ token string }

func (c fakeCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// goClient returns an armcommerce client of subscription sub on srv that
// sends the operator's token through transport.
func goClient(t *testing.T, srv *reckontest.Server, sub string, transport policy.Transporter, retry policy.RetryOptions) *armcommerce.UsageAggregatesClient {
	t.Helper()
	c, err := armcommerce.NewUsageAggregatesClient(sub, fakeCredential{srv.AdminToken}, &arm.ClientOptions{
		ClientOptions: policy.ClientOptions{
			Cloud: cloud.Configuration{
				ActiveDirectoryAuthorityHost: "https://login.invalid/",
				Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
					cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"},
				},
			},
			Transport: transport,
			Retry:     retry,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sdkRow is a row as the SDK decoded it.
type sdkRow struct {
	quantity float32
	row      *armcommerce.UsageAggregation
}

// sdkList reads every page of q through the SDK's pager.
func sdkList(t *testing.T, c *armcommerce.UsageAggregatesClient, q query) (rows map[string]sdkRow, pages int) {
	t.Helper()
	rows = map[string]sdkRow{}
	pager := c.NewListPager(q.start, q.end, &armcommerce.UsageAggregatesClientListOptions{
		ShowDetails:            to.Ptr(q.showDetails),
		AggregationGranularity: to.Ptr(armcommerce.AggregationGranularity(q.granularity)),
	})
	for pager.More() {
		page, err := pager.NextPage(t.Context())
		if err != nil {
			t.Fatalf("%s: page %d: %v", q.name, pages+1, err)
		}
		pages++
		if len(page.Value) > 1000 {
			t.Errorf("%s: page %d has %d rows", q.name, pages, len(page.Value))
		}
		for _, r := range page.Value {
			p := r.Properties
			if p == nil || p.Quantity == nil || p.MeterID == nil || p.UsageStartTime == nil || p.UsageEndTime == nil {
				t.Fatalf("%s: incomplete row %+v", q.name, r)
			}
			uri := ""
			if p.InstanceData != nil {
				uri = instanceURI(t, *p.InstanceData)
			}
			k := bucketKey(*p.UsageStartTime, *p.MeterID, uri)
			if _, dup := rows[k]; dup {
				t.Errorf("%s: row %s appears twice", q.name, k)
			}
			rows[k] = sdkRow{quantity: *p.Quantity, row: r}
		}
		if pages > 50 {
			t.Fatal("more than 50 pages")
		}
	}
	return rows, pages
}

// TestAzureSDKForGo lists the data set through armcommerce v0.2.0 over
// HTTPS, Daily and Hourly, with and without details, and compares every row
// and the totals with what was ingested.
func TestAzureSDKForGo(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		clock := reckontest.NewClock(serverNow)
		srv, queries := startCompat(t, b, clock)
		client := goClient(t, srv, subscription, srv.Client(), policy.RetryOptions{MaxRetries: -1})
		for _, q := range queries {
			t.Run(q.name, func(t *testing.T) {
				got, pages := sdkList(t, client, q)
				if len(got) != len(q.rows) {
					t.Errorf("the SDK read %d rows, want %d", len(got), len(q.rows))
				}
				if wantPages := (len(q.rows) + 999) / 1000; pages != wantPages {
					t.Errorf("the SDK read %d pages, want %d", pages, wantPages)
				}
				bucket := 24 * time.Hour
				if q.granularity == "Hourly" {
					bucket = time.Hour
				}
				meterName := map[string]string{meters[0]: meterNames[0], meters[1]: meterNames[1]}
				for k, want := range q.rows {
					r, ok := got[k]
					if !ok {
						t.Errorf("row %s is missing", k)
						continue
					}
					// float32 keeps about 7 significant digits.
					exp := float64(want) / 1e9
					if diff := math.Abs(float64(r.quantity) - exp); diff > 1e-6*exp {
						t.Errorf("row %s: quantity %v, want %v (relative error %.2g)", k, r.quantity, exp, diff/exp)
					}
					p := r.row.Properties
					if p.UsageEndTime.Sub(*p.UsageStartTime) != bucket || *p.SubscriptionID != subscription ||
						*p.MeterName != meterName[*p.MeterID] || *p.Unit != "1 Hour" || *p.MeterCategory != "Virtual Machines" {
						t.Errorf("row %s: properties %+v", k, p)
					}
					wantName := q.granularity + "_BRSDT_" + q.start.Format("20060102_1504")
					if *r.row.Name != wantName || *r.row.Type != "Microsoft.Commerce/UsageAggregate" ||
						*r.row.ID != "/subscriptions/"+subscription+"/providers/Microsoft.Commerce/UsageAggregates/"+wantName {
						t.Errorf("row %s: id %q name %q type %q", k, *r.row.ID, *r.row.Name, *r.row.Type)
					}
				}

				// The exact totals, from the response text.
				raw, rawPages := rawList(t, srv, q)
				if !equalMaps(raw, q.rows) {
					t.Errorf("the raw JSON holds %d rows that differ from the %d ingested", len(raw), len(q.rows))
				}
				if rawPages != pages {
					t.Errorf("raw paging took %d pages, the SDK %d", rawPages, pages)
				}
				if got, want := exactTotals(raw), q.totals(); !equalMaps(got, want) {
					t.Errorf("exact totals %v, want %v", got, want)
				}
			})
		}

		t.Run("ErrorMapping", func(t *testing.T) {
			future := serverNow.Add(24 * time.Hour).Truncate(24 * time.Hour)
			pager := client.NewListPager(dailyStart, future, nil)
			_, err := pager.NextPage(t.Context())
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || re.ErrorCode != "RequestEndTimeIsInFuture" {
				t.Fatalf("err = %v, want a 400 RequestEndTimeIsInFuture ResponseError", err)
			}
			other := goClient(t, srv, "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", srv.Client(), policy.RetryOptions{MaxRetries: -1})
			_, err = other.NewListPager(dailyStart, dailyEnd, nil).NextPage(t.Context())
			if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "SubscriptionNotFound" {
				t.Fatalf("err = %v, want a 404 SubscriptionNotFound ResponseError", err)
			}
		})

		// The SDK retries a window that has not settled after Retry-After,
		// and gets the page. The server's clock moves on when it answers 503.
		t.Run("RetryAfterProcessingNotComplete", func(t *testing.T) {
			end := serverNow.Truncate(time.Hour)
			ingestAt(t, srv, end.Add(-30*time.Minute))
			clock.Set(serverNow) // the window ended 300 ms ago; the settle margin is 1 s
			watch := &watchTransport{next: srv.Client(), on503: func() { clock.Advance(2 * time.Second) }}
			c := goClient(t, srv, subscription, watch, policy.RetryOptions{MaxRetries: 2, RetryDelay: time.Millisecond, MaxRetryDelay: 5 * time.Second})
			start := time.Now()
			page, err := c.NewListPager(end.Add(-time.Hour), end, &armcommerce.UsageAggregatesClientListOptions{
				AggregationGranularity: to.Ptr(armcommerce.AggregationGranularityHourly)}).NextPage(t.Context())
			if err != nil {
				t.Fatalf("after retry: %v", err)
			}
			if len(page.Value) != 1 || *page.Value[0].Properties.Quantity != 0.25 {
				t.Errorf("page = %+v, want the one late record", page.Value)
			}
			if watch.statuses() != "503 200" || watch.retryAfter != "1" || watch.code != "ProcessingNotComplete" {
				t.Errorf("responses %q, Retry-After %q, code %q; want 503 (Retry-After 1, ProcessingNotComplete) then 200",
					watch.statuses(), watch.retryAfter, watch.code)
			}
			if waited := time.Since(start); waited < 900*time.Millisecond {
				t.Errorf("the SDK retried after %v, before Retry-After", waited)
			}
		})
	})
}

// ingestAt ingests one record of 0.25 reported at the given time.
func ingestAt(t *testing.T, srv *reckontest.Server, reported time.Time) {
	t.Helper()
	body := `{"id":"late-1","subscriptionId":"` + subscription + `","meterId":"` + meters[0] + `","quantity":0.25,` +
		`"usageStartTime":"2024-02-09T10:00:00Z","usageEndTime":"2024-02-09T11:00:00Z","reportedTime":"` + reported.Format(time.RFC3339) + `"}`
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/metering/v1/usage", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ingest: %d", resp.StatusCode)
	}
}

// watchTransport records the responses it passes on and calls on503 when
// one is a 503.
type watchTransport struct {
	next  policy.Transporter
	on503 func()

	mu         sync.Mutex
	seen       []int
	retryAfter string
	code       string
}

func (w *watchTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := w.next.Do(req)
	if err != nil {
		return resp, err
	}
	w.mu.Lock()
	w.seen = append(w.seen, resp.StatusCode)
	if resp.StatusCode == http.StatusServiceUnavailable {
		w.retryAfter = resp.Header.Get("Retry-After")
		w.code = resp.Header.Get("x-ms-error-code")
	}
	w.mu.Unlock()
	if resp.StatusCode == http.StatusServiceUnavailable {
		w.on503()
	}
	return resp, nil
}

func (w *watchTransport) statuses() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := make([]string, len(w.seen))
	for i, c := range w.seen {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, " ")
}
