package catalog

import (
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

// Offer is what a subscription buys, identified by its durable id
// (MS-AZR-0003P): the currencies it is sold in, the RegionInfo countries
// where it can be bought, and its offer terms.
type Offer struct {
	DurableID  string          `json:"offerDurableId"`
	Name       string          `json:"name"`
	Currencies []OfferCurrency `json:"currencies"`
	Regions    []string        `json:"regions"` // RegionInfo: ISO 3166-1 alpha-2, upper case, sorted
	CreatedAt  time.Time       `json:"createdAt"`
	UpdatedAt  time.Time       `json:"updatedAt"`
}

// OfferCurrency is a currency an offer is sold in. It either has its own
// price list (BaseCurrency empty) or derives every price and term amount
// from the price list of BaseCurrency: price × ExchangeRate, rounded half
// away from zero to RoundingDecimals fractional digits.
type OfferCurrency struct {
	Currency         string        `json:"currency"` // ISO 4217, upper case
	BaseCurrency     string        `json:"baseCurrency,omitempty"`
	ExchangeRate     money.Decimal `json:"exchangeRate,omitzero"` // units of Currency per unit of BaseCurrency
	RoundingDecimals int           `json:"roundingDecimals,omitempty"`
}

// Offer term names, as they appear on the wire (the RateCard's "Name").
const (
	TermMonetaryCredit     = "Monetary Credit"
	TermMonetaryCommitment = "Monetary Commitment"
	TermRecurringCharge    = "Recurring Charge"
)

// OfferTerm is one term of an offer in one currency, effective from
// EffectiveDate until the next version of the same term (same offer,
// currency and Name). Which amount fields apply depends on Name.
type OfferTerm struct {
	// OfferDurableID and Currency say whose term it is; terms are stored
	// and looked up per (offer, currency, Name, EffectiveDate).
	OfferDurableID string    `json:"offerDurableId,omitempty"`
	Currency       string    `json:"currency,omitempty"`
	Name           string    `json:"name"`
	EffectiveDate  time.Time `json:"effectiveDate"`
	// Monetary Credit: the credit per billing period.
	Credit money.Decimal `json:"credit,omitzero"`
	// Monetary Commitment: discount percentages by spend lower bound.
	TieredDiscount []DiscountTier `json:"tieredDiscount,omitempty"`
	// Monetary Credit and Monetary Commitment: meters the term leaves out.
	ExcludedMeterIDs []string `json:"excludedMeterIds,omitempty"`
	// Recurring Charge: the fixed charge per billing period.
	RecurringCharge money.Decimal `json:"recurringCharge,omitzero"`
}

// DiscountTier is one step of a Monetary Commitment: spend from Min upwards
// is discounted by Percent.
type DiscountTier struct {
	Min     money.Decimal `json:"min"`
	Percent money.Decimal `json:"percent"`
}

// Tier is one graduated price step: usage from Min (a lower bound, in the
// meter's unit, counted after the included quantity) upwards costs Price
// per unit, up to the next tier's Min.
type Tier struct {
	Min   money.Decimal `json:"min"`
	Price money.Decimal `json:"price"`
}

// Rate is the price of one meter under one offer in one currency with its
// own price list, in force from EffectiveDate until the next Rate of the
// same meter, offer and currency. Rates are never rewritten: a price change
// is a new Rate with a later EffectiveDate.
type Rate struct {
	MeterID          string        `json:"meterId"`
	OfferDurableID   string        `json:"offerDurableId"`
	Currency         string        `json:"currency"`
	EffectiveDate    time.Time     `json:"effectiveDate"`
	Tiers            []Tier        `json:"tiers"` // sorted by Min; the first Min is 0
	IncludedQuantity money.Decimal `json:"includedQuantity"`
}

// MeterText is a meter's names in one locale (BCP 47, canonical case such as
// "de-DE"). The Meter's own names are the en-US ones.
type MeterText struct {
	MeterID          string `json:"meterId"`
	Locale           string `json:"locale"`
	MeterName        string `json:"meterName"`
	MeterCategory    string `json:"meterCategory"`
	MeterSubCategory string `json:"meterSubCategory"`
}
