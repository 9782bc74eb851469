// Package account holds who is billed: subscriptions and the billing
// accounts they belong to.
package account

import (
	"regexp"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
)

// Subscription states, as ARM spells them.
var states = []string{"Enabled", "Warned", "PastDue", "Disabled", "Deleted"}

// Defaults for the RateCard parameters of a new subscription.
const (
	DefaultOffer    = "MS-AZR-0003P"
	DefaultCurrency = "USD"
	DefaultLocale   = "en-US"
	DefaultRegion   = "US"
)

// Subscription is a tenant's billing scope, with the RateCard parameters
// that price its usage.
type Subscription struct {
	SubscriptionID string    `json:"subscriptionId"`
	DisplayName    string    `json:"displayName"`
	BillingAccount string    `json:"billingAccount"`
	State          string    `json:"state"`
	OfferDurableID string    `json:"offerDurableId"`
	Currency       string    `json:"currency"`
	Locale         string    `json:"locale"`
	RegionInfo     string    `json:"regionInfo"`
	BillingDay     int       `json:"billingDay"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
}

var (
	accountName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	offerID     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
	currency    = regexp.MustCompile(`^[A-Z]{3}$`)
	locale      = regexp.MustCompile(`^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$`)
	region      = regexp.MustCompile(`^[A-Z]{2}$`)
)

// Normalize fills defaults and checks every field. id comes from the path.
func (s *Subscription) Normalize(id string) error {
	guid, ok := billing.ParseGUID(id)
	if !ok {
		return billing.Invalid("InvalidSubscriptionId", "subscriptionId", "The provided subscription identifier '%s' is malformed or invalid.", id)
	}
	if s.SubscriptionID != "" {
		if body, ok := billing.ParseGUID(s.SubscriptionID); !ok || body != guid {
			return billing.Invalid("InvalidProperty", "subscriptionId", "The subscriptionId in the body does not match the path.")
		}
	}
	s.SubscriptionID = guid
	if err := catalog.CheckText("displayName", s.DisplayName, true, 256); err != nil {
		return err
	}
	if !accountName.MatchString(s.BillingAccount) {
		if s.BillingAccount == "" {
			return billing.Invalid("MissingProperty", "billingAccount", "The property 'billingAccount' is required.")
		}
		return billing.Invalid("InvalidProperty", "billingAccount", "The billingAccount must be 1 to 128 letters, digits, '.', '_', ':' or '-'.")
	}
	if s.State == "" {
		s.State = "Enabled"
	}
	found := false
	for _, st := range states {
		if strings.EqualFold(st, s.State) {
			s.State, found = st, true
		}
	}
	if !found {
		return billing.Invalid("InvalidProperty", "state", "The state must be one of %s.", strings.Join(states, ", "))
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.OfferDurableID, DefaultOffer)
	def(&s.Currency, DefaultCurrency)
	def(&s.Locale, DefaultLocale)
	def(&s.RegionInfo, DefaultRegion)
	s.Currency = strings.ToUpper(s.Currency)
	s.RegionInfo = strings.ToUpper(s.RegionInfo)
	if !offerID.MatchString(s.OfferDurableID) {
		return billing.Invalid("InvalidProperty", "offerDurableId", "The offerDurableId '%s' is not valid.", s.OfferDurableID)
	}
	if !currency.MatchString(s.Currency) {
		return billing.Invalid("InvalidProperty", "currency", "The currency must be an ISO 4217 code such as USD.")
	}
	if !locale.MatchString(s.Locale) {
		return billing.Invalid("InvalidProperty", "locale", "The locale must be a BCP 47 tag such as en-US.")
	}
	if !region.MatchString(s.RegionInfo) {
		return billing.Invalid("InvalidProperty", "regionInfo", "The regionInfo must be an ISO 3166 country code such as US.")
	}
	if s.BillingDay == 0 {
		s.BillingDay = 1
	}
	if s.BillingDay < 1 || s.BillingDay > 28 {
		return billing.Invalid("InvalidProperty", "billingDay", "The billingDay must be between 1 and 28.")
	}
	return nil
}
