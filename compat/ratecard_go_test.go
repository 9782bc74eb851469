package compat_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/commerce/armcommerce"

	fx "github.com/reckon-billing/reckon/compat/ratecardfixture"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// armOptions are the client options that point an ARM client at srv over
// HTTPS through transport, with no retries; apiVersion "" keeps the
// client's own api-version.
func armOptions(srv *reckontest.Server, transport policy.Transporter, apiVersion string) *arm.ClientOptions {
	return &arm.ClientOptions{ClientOptions: policy.ClientOptions{
		Cloud: cloud.Configuration{
			ActiveDirectoryAuthorityHost: "https://login.invalid/",
			Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
				cloud.ResourceManager: {Endpoint: srv.URL, Audience: "https://management.core.windows.net/"},
			},
		},
		Transport:  transport,
		Retry:      policy.RetryOptions{MaxRetries: -1},
		APIVersion: apiVersion,
	}}
}

// recordingTransport passes requests on and records what was sent and
// whether the response came gzipped (net/http then unzips it).
type recordingTransport struct {
	next policy.Transporter

	mu      sync.Mutex
	queries []url.Values
	gzipped []bool
}

func (r *recordingTransport) Do(req *http.Request) (*http.Response, error) {
	resp, err := r.next.Do(req)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queries = append(r.queries, req.URL.Query())
	r.gzipped = append(r.gzipped, err == nil && resp.Uncompressed)
	return resp, err
}

// last returns the query of the last request and whether its answer was gzipped.
func (r *recordingTransport) last(t *testing.T) (url.Values, bool) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queries) == 0 {
		t.Fatal("no request was sent")
	}
	return r.queries[len(r.queries)-1], r.gzipped[len(r.gzipped)-1]
}

func float32Of(t *testing.T, s string) float32 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 32)
	if err != nil {
		t.Fatalf("fixture number %q: %v", s, err)
	}
	return float32(f)
}

