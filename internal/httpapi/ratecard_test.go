package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/reckontest"
)

const (
	rcMeterTiered     = "1d7518e5-bc2f-4a93-9057-1b3047856645"
	rcMeterDeprecated = "0e59ad56-03e5-4c3d-90d4-6670874d7e29"
	rcExcluded        = "5b2a6d4e-1c3f-4e8a-9b7d-2f1e0a9c8b7d"
	rcFilter          = "OfferDurableId eq 'MS-AZR-0003P' and Currency eq 'USD' and Locale eq 'en-US' and RegionInfo eq 'US'"
)

// rateCardImport is a RateCard body as Azure returns it, with every kind of
// offer term, tiers, included quantity, tags and a deprecated meter.
const rateCardImport = `{
  "OfferTerms": [
    {"Name": "Monetary Credit", "EffectiveDate": "2014-09-01T00:00:00Z", "Credit": 150.0, "ExcludedMeterIds": ["` + rcExcluded + `"]},
    {"Name": "Monetary Commitment", "EffectiveDate": "2014-09-01T00:00:00Z", "TieredDiscount": {"0": 0.0, "1000": 5.5}, "ExcludedMeterIds": []},
    {"Name": "Recurring Charge", "EffectiveDate": "2014-09-01T00:00:00Z", "RecurringCharge": 10}
  ],
  "Meters": [
    {"EffectiveDate": "2017-09-01T00:00:00Z", "IncludedQuantity": 10, "MeterCategory": "Test Category",
     "MeterId": "` + rcMeterTiered + `", "MeterName": "Test Meter", "MeterRates": {"0": 1.99, "100": 0.99},
     "MeterRegion": "US West", "MeterSubCategory": "Test Subcategory", "MeterTags": ["Third Party"], "Unit": "Hours"},
    {"MeterId": "` + rcMeterDeprecated + `", "MeterName": "Compute Hours", "MeterCategory": "Virtual Machines",
     "MeterSubCategory": "A0 VM (Windows)", "Unit": "Hours", "MeterRates": {"0": 0.029}, "MeterTags": [], "MeterRegion": "",
     "EffectiveDate": "2014-08-01T00:00:00Z", "IncludedQuantity": 0.0, "MeterStatus": "Deprecated"}
  ],
  "Currency": "USD", "Locale": "en-US", "IsTaxIncluded": false
}`

// importRateCard imports body through the operator API and returns the
// decoded result.
func importRateCard(t *testing.T, srv *reckontest.Server, params, body string) map[string]any {
	t.Helper()
	resp, data := send(t, srv, request{method: http.MethodPost, path: "/admin/v1/catalog/import?format=ratecard&" + params,
		token: srv.AdminToken, body: body})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("import: %d %s", resp.StatusCode, data)
	}
	var res map[string]any
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if rej, _ := res["rejected"].([]any); len(rej) != 0 {
		t.Fatalf("import rejected items: %s", data)
	}
	return res
}

type rateCardBody struct {
	OfferTerms []map[string]any `json:"OfferTerms"`
	Meters     []struct {
		MeterID          string             `json:"MeterId"`
		MeterName        string             `json:"MeterName"`
		MeterCategory    string             `json:"MeterCategory"`
		MeterSubCategory string             `json:"MeterSubCategory"`
		Unit             string             `json:"Unit"`
		MeterTags        []string           `json:"MeterTags"`
		MeterRegion      string             `json:"MeterRegion"`
		MeterRates       map[string]float64 `json:"MeterRates"`
		EffectiveDate    string             `json:"EffectiveDate"`
		IncludedQuantity float64            `json:"IncludedQuantity"`
		MeterStatus      *string            `json:"MeterStatus"`
	} `json:"Meters"`
	Currency      string `json:"Currency"`
	Locale        string `json:"Locale"`
	IsTaxIncluded *bool  `json:"IsTaxIncluded"`
}

func rateCardPath(sub, apiVersion, rawQuery string) string {
	p := "/subscriptions/" + sub + "/providers/Microsoft.Commerce/RateCard?api-version=" + apiVersion
	if rawQuery != "" {
		p += "&" + rawQuery
	}
	return p
}

