package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
)

// importCatalog is POST /admin/v1/catalog/import?format=ratecard|retail-prices
// with the offer, currency, locale and region as query parameters. Every
// accepted item is applied in one transaction, or none; rejected items are
// listed in the answer.
func (a *API) importCatalog(w http.ResponseWriter, r *http.Request) {
	res, err := a.serveImport(w, r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (a *API) serveImport(w http.ResponseWriter, r *http.Request) (catalog.ImportResult, error) {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return catalog.ImportResult{}, err
	}
	format, _ := q.get("format")
	if format != catalog.FormatRateCard && format != catalog.FormatRetailPrices {
		return catalog.ImportResult{}, invalid("InvalidProperty", "format", "The format '%s' is not known; use %s or %s.",
			clip(format), catalog.FormatRateCard, catalog.FormatRetailPrices)
	}
	var p catalog.ImportParams
	p.OfferDurableID, _ = q.get("offerDurableId")
	p.Currency, _ = q.get("currency")
	p.Locale, _ = q.get("locale")
	p.RegionInfo, _ = q.get("regionInfo")
	if v, ok := q.get("effectiveDate"); ok && v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if t, err = time.Parse(time.DateOnly, v); err != nil {
				return catalog.ImportResult{}, invalid("InvalidProperty", "effectiveDate", "The effectiveDate '%s' is not an RFC 3339 date-time or a date.", clip(v))
			}
		}
		p.EffectiveDate = t.UTC()
	}
	body, err := a.bulkBody(w, r)
	if err != nil {
		return catalog.ImportResult{}, err
	}
	set, err := catalog.ParseImport(format, p, body)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe) || errors.Is(err, errTooLarge):
			return catalog.ImportResult{}, a.bodyTooLarge()
		case billing.AsError(err) == nil:
			return catalog.ImportResult{}, invalid("InvalidRequestContent", "", "The request body could not be read; nothing was imported.")
		}
		return catalog.ImportResult{}, err
	}
	return a.deps.Catalog.Apply(catalog.WithImportActor(r.Context(), identityOf(r).PrincipalID), set)
}

func (a *API) putOffer(w http.ResponseWriter, r *http.Request) {
	var o catalog.Offer
	if err := decodeBody(w, r, &o); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	stored, created, err := a.deps.Catalog.PutOffer(r.Context(), r.PathValue("offerDurableId"), o)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, createdStatus(created), stored)
}

func (a *API) getOffer(w http.ResponseWriter, r *http.Request) {
	o, err := a.deps.Catalog.Offer(r.Context(), r.PathValue("offerDurableId"))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

func (a *API) listAdminOffers(w http.ResponseWriter, r *http.Request) {
	offers, err := a.deps.Catalog.Offers(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": offers})
}

// offersAPIVersions are the api-versions of the offers list (Reckon's own
// addition to Microsoft.Commerce, versioned like RateCard).
var offersAPIVersions = []string{rateCardV2015, rateCardV2016}

// armOffer is an offer as the ARM offers list shows it.
type armOffer struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"`
	Type       string             `json:"type"`
	Properties armOfferProperties `json:"properties"`
}

type armOfferProperties struct {
	OfferDurableID string             `json:"offerDurableId"`
	DisplayName    string             `json:"displayName"`
	Currencies     []armOfferCurrency `json:"currencies"`
	RegionInfos    []string           `json:"regionInfos"`
}

type armOfferCurrency struct {
	Currency         string `json:"currency"`
	BaseCurrency     string `json:"baseCurrency,omitempty"`
	ExchangeRate     string `json:"exchangeRate,omitempty"`
	RoundingDecimals *int   `json:"roundingDecimals,omitempty"`
}

// listOffers is GET /providers/Microsoft.Commerce/offers: every offer with
// the currencies and RegionInfo countries it is sold in, so that a client
// can build a valid RateCard $filter (Azure has no such list).
func (a *API) listOffers(w http.ResponseWriter, r *http.Request) {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err == nil {
		_, err = checkAPIVersion(q, offersAPIVersions)
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	offers, err := a.deps.Catalog.Offers(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	out := make([]armOffer, 0, len(offers))
	for _, o := range offers {
		p := armOfferProperties{OfferDurableID: o.DurableID, DisplayName: o.Name, Currencies: []armOfferCurrency{}, RegionInfos: o.Regions}
		if p.RegionInfos == nil {
			p.RegionInfos = []string{}
		}
		for _, c := range o.Currencies {
			ac := armOfferCurrency{Currency: c.Currency}
			if c.BaseCurrency != "" {
				d := c.RoundingDecimals
				ac.BaseCurrency, ac.ExchangeRate, ac.RoundingDecimals = c.BaseCurrency, c.ExchangeRate.String(), &d
			}
			p.Currencies = append(p.Currencies, ac)
		}
		out = append(out, armOffer{ID: "/providers/Microsoft.Commerce/offers/" + o.DurableID, Name: o.DurableID,
			Type: "Microsoft.Commerce/offers", Properties: p})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
}