func float64Of(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("fixture number %q: %v", s, err)
	}
	return f
}

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// derefStrings returns the values of a list of *string; a nil element is "<nil>".
func derefStrings(list []*string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		if s == nil {
			out[i] = "<nil>"
		} else {
			out[i] = *s
		}
	}
	return out
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// checkTrack2RateCard compares every field armcommerce decoded with the
// fixture, at the SDK's types: float32 for MeterRates and
// IncludedQuantity, float64 for Credit and TieredDiscount, int32 for
// RecurringCharge, time.Time for EffectiveDate.
func checkTrack2RateCard(t *testing.T, rc armcommerce.ResourceRateCardInfo) {
	t.Helper()
	if deref(rc.Currency) != fx.Currency || deref(rc.Locale) != fx.Locale || deref(rc.IsTaxIncluded) != false {
		t.Errorf("Currency %v, Locale %v, IsTaxIncluded %v; want %s, %s, false", deref(rc.Currency), deref(rc.Locale), deref(rc.IsTaxIncluded), fx.Currency, fx.Locale)
	}
	if len(rc.Meters) != len(fx.Meters) {
		t.Fatalf("%d meters, want %d", len(rc.Meters), len(fx.Meters))
	}
	for i, want := range fx.Meters {
		m := rc.Meters[i]
		if m == nil {
			t.Fatalf("meter %d is null", i)
		}
		if deref(m.MeterID) != want.ID || deref(m.MeterName) != want.Name || deref(m.MeterCategory) != want.Category ||
			deref(m.MeterSubCategory) != want.SubCategory || deref(m.Unit) != want.Unit || deref(m.MeterRegion) != want.Region {
			t.Errorf("meter %d: id %v name %v category %v subcategory %v unit %v region %v; want %+v", i, deref(m.MeterID), deref(m.MeterName),
				deref(m.MeterCategory), deref(m.MeterSubCategory), deref(m.Unit), deref(m.MeterRegion), want)
		}
		if m.MeterTags == nil || !slices.Equal(derefStrings(m.MeterTags), want.Tags) {
			t.Errorf("meter %s: MeterTags %q (nil: %t), want %q", want.ID, derefStrings(m.MeterTags), m.MeterTags == nil, want.Tags)
		}
		if m.EffectiveDate == nil || !m.EffectiveDate.Equal(want.EffectiveDate) {
			t.Errorf("meter %s: EffectiveDate %v, want %v", want.ID, deref(m.EffectiveDate), want.EffectiveDate)
		}
		if m.IncludedQuantity == nil || *m.IncludedQuantity != float32Of(t, want.IncludedQuantity) {
			t.Errorf("meter %s: IncludedQuantity %v, want float32(%s)", want.ID, deref(m.IncludedQuantity), want.IncludedQuantity)
		}
		if len(m.MeterRates) != len(want.Rates) {
			t.Errorf("meter %s: MeterRates has %d tiers, want %d", want.ID, len(m.MeterRates), len(want.Rates))
		}
		for _, tier := range want.Rates {
			if got := m.MeterRates[tier.Min]; got == nil || *got != float32Of(t, tier.Value) {
				t.Errorf("meter %s: MeterRates[%q] = %v, want float32(%s)", want.ID, tier.Min, deref(got), tier.Value)
			}
		}
	}

	if len(rc.OfferTerms) != 3 {
		t.Fatalf("%d offer terms, want 3", len(rc.OfferTerms))
	}
	seen := map[string]int{}
	for _, term := range rc.OfferTerms {
		switch v := term.(type) {
		case *armcommerce.MonetaryCredit:
			seen[fx.TermMonetaryCredit]++
			want := fx.MonetaryCredit
			if deref(v.Name) != armcommerce.OfferTermInfoMonetaryCredit || v.EffectiveDate == nil || !v.EffectiveDate.Equal(want.EffectiveDate) {
				t.Errorf("Monetary Credit: Name %v EffectiveDate %v, want %v", deref(v.Name), deref(v.EffectiveDate), want.EffectiveDate)
			}
			if v.Credit == nil || *v.Credit != float64Of(t, want.Credit) {
				t.Errorf("Monetary Credit: Credit %v, want %s", deref(v.Credit), want.Credit)
			}
			if v.ExcludedMeterIDs == nil || !sameSet(derefStrings(v.ExcludedMeterIDs), want.Excluded) {
				t.Errorf("Monetary Credit: ExcludedMeterIds %q, want %q", derefStrings(v.ExcludedMeterIDs), want.Excluded)
			}
		case *armcommerce.MonetaryCommitment:
			seen[fx.TermMonetaryCommitment]++
			want := fx.MonetaryCommitment
			if deref(v.Name) != armcommerce.OfferTermInfoMonetaryCommitment || v.EffectiveDate == nil || !v.EffectiveDate.Equal(want.EffectiveDate) {
				t.Errorf("Monetary Commitment: Name %v EffectiveDate %v, want %v", deref(v.Name), deref(v.EffectiveDate), want.EffectiveDate)
			}
			if len(v.TieredDiscount) != len(want.TieredDiscount) {
				t.Errorf("Monetary Commitment: TieredDiscount has %d entries, want %d", len(v.TieredDiscount), len(want.TieredDiscount))
			}
			for _, d := range want.TieredDiscount {
				if got := v.TieredDiscount[d.Min]; got == nil || *got != float64Of(t, d.Value) {
					t.Errorf("Monetary Commitment: TieredDiscount[%q] = %v, want %s", d.Min, deref(got), d.Value)
				}
			}
			if v.ExcludedMeterIDs == nil || !sameSet(derefStrings(v.ExcludedMeterIDs), want.Excluded) {
				t.Errorf("Monetary Commitment: ExcludedMeterIds %q (nil: %t), want %q", derefStrings(v.ExcludedMeterIDs), v.ExcludedMeterIDs == nil, want.Excluded)
			}
		case *armcommerce.RecurringCharge:
			seen[fx.TermRecurringCharge]++
			want := fx.RecurringCharge
			if deref(v.Name) != armcommerce.OfferTermInfoRecurringCharge || v.EffectiveDate == nil || !v.EffectiveDate.Equal(want.EffectiveDate) {
				t.Errorf("Recurring Charge: Name %v EffectiveDate %v, want %v", deref(v.Name), deref(v.EffectiveDate), want.EffectiveDate)
			}
			if n, _ := strconv.ParseInt(want.Amount, 10, 32); v.RecurringCharge == nil || *v.RecurringCharge != int32(n) {
				t.Errorf("Recurring Charge: RecurringCharge %v, want %s", deref(v.RecurringCharge), want.Amount)
			}
		default:
			t.Errorf("offer term decoded as %T (%+v): its Name is not one of the three kinds", term, term.GetOfferTermInfoAutoGenerated())
		}
	}
	for _, name := range []string{fx.TermMonetaryCredit, fx.TermMonetaryCommitment, fx.TermRecurringCharge} {
		if seen[name] != 1 {
			t.Errorf("%d offer terms of kind %q, want 1", seen[name], name)
		}
	}
}