func getRateCard(t *testing.T, srv *reckontest.Server, path string) rateCardBody {
	t.Helper()
	resp, data := get(t, srv, path)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, data)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rc rateCardBody
	if err := dec.Decode(&rc); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, clipBody(data))
	}
	return rc
}

// TestRateCard: the RateCard of an imported catalog, for both api-versions,
// in every filter spelling clients send, and without a filter.
func TestRateCard(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		putSubscription(t, srv, subA) // MS-AZR-0003P, USD, en-US, US by default
		importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)

		esc := url.QueryEscape(rcFilter) // '+' for spaces
		for _, q := range []string{
			"$filter=" + esc,
			"%24filter=" + esc,
			"$filter=" + strings.ReplaceAll(url.PathEscape(rcFilter), "'", "%27"), // %20 for spaces
			"$filter=" + url.QueryEscape(strings.ToLower(rcFilter)),               // values and names in any case
			"",         // the subscription's own parameters
			"$filter=", // the same: the Azure SDKs send an empty filter
		} {
			for _, v := range []string{"2015-06-01-preview", "2016-08-31-preview"} {
				rc := getRateCard(t, srv, rateCardPath(subA, v, q))
				if rc.Currency != "USD" || rc.Locale != "en-US" || rc.IsTaxIncluded == nil || *rc.IsTaxIncluded {
					t.Fatalf("%s %s: Currency %q Locale %q IsTaxIncluded %v", v, q, rc.Currency, rc.Locale, rc.IsTaxIncluded)
				}
				if len(rc.Meters) != 2 {
					t.Fatalf("%s %s: %d meters, want 2", v, q, len(rc.Meters))
				}
				m := rc.Meters[1] // in meter id order: 0e59… then 1d75…
				if m.MeterID != rcMeterTiered || m.MeterName != "Test Meter" || m.MeterCategory != "Test Category" ||
					m.MeterSubCategory != "Test Subcategory" || m.Unit != "Hours" || m.MeterRegion != "US West" ||
					len(m.MeterTags) != 1 || m.MeterTags[0] != "Third Party" || m.EffectiveDate != "2017-09-01T00:00:00Z" ||
					m.IncludedQuantity != 10 || len(m.MeterRates) != 2 || m.MeterRates["0"] != 1.99 || m.MeterRates["100"] != 0.99 {
					t.Errorf("%s %s: tiered meter = %+v", v, q, m)
				}
				d := rc.Meters[0]
				if d.MeterID != rcMeterDeprecated || d.MeterRates["0"] != 0.029 || d.MeterTags == nil || len(d.MeterTags) != 0 {
					t.Errorf("%s %s: second meter = %+v", v, q, d)
				}
				if v == "2016-08-31-preview" {
					if m.MeterStatus == nil || *m.MeterStatus != "Active" || d.MeterStatus == nil || *d.MeterStatus != "Deprecated" {
						t.Errorf("%s: MeterStatus %v / %v, want Active / Deprecated", v, m.MeterStatus, d.MeterStatus)
					}
				} else if m.MeterStatus != nil {
					t.Errorf("%s: MeterStatus present", v)
				}
				if len(rc.OfferTerms) != 3 {
					t.Fatalf("%s %s: offer terms %v", v, q, rc.OfferTerms)
				}
				byName := map[string]map[string]any{}
				for _, term := range rc.OfferTerms {
					byName[term["Name"].(string)] = term
				}
				if c := byName["Monetary Credit"]; c["Credit"] != 150.0 || c["EffectiveDate"] != "2014-09-01T00:00:00Z" ||
					len(c["ExcludedMeterIds"].([]any)) != 1 || c["ExcludedMeterIds"].([]any)[0] != rcExcluded {
					t.Errorf("Monetary Credit = %v", c)
				}
				if c := byName["Monetary Commitment"]; c["TieredDiscount"].(map[string]any)["1000"] != 5.5 || c["TieredDiscount"].(map[string]any)["0"] != 0.0 {
					t.Errorf("Monetary Commitment = %v", c)
				}
				if c := byName["Recurring Charge"]; c["RecurringCharge"] != 10.0 {
					t.Errorf("Recurring Charge = %v", c)
				}
			}
		}
		// Any path casing.
		if rc := getRateCard(t, srv, "/SUBSCRIPTIONS/"+subA+"/providers/microsoft.commerce/ratecard?api-version=2015-06-01-preview"); len(rc.Meters) != 2 {
			t.Errorf("lower-case path: %d meters", len(rc.Meters))
		}
	})
}

