package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	fx "github.com/reckon-billing/reckon/compat/ratecardfixture"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

// jsRateCard is what compat/js/get-ratecard.js prints: the RateCard as
// @azure/arm-commerce decoded it (camelCase, numbers as float64, dates as
// Date objects printed with milliseconds).
type jsRateCard struct {
	Result *struct {
		Currency      *string `json:"currency"`
		Locale        *string `json:"locale"`
		IsTaxIncluded *bool   `json:"isTaxIncluded"`
		OfferTerms    []struct {
			Name             string             `json:"name"`
			EffectiveDate    string             `json:"effectiveDate"`
			Credit           *float64           `json:"credit"`
			TieredDiscount   map[string]float64 `json:"tieredDiscount"`
			ExcludedMeterIDs []string           `json:"excludedMeterIds"`
			RecurringCharge  *float64           `json:"recurringCharge"`
		} `json:"offerTerms"`
		Meters []struct {
			MeterID          string             `json:"meterId"`
			MeterName        string             `json:"meterName"`
			MeterCategory    string             `json:"meterCategory"`
			MeterSubCategory string             `json:"meterSubCategory"`
			Unit             string             `json:"unit"`
			MeterTags        []string           `json:"meterTags"`
			MeterRegion      *string            `json:"meterRegion"`
			MeterRates       map[string]float64 `json:"meterRates"`
			EffectiveDate    string             `json:"effectiveDate"`
			IncludedQuantity *float64           `json:"includedQuantity"`
			// MeterStatus is not in the SDK's model: it keeps it as sent.
			MeterStatus *string `json:"MeterStatus"`
		} `json:"meters"`
	} `json:"result"`
	APIVersion      string `json:"apiVersion"`
	ContentEncoding string `json:"contentEncoding"`
	Error           *struct {
		StatusCode int    `json:"statusCode"`
		Code       string `json:"code"`
		Message    string `json:"message"`
	} `json:"error"`
}

// jsDate is how a JavaScript Date prints in JSON.
func jsDate(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// runGetRateCard runs compat/js/get-ratecard.js against srv and decodes
// what it printed; wantExit is the exit status expected (0, or 3 when the
// server refuses the query).
func runGetRateCard(t *testing.T, node, ca string, srv *reckontest.Server, wantExit int, args ...string) jsRateCard {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{filepath.Join("js", "get-ratecard.js"),
		"--base-url", srv.URL, "--subscription", fx.Subscription}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca, "RECKON_TOKEN="+srv.AdminToken)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exit := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("node get-ratecard.js: %v\n%s", err, stderr.Bytes())
	}
	if exit != wantExit {
		t.Fatalf("node get-ratecard.js %q exited with %d, want %d\n%s%s", args, exit, wantExit, stdout.Bytes(), stderr.Bytes())
	}
	var got jsRateCard
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields() // a property the SDK renamed or duplicated shows up here
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("output %q: %v", stdout.Bytes(), err)
	}
	return got
}