// TestRateCardAzureSDKForGo reads the fixture's RateCard through
// armcommerce v0.2.0's RateCardClient over HTTPS (gzipped), with the
// client's own api-version and with 2016-08-31-preview, and checks every
// field it decodes; MeterStatus, which the SDK's model lacks, and the
// numbers' exact text through a raw azcore pipeline request; the filter
// built from the subscription resource (api-version 2020-01-01); and the
// SDK's error mapping of refused filters and of an unknown subscription.
func TestRateCardAzureSDKForGo(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv := fx.Start(t, b)

		for _, c := range []struct{ name, override, sent string }{
			{"ClientAPIVersion", "", fx.APIVersion2015},
			{"APIVersion2016", fx.APIVersion2016, fx.APIVersion2016},
		} {
			t.Run(c.name, func(t *testing.T) {
				rec := &recordingTransport{next: srv.Client()}
				client, err := armcommerce.NewRateCardClient(fx.Subscription, fakeCredential{srv.AdminToken}, armOptions(srv, rec, c.override))
				if err != nil {
					t.Fatal(err)
				}
				res, err := client.Get(t.Context(), fx.Filter, nil)
				if err != nil {
					t.Fatalf("RateCardClient.Get: %v", err)
				}
				q, gzipped := rec.last(t)
				if q.Get("api-version") != c.sent || q.Get("$filter") != fx.Filter {
					t.Errorf("the SDK sent api-version %q $filter %q, want %q and the fixture's filter", q.Get("api-version"), q.Get("$filter"), c.sent)
				}
				if !gzipped {
					t.Error("the RateCard was not sent gzipped to a client that accepts gzip")
				}
				checkTrack2RateCard(t, res.ResourceRateCardInfo)
			})
		}

		// armcommerce's MeterInfo has no MeterStatus: read it, and the
		// numbers' exact text, through the SDK's own pipeline.
		t.Run("MeterStatusThroughPipeline", func(t *testing.T) {
			client, err := arm.NewClient("reckon-compat.RateCard", "v0.0.0", fakeCredential{srv.AdminToken}, armOptions(srv, srv.Client(), ""))
			if err != nil {
				t.Fatal(err)
			}
			type rawMeter struct {
				MeterID          string                 `json:"MeterId"`
				MeterRates       map[string]json.Number `json:"MeterRates"`
				IncludedQuantity json.Number            `json:"IncludedQuantity"`
				MeterStatus      *string                `json:"MeterStatus"`
			}
			for _, v := range []string{fx.APIVersion2016, fx.APIVersion2015} {
				req, err := runtime.NewRequest(t.Context(), http.MethodGet,
					runtime.JoinPaths(client.Endpoint(), "/subscriptions/"+url.PathEscape(fx.Subscription)+"/providers/Microsoft.Commerce/RateCard"))
				if err != nil {
					t.Fatal(err)
				}
				req.Raw().URL.RawQuery = url.Values{"$filter": {fx.Filter}, "api-version": {v}}.Encode()
				resp, err := client.Pipeline().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if !runtime.HasStatusCode(resp, http.StatusOK) {
					t.Fatalf("%s: %v", v, runtime.NewResponseError(resp))
				}
				var body struct {
					Meters []rawMeter `json:"Meters"`
				}
				if err := runtime.UnmarshalAsJSON(resp, &body); err != nil {
					t.Fatal(err)
				}
				if len(body.Meters) != len(fx.Meters) {
					t.Fatalf("%s: %d meters, want %d", v, len(body.Meters), len(fx.Meters))
				}
				for i, want := range fx.Meters {
					m := body.Meters[i]
					switch {
					case m.MeterID != want.ID:
						t.Errorf("%s: meter %d is %s, want %s", v, i, m.MeterID, want.ID)
					case v == fx.APIVersion2016 && (m.MeterStatus == nil || *m.MeterStatus != want.Status):
						t.Errorf("%s: meter %s: MeterStatus %v, want %s", v, want.ID, deref(m.MeterStatus), want.Status)
					case v == fx.APIVersion2015 && m.MeterStatus != nil:
						t.Errorf("%s: meter %s has a MeterStatus (%s)", v, want.ID, *m.MeterStatus)
					}
					// The server writes the imported decimals exactly.
					if string(m.IncludedQuantity) != want.IncludedQuantity {
						t.Errorf("%s: meter %s: IncludedQuantity %s, want %s", v, want.ID, m.IncludedQuantity, want.IncludedQuantity)
					}
					for _, tier := range want.Rates {
						if got := m.MeterRates[tier.Min]; string(got) != tier.Value {
							t.Errorf("%s: meter %s: MeterRates[%q] is %q on the wire, want %s", v, want.ID, tier.Min, got, tier.Value)
						}
					}
				}
			}
		})

		// Beyond Azure: the subscription resource states the RateCard
		// parameters; the filter built from them reads the same RateCard.
		t.Run("FilterFromSubscriptionResource", func(t *testing.T) {
			client, err := arm.NewClient("reckon-compat.Subscriptions", "v0.0.0", fakeCredential{srv.AdminToken}, armOptions(srv, srv.Client(), ""))
			if err != nil {
				t.Fatal(err)
			}
			req, err := runtime.NewRequest(t.Context(), http.MethodGet, runtime.JoinPaths(client.Endpoint(), "/subscriptions/"+url.PathEscape(fx.Subscription)))
			if err != nil {
				t.Fatal(err)
			}
			req.Raw().URL.RawQuery = "api-version=2020-01-01"
			resp, err := client.Pipeline().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if !runtime.HasStatusCode(resp, http.StatusOK) {
				t.Fatal(runtime.NewResponseError(resp))
			}
			var sub struct {
				SubscriptionID string `json:"subscriptionId"`
				OfferDurableID string `json:"offerDurableId"`
				Currency       string `json:"currency"`
				Locale         string `json:"locale"`
				RegionInfo     string `json:"regionInfo"`
			}
			if err := runtime.UnmarshalAsJSON(resp, &sub); err != nil {
				t.Fatal(err)
			}
			filter := "OfferDurableId eq '" + sub.OfferDurableID + "' and Currency eq '" + sub.Currency +
				"' and Locale eq '" + sub.Locale + "' and RegionInfo eq '" + sub.RegionInfo + "'"
			if sub.SubscriptionID != fx.Subscription || filter != fx.Filter {
				t.Fatalf("subscription %+v gives the filter %q, want %q", sub, filter, fx.Filter)
			}
			rates, err := armcommerce.NewRateCardClient(fx.Subscription, fakeCredential{srv.AdminToken}, armOptions(srv, srv.Client(), ""))
			if err != nil {
				t.Fatal(err)
			}
			res, err := rates.Get(t.Context(), filter, nil)
			if err != nil {
				t.Fatal(err)
			}
			checkTrack2RateCard(t, res.ResourceRateCardInfo)
		})

		t.Run("Errors", func(t *testing.T) {
			client, err := armcommerce.NewRateCardClient(fx.Subscription, fakeCredential{srv.AdminToken}, armOptions(srv, srv.Client(), ""))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range fx.BadQueries {
				_, err := client.Get(t.Context(), c.Filter, nil)
				var re *azcore.ResponseError
				if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || re.ErrorCode != c.Code {
					t.Errorf("%s: err = %v, want a 400 %s ResponseError", c.Name, err, c.Code)
				}
			}
			other, err := armcommerce.NewRateCardClient("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", fakeCredential{srv.AdminToken}, armOptions(srv, srv.Client(), ""))
			if err != nil {
				t.Fatal(err)
			}
			_, err = other.Get(t.Context(), fx.Filter, nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "SubscriptionNotFound" {
				t.Errorf("unknown subscription: err = %v, want a 404 SubscriptionNotFound ResponseError", err)
			}
		})
	})
}
