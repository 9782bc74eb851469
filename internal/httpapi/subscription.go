package httpapi

import (
	"net/http"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
)

// subscriptionAPIVersions are the Microsoft.Resources api-versions the
// subscription resource answers; Azure tooling uses several.
var subscriptionAPIVersions = []string{"2014-04-01", "2016-06-01", "2019-06-01", "2019-11-01", "2020-01-01", "2021-01-01", "2022-12-01"}

// armSubscription is ARM's subscription resource plus, beyond Azure, the
// parameters that select the subscription's RateCard: Azure users had to
// find those by hand.
type armSubscription struct {
	ID                   string               `json:"id"`
	SubscriptionID       string               `json:"subscriptionId"`
	TenantID             string               `json:"tenantId"`
	DisplayName          string               `json:"displayName"`
	State                string               `json:"state"`
	AuthorizationSource  string               `json:"authorizationSource"`
	ManagedByTenants     []any                `json:"managedByTenants"`
	SubscriptionPolicies subscriptionPolicies `json:"subscriptionPolicies"`
	OfferDurableID       string               `json:"offerDurableId"`
	Currency             string               `json:"currency"`
	Locale               string               `json:"locale"`
	RegionInfo           string               `json:"regionInfo"`
	BillingAccount       string               `json:"billingAccount"`
	BillingDay           int                  `json:"billingDay"`
}

type subscriptionPolicies struct {
	LocationPlacementID string `json:"locationPlacementId"`
	QuotaID             string `json:"quotaId"`
	SpendingLimit       string `json:"spendingLimit"`
}

// subscriptionResource answers GET /subscriptions/{subscriptionId}.
func (a *API) subscriptionResource(w http.ResponseWriter, r *http.Request) {
	s, err := a.subscriptionOf(r, subscriptionAPIVersions)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, a.armSubscription(s))
}

// armSubscription is the ARM form of a subscription.
func (a *API) armSubscription(s account.Subscription) armSubscription {
	return armSubscription{
		ID: "/subscriptions/" + s.SubscriptionID, SubscriptionID: s.SubscriptionID, TenantID: a.deps.Auth.TenantID(),
		DisplayName: s.DisplayName, State: s.State, AuthorizationSource: "RoleBased", ManagedByTenants: []any{},
		SubscriptionPolicies: subscriptionPolicies{LocationPlacementID: "Public_2014-09-01", QuotaID: "PayAsYouGo_2014-09-01", SpendingLimit: "Off"},
		OfferDurableID:       s.OfferDurableID, Currency: s.Currency, Locale: s.Locale, RegionInfo: s.RegionInfo,
		BillingAccount: s.BillingAccount, BillingDay: s.BillingDay,
	}
}

// subscriptionOf checks the api-version and returns the subscription the
// path names; an unknown one is ARM's 404 SubscriptionNotFound.
func (a *API) subscriptionOf(r *http.Request, versions []string) (account.Subscription, error) {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err != nil {
		return account.Subscription{}, err
	}
	if _, err := checkAPIVersion(q, versions); err != nil {
		return account.Subscription{}, err
	}
	id, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		return account.Subscription{}, badSubscriptionID(r)
	}
	return a.deps.Accounts.Get(r.Context(), id)
}

// badSubscriptionID is ARM's 400 for a subscription id in the path that is
// not a GUID.
func badSubscriptionID(r *http.Request) error {
	return invalid("InvalidSubscriptionId", "subscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", clip(r.PathValue("subscriptionId")))
}
