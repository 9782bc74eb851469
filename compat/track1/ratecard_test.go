package track1_test

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/services/preview/commerce/mgmt/2015-06-01-preview/commerce"
	"github.com/Azure/go-autorest/autorest"
	"github.com/Azure/go-autorest/autorest/azure"
	"github.com/gofrs/uuid"
	"github.com/shopspring/decimal"

	fx "github.com/reckon-billing/reckon/compat/ratecardfixture"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// fakeTokenProvider is an adal.OAuthTokenProvider with a fixed token (no
// Refresher, so it is never refreshed).
type fakeTokenProvider struct{ token string }

func (p fakeTokenProvider) OAuthToken() string { return p.token }

// recordingSender passes requests to next and records their queries and
// whether each answer came gzipped (net/http then unzips it).
type recordingSender struct {
	next autorest.Sender

	mu      sync.Mutex
	queries []url.Values
	gzipped []bool
}

func (s *recordingSender) Do(req *http.Request) (*http.Response, error) {
	resp, err := s.next.Do(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, req.URL.Query())
	s.gzipped = append(s.gzipped, err == nil && resp.Uncompressed)
	return resp, err
}

func (s *recordingSender) last(t *testing.T) (url.Values, bool) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queries) == 0 {
		t.Fatal("no request was sent")
	}
	return s.queries[len(s.queries)-1], s.gzipped[len(s.gzipped)-1]
}

// setClient points a track-1 client at srv over HTTPS with a fake bearer
// token and a single attempt (the default is 3 attempts 30 s apart).
func setClient(c *autorest.Client, sender autorest.Sender, token string) {
	c.Sender = sender
	c.Authorizer = autorest.NewBearerAuthorizer(fakeTokenProvider{token})
	c.RetryAttempts, c.RetryDuration = 1, 10*time.Millisecond
}