// TestRateCardEncoding: gzip when asked for, the same bytes otherwise, and
// a 304 for a matching ETag.
func TestRateCardEncoding(t *testing.T) {
	srv, _ := startServer(t, reckontest.SQLite, reckontest.Options{})
	putSubscription(t, srv, subA)
	importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
	path := rateCardPath(subA, "2016-08-31-preview", "$filter="+url.QueryEscape(rcFilter))
	plainResp, plain := send(t, srv, request{path: path, token: srv.AdminToken, header: map[string]string{"Accept-Encoding": "identity"}})
	if plainResp.StatusCode != http.StatusOK || plainResp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("identity: %d, Content-Encoding %q", plainResp.StatusCode, plainResp.Header.Get("Content-Encoding"))
	}
	zResp, z := send(t, srv, request{path: path, token: srv.AdminToken, header: map[string]string{"Accept-Encoding": "br;q=1.0, gzip;q=0.8"}})
	if zResp.StatusCode != http.StatusOK || zResp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %d, Content-Encoding %q", zResp.StatusCode, zResp.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	unz, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unz, plain) {
		t.Fatalf("gzipped body differs from the plain one (%v)", err)
	}
	etag := plainResp.Header.Get("ETag")
	if etag == "" || zResp.Header.Get("ETag") != etag {
		t.Fatalf("ETag %q / %q", etag, zResp.Header.Get("ETag"))
	}
	resp, body := send(t, srv, request{path: path, token: srv.AdminToken, header: map[string]string{"If-None-Match": etag}})
	if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("If-None-Match: %d with %d bytes, want 304", resp.StatusCode, len(body))
	}
}

// TestRateCardFollowsCatalog: a change to the catalog shows at once; a rate
// effective in the future shows once it is in force (within the cache's
// minute), and the old rate stays until then.
func TestRateCardFollowsCatalog(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, clock := startServer(t, b, reckontest.Options{})
		putSubscription(t, srv, subA)
		params := "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US"
		importRateCard(t, srv, params, rateCardImport)
		path := rateCardPath(subA, "2015-06-01-preview", "")
		if rc := getRateCard(t, srv, path); rc.Meters[1].MeterRates["0"] != 1.99 {
			t.Fatalf("before: %v", rc.Meters[1].MeterRates)
		}
		// A new price effective in one hour, imported now.
		future := serverNow.Add(time.Hour).Format(time.RFC3339)
		importRateCard(t, srv, params, `{"OfferTerms":[],"Meters":[{"MeterId":"`+rcMeterTiered+`","MeterName":"Test Meter",
			"MeterCategory":"Test Category","MeterSubCategory":"Test Subcategory","Unit":"Hours","MeterTags":["Third Party"],
			"MeterRegion":"US West","MeterRates":{"0":2.49},"EffectiveDate":"`+future+`","IncludedQuantity":10}],"Currency":"USD","Locale":"en-US","IsTaxIncluded":false}`)
		rc := getRateCard(t, srv, path)
		if m := rc.Meters[1]; m.MeterRates["0"] != 1.99 || m.EffectiveDate != "2017-09-01T00:00:00Z" {
			t.Fatalf("a future rate shows early: %+v", m)
		}
		if len(rc.OfferTerms) != 3 {
			t.Errorf("an import without terms removed the terms: %v", rc.OfferTerms)
		}
		clock.Advance(time.Hour + time.Minute)
		if m := getRateCard(t, srv, path).Meters[1]; m.MeterRates["0"] != 2.49 || m.EffectiveDate != future || len(m.MeterRates) != 1 {
			t.Fatalf("after its effective date: %+v", m)
		}
		// A meter's metadata changed through the operator API shows at once.
		resp, body := send(t, srv, request{method: http.MethodPut, path: "/admin/v1/meters/" + rcMeterTiered, token: srv.AdminToken,
			body: `{"meterName":"Renamed","meterCategory":"Test Category","meterSubCategory":"Test Subcategory","meterRegion":"US West","unit":"Hours","meterTags":["Third Party"]}`})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT meter: %d %s", resp.StatusCode, body)
		}
		if m := getRateCard(t, srv, path).Meters[1]; m.MeterName != "Renamed" {
			t.Errorf("after a rename: %q", m.MeterName)
		}
	})
}