// writeCA writes srv's certificate as a PEM file for NODE_EXTRA_CA_CERTS.
func writeCA(t *testing.T, srv *reckontest.Server) string {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "reckon-test-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// checkJSRateCard compares every field the JavaScript SDK decoded with the
// fixture; numbers at float64, the JavaScript number type.
func checkJSRateCard(t *testing.T, got jsRateCard, wantStatus bool) {
	t.Helper()
	rc := got.Result
	if rc == nil {
		t.Fatal("no result")
	}
	if deref(rc.Currency) != fx.Currency || deref(rc.Locale) != fx.Locale || deref(rc.IsTaxIncluded) != false {
		t.Errorf("currency %v, locale %v, isTaxIncluded %v; want %s, %s, false", deref(rc.Currency), deref(rc.Locale), deref(rc.IsTaxIncluded), fx.Currency, fx.Locale)
	}
	if len(rc.Meters) != len(fx.Meters) {
		t.Fatalf("%d meters, want %d", len(rc.Meters), len(fx.Meters))
	}
	for i, want := range fx.Meters {
		m := rc.Meters[i]
		if m.MeterID != want.ID || m.MeterName != want.Name || m.MeterCategory != want.Category || m.MeterSubCategory != want.SubCategory ||
			m.Unit != want.Unit || deref(m.MeterRegion) != want.Region {
			t.Errorf("meter %d: %+v, want %+v", i, m, want)
		}
		if m.MeterTags == nil || !slices.Equal(m.MeterTags, want.Tags) {
			t.Errorf("meter %s: meterTags %q, want %q", want.ID, m.MeterTags, want.Tags)
		}
		if m.EffectiveDate != jsDate(want.EffectiveDate) {
			t.Errorf("meter %s: effectiveDate %q, want the Date %s", want.ID, m.EffectiveDate, jsDate(want.EffectiveDate))
		}
		if m.IncludedQuantity == nil || *m.IncludedQuantity != float64Of(t, want.IncludedQuantity) {
			t.Errorf("meter %s: includedQuantity %v, want %s", want.ID, deref(m.IncludedQuantity), want.IncludedQuantity)
		}
		if len(m.MeterRates) != len(want.Rates) {
			t.Errorf("meter %s: meterRates %v, want %v", want.ID, m.MeterRates, want.Rates)
		}
		for _, tier := range want.Rates {
			if p, ok := m.MeterRates[tier.Min]; !ok || p != float64Of(t, tier.Value) {
				t.Errorf("meter %s: meterRates[%q] = %v, want %s", want.ID, tier.Min, p, tier.Value)
			}
		}
		switch {
		case wantStatus && deref(m.MeterStatus) != want.Status:
			t.Errorf("meter %s: MeterStatus %v, want %s", want.ID, deref(m.MeterStatus), want.Status)
		case !wantStatus && m.MeterStatus != nil:
			t.Errorf("meter %s: MeterStatus %q with api-version %s", want.ID, *m.MeterStatus, got.APIVersion)
		}
	}

	if len(rc.OfferTerms) != 3 {
		t.Fatalf("%d offer terms, want 3", len(rc.OfferTerms))
	}
	seen := map[string]int{}
	for _, term := range rc.OfferTerms {
		seen[term.Name]++
		switch term.Name {
		case fx.TermMonetaryCredit:
			want := fx.MonetaryCredit
			if term.EffectiveDate != jsDate(want.EffectiveDate) || term.Credit == nil || *term.Credit != float64Of(t, want.Credit) ||
				term.ExcludedMeterIDs == nil || !sameSet(term.ExcludedMeterIDs, want.Excluded) || term.TieredDiscount != nil || term.RecurringCharge != nil {
				t.Errorf("Monetary Credit = %+v, want %+v", term, want)
			}
		case fx.TermMonetaryCommitment:
			want := fx.MonetaryCommitment
			ok := term.EffectiveDate == jsDate(want.EffectiveDate) && len(term.TieredDiscount) == len(want.TieredDiscount) &&
				term.ExcludedMeterIDs != nil && sameSet(term.ExcludedMeterIDs, want.Excluded) && term.Credit == nil && term.RecurringCharge == nil
			for _, d := range want.TieredDiscount {
				if v, found := term.TieredDiscount[d.Min]; !found || v != float64Of(t, d.Value) {
					ok = false
				}
			}
			if !ok {
				t.Errorf("Monetary Commitment = %+v, want %+v", term, want)
			}
		case fx.TermRecurringCharge:
			want := fx.RecurringCharge
			if term.EffectiveDate != jsDate(want.EffectiveDate) || term.RecurringCharge == nil || *term.RecurringCharge != float64Of(t, want.Amount) ||
				term.Credit != nil || term.TieredDiscount != nil || term.ExcludedMeterIDs != nil {
				t.Errorf("Recurring Charge = %+v, want %+v", term, want)
			}
		default:
			t.Errorf("offer term with name %q: %+v", term.Name, term)
		}
	}
	for _, name := range []string{fx.TermMonetaryCredit, fx.TermMonetaryCommitment, fx.TermRecurringCharge} {
		if seen[name] != 1 {
			t.Errorf("%d offer terms of kind %q, want 1", seen[name], name)
		}
	}
}

// TestRateCardAzureSDKForJavaScript reads the fixture's RateCard through
// @azure/arm-commerce 3.0.0's rateCard.get (compat/js/get-ratecard.js)
// over HTTPS, with the client's api-version and with 2016-08-31-preview
// (MeterStatus), compares every field it decoded with what was imported,
// and checks the RestError of each refused filter.
func TestRateCardAzureSDKForJavaScript(t *testing.T) {
	node := requireTool(t, "node")
	ensureNodeModules(t)
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv := fx.Start(t, b)
		ca := writeCA(t, srv)
		for _, c := range []struct {
			name       string
			args       []string
			apiVersion string
		}{
			{"ClientAPIVersion", nil, fx.APIVersion2015},
			{"APIVersion2016", []string{"--api-version", fx.APIVersion2016}, fx.APIVersion2016},
		} {
			t.Run(c.name, func(t *testing.T) {
				got := runGetRateCard(t, node, ca, srv, 0, append([]string{"--filter", fx.Filter}, c.args...)...)
				if got.APIVersion != c.apiVersion || got.ContentEncoding != "gzip" {
					t.Errorf("api-version %q, Content-Encoding %q; want %q, gzip", got.APIVersion, got.ContentEncoding, c.apiVersion)
				}
				checkJSRateCard(t, got, c.apiVersion == fx.APIVersion2016)
			})
		}
		t.Run("Errors", func(t *testing.T) {
			for _, c := range fx.BadQueries {
				got := runGetRateCard(t, node, ca, srv, 3, "--filter", c.Filter)
				if got.Error == nil || got.Error.StatusCode != 400 || got.Error.Code != c.Code || got.Error.Message == "" {
					t.Errorf("%s: error %+v, want a 400 RestError with code %s", c.Name, got.Error, c.Code)
				}
			}
		})
	})
}