// withAPIVersion rewrites the api-version the client sends (the track-1
// client has it as a constant).
func withAPIVersion(v string) autorest.PrepareDecorator {
	return func(p autorest.Preparer) autorest.Preparer {
		return autorest.PreparerFunc(func(r *http.Request) (*http.Request, error) {
			r, err := p.Prepare(r)
			if err == nil {
				q := r.URL.Query()
				q.Set("api-version", v)
				r.URL.RawQuery = q.Encode()
			}
			return r, err
		})
	}
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

// decimalIs reports whether d holds exactly the decimal s.
func decimalIs(d *decimal.Decimal, s string) bool {
	return d != nil && d.Equal(decimal.RequireFromString(s))
}

// uuids returns the fixture's GUIDs as sorted gofrs UUIDs.
func uuids(t *testing.T, ids []string) []uuid.UUID {
	t.Helper()
	out := make([]uuid.UUID, len(ids))
	for i, s := range ids {
		out[i] = uuid.FromStringOrNil(s)
		if out[i] == uuid.Nil {
			t.Fatalf("fixture id %q is not a GUID", s)
		}
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

func sortedUUIDs(p *[]uuid.UUID) []uuid.UUID {
	if p == nil {
		return nil
	}
	out := slices.Clone(*p)
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out
}

// checkRateCard compares every field the track-1 client decoded with the
// fixture, at its types: uuid.UUID for MeterId and ExcludedMeterIds,
// float64 for MeterRates and IncludedQuantity, decimal.Decimal for Credit
// and TieredDiscount, int32 for RecurringCharge, date.Time for dates.
func checkRateCard(t *testing.T, rc commerce.ResourceRateCardInfo) {
	t.Helper()
	if deref(rc.Currency) != fx.Currency || deref(rc.Locale) != fx.Locale || deref(rc.IsTaxIncluded) != false {
		t.Errorf("Currency %v, Locale %v, IsTaxIncluded %v; want %s, %s, false", deref(rc.Currency), deref(rc.Locale), deref(rc.IsTaxIncluded), fx.Currency, fx.Locale)
	}
	if rc.Meters == nil || len(*rc.Meters) != len(fx.Meters) {
		t.Fatalf("Meters %v, want %d meters", rc.Meters, len(fx.Meters))
	}
	for i, want := range fx.Meters {
		m := (*rc.Meters)[i]
		if m.MeterID == nil || *m.MeterID != uuid.FromStringOrNil(want.ID) {
			t.Errorf("meter %d: MeterId %v, want %s", i, deref(m.MeterID), want.ID)
		}
		if deref(m.MeterName) != want.Name || deref(m.MeterCategory) != want.Category || deref(m.MeterSubCategory) != want.SubCategory ||
			deref(m.Unit) != want.Unit || deref(m.MeterRegion) != want.Region {
			t.Errorf("meter %s: name %v category %v subcategory %v unit %v region %v; want %+v", want.ID, deref(m.MeterName),
				deref(m.MeterCategory), deref(m.MeterSubCategory), deref(m.Unit), deref(m.MeterRegion), want)
		}
		if m.MeterTags == nil || !slices.Equal(*m.MeterTags, want.Tags) {
			t.Errorf("meter %s: MeterTags %v, want %q", want.ID, deref(m.MeterTags), want.Tags)
		}
		if m.EffectiveDate == nil || !m.EffectiveDate.Equal(want.EffectiveDate) {
			t.Errorf("meter %s: EffectiveDate %v, want %v", want.ID, deref(m.EffectiveDate), want.EffectiveDate)
		}
		if m.IncludedQuantity == nil || *m.IncludedQuantity != float64Of(t, want.IncludedQuantity) {
			t.Errorf("meter %s: IncludedQuantity %v, want %s", want.ID, deref(m.IncludedQuantity), want.IncludedQuantity)
		}
		if len(m.MeterRates) != len(want.Rates) {
			t.Errorf("meter %s: MeterRates has %d tiers, want %d", want.ID, len(m.MeterRates), len(want.Rates))
		}
		for _, tier := range want.Rates {
			if got := m.MeterRates[tier.Min]; got == nil || *got != float64Of(t, tier.Value) {
				t.Errorf("meter %s: MeterRates[%q] = %v, want %s", want.ID, tier.Min, deref(got), tier.Value)
			}
		}
	}

	if rc.OfferTerms == nil || len(*rc.OfferTerms) != 3 {
		t.Fatalf("OfferTerms %v, want 3", rc.OfferTerms)
	}
	seen := map[string]int{}
	for _, term := range *rc.OfferTerms {
		if c, ok := term.AsMonetaryCredit(); ok {
			seen[fx.TermMonetaryCredit]++
			want := fx.MonetaryCredit
			if c.Name != commerce.NameMonetaryCredit || c.EffectiveDate == nil || !c.EffectiveDate.Equal(want.EffectiveDate) {
				t.Errorf("Monetary Credit: Name %q EffectiveDate %v, want %v", c.Name, deref(c.EffectiveDate), want.EffectiveDate)
			}
			if !decimalIs(c.Credit, want.Credit) {
				t.Errorf("Monetary Credit: Credit %v, want exactly %s", deref(c.Credit), want.Credit)
			}
			if c.ExcludedMeterIds == nil || !slices.Equal(sortedUUIDs(c.ExcludedMeterIds), uuids(t, want.Excluded)) {
				t.Errorf("Monetary Credit: ExcludedMeterIds %v, want %q", deref(c.ExcludedMeterIds), want.Excluded)
			}
			continue
		}
		if c, ok := term.AsMonetaryCommitment(); ok {
			seen[fx.TermMonetaryCommitment]++
			want := fx.MonetaryCommitment
			if c.Name != commerce.NameMonetaryCommitment || c.EffectiveDate == nil || !c.EffectiveDate.Equal(want.EffectiveDate) {
				t.Errorf("Monetary Commitment: Name %q EffectiveDate %v, want %v", c.Name, deref(c.EffectiveDate), want.EffectiveDate)
			}
			if len(c.TieredDiscount) != len(want.TieredDiscount) {
				t.Errorf("Monetary Commitment: TieredDiscount has %d entries, want %d", len(c.TieredDiscount), len(want.TieredDiscount))
			}
			for _, d := range want.TieredDiscount {
				if got := c.TieredDiscount[d.Min]; !decimalIs(got, d.Value) {
					t.Errorf("Monetary Commitment: TieredDiscount[%q] = %v, want exactly %s", d.Min, deref(got), d.Value)
				}
			}
			if c.ExcludedMeterIds == nil || !slices.Equal(sortedUUIDs(c.ExcludedMeterIds), uuids(t, want.Excluded)) {
				t.Errorf("Monetary Commitment: ExcludedMeterIds %v, want %q", deref(c.ExcludedMeterIds), want.Excluded)
			}
			continue
		}
		if c, ok := term.AsRecurringCharge(); ok {
			seen[fx.TermRecurringCharge]++
			want := fx.RecurringCharge
			if c.Name != commerce.NameRecurringCharge || c.EffectiveDate == nil || !c.EffectiveDate.Equal(want.EffectiveDate) {
				t.Errorf("Recurring Charge: Name %q EffectiveDate %v, want %v", c.Name, deref(c.EffectiveDate), want.EffectiveDate)
			}
			if n, _ := strconv.ParseInt(want.Amount, 10, 32); c.RecurringCharge == nil || *c.RecurringCharge != int32(n) {
				t.Errorf("Recurring Charge: RecurringCharge %v, want %s", deref(c.RecurringCharge), want.Amount)
			}
			continue
		}
		t.Errorf("offer term decoded as %T (%+v): its Name is not one of the three kinds", term, term)
	}
	for _, name := range []string{fx.TermMonetaryCredit, fx.TermMonetaryCommitment, fx.TermRecurringCharge} {
		if seen[name] != 1 {
			t.Errorf("%d offer terms of kind %q, want 1", seen[name], name)
		}
	}
}

// TestRateCardTrack1 reads the fixture's RateCard through the track-1
// commerce.RateCardClient over HTTPS (gzipped), with its api-version and
// with 2016-08-31-preview (whose MeterStatus it must ignore), checks every
// field at the client's strict types, and the DetailedError of each
// refused filter.
func TestRateCardTrack1(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv := fx.Start(t, b)
		for _, c := range []struct{ name, apiVersion string }{
			{"ClientAPIVersion", ""},
			{"APIVersion2016", fx.APIVersion2016},
		} {
			t.Run(c.name, func(t *testing.T) {
				rec := &recordingSender{next: srv.Client()}
				client := commerce.NewRateCardClientWithBaseURI(srv.URL, fx.Subscription)
				setClient(&client.Client, rec, srv.AdminToken)
				want := fx.APIVersion2015
				if c.apiVersion != "" {
					client.RequestInspector = withAPIVersion(c.apiVersion)
					want = c.apiVersion
				}
				rc, err := client.Get(t.Context(), fx.Filter)
				if err != nil {
					t.Fatalf("RateCardClient.Get: %v", err)
				}
				q, gzipped := rec.last(t)
				if q.Get("api-version") != want || q.Get("$filter") != fx.Filter {
					t.Errorf("the client sent api-version %q $filter %q, want %q and the fixture's filter", q.Get("api-version"), q.Get("$filter"), want)
				}
				if !gzipped {
					t.Error("the RateCard was not sent gzipped to a client that accepts gzip")
				}
				if rc.StatusCode != http.StatusOK {
					t.Errorf("status %d", rc.StatusCode)
				}
				checkRateCard(t, rc)
			})
		}

		t.Run("Errors", func(t *testing.T) {
			client := commerce.NewRateCardClientWithBaseURI(srv.URL, fx.Subscription)
			setClient(&client.Client, srv.Client(), srv.AdminToken)
			for _, c := range fx.BadQueries {
				_, err := client.Get(t.Context(), c.Filter)
				checkDetailedError(t, c.Name, err, http.StatusBadRequest, c.Code)
			}
			other := commerce.NewRateCardClientWithBaseURI(srv.URL, "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
			setClient(&other.Client, srv.Client(), srv.AdminToken)
			_, err := other.Get(t.Context(), fx.Filter)
			checkDetailedError(t, "unknown subscription", err, http.StatusNotFound, "SubscriptionNotFound")
		})
	})
}

// checkDetailedError checks that err is go-autorest's DetailedError with
// the status and the service error code.
func checkDetailedError(t *testing.T, name string, err error, status int, code string) {
	t.Helper()
	var de autorest.DetailedError
	if !errors.As(err, &de) {
		t.Errorf("%s: err = %v (%T), want an autorest.DetailedError", name, err, err)
		return
	}
	var re *azure.RequestError
	if de.StatusCode != status || !errors.As(de.Original, &re) || re.ServiceError == nil || re.ServiceError.Code != code || re.ServiceError.Message == "" {
		t.Errorf("%s: err = %v, want status %d with service error code %s and a message", name, err, status, code)
	}
}