// TestRateCardErrors: every bad query is a 400 with the ARM envelope and
// Azure's top-level Message; an unknown subscription a 404.
func TestRateCardErrors(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		srv, _ := startServer(t, b, reckontest.Options{})
		putSubscription(t, srv, subA)
		importRateCard(t, srv, "offerDurableId=MS-AZR-0003P&currency=USD&locale=en-US&regionInfo=US", rateCardImport)
		f := func(offer, cur, loc, reg string) string {
			return "$filter=" + url.QueryEscape("OfferDurableId eq '"+offer+"' and Currency eq '"+cur+"' and Locale eq '"+loc+"' and RegionInfo eq '"+reg+"'")
		}
		for _, c := range []struct {
			name, query, code, target string
		}{
			{"malformed", "$filter=" + url.QueryEscape("OfferDurableId eq 'MS-AZR-0003P'"), "InvalidFilter", "$filter"},
			{"quoted filter", "$filter=" + url.QueryEscape("'"+rcFilter+"'"), "InvalidFilter", "$filter"},
			{"unknown offer", f("MS-AZR-0145P", "USD", "en-US", "US"), "InvalidOffer", "OfferDurableId"},
			{"malformed offer", f("PAYG", "USD", "en-US", "US"), "InvalidOffer", "OfferDurableId"},
			{"currency not offered", f("MS-AZR-0003P", "EUR", "en-US", "US"), "CurrencyNotOffered", "Currency"},
			{"not a currency", f("MS-AZR-0003P", "XYZ", "en-US", "US"), "InvalidCurrency", "Currency"},
			{"region not offered", f("MS-AZR-0003P", "USD", "en-US", "FR"), "RegionNotOffered", "RegionInfo"},
			{"bad locale", f("MS-AZR-0003P", "USD", "en_US!", "US"), "InvalidLocale", "Locale"},
		} {
			resp, body := get(t, srv, rateCardPath(subA, "2015-06-01-preview", c.query))
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("%s: status %d, want 400 (%s)", c.name, resp.StatusCode, body)
				continue
			}
			var e struct {
				Message string `json:"Message"`
				Inner   struct {
					Code, Message, Target string
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatal(err)
			}
			if e.Inner.Code != c.code || !strings.EqualFold(e.Inner.Target, c.target) || e.Inner.Message == "" {
				t.Errorf("%s: error %+v, want code %s target %s", c.name, e.Inner, c.code, c.target)
			}
			if !strings.HasPrefix(e.Message, "Invalid query specified.") {
				t.Errorf("%s: Message %q", c.name, e.Message)
			}
			checkRequestIDs(t, resp)
		}
		resp, body := get(t, srv, rateCardPath(unknownGUID, "2015-06-01-preview", f("MS-AZR-0003P", "USD", "en-US", "US")))
		wantError(t, resp, body, http.StatusNotFound, "SubscriptionNotFound", "subscriptionId")
		resp, body = get(t, srv, "/subscriptions/"+subA+"/providers/Microsoft.Commerce/RateCard?api-version=2024-01-01")
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "InvalidApiVersionParameter") {
			t.Errorf("bad api-version: %d %s", resp.StatusCode, body)
		}
	})
}
