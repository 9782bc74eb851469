package rating

import (
	"time"

	"github.com/reckon-billing/reckon/internal/money"
)

// Input is everything Rate needs for one subscription and billing period.
type Input struct {
	// Start and End bound the billing period [Start, End).
	Start, End time.Time
	// Currency is the currency of every price and term amount.
	Currency money.Currency
	// Meters are the priced meters, each with its rate versions. Meter ids
	// are compared exactly (the catalog keeps GUIDs in lower case).
	Meters []Meter
	// Terms are the offer's terms, of any kinds and versions.
	Terms []Term
	// Usage rows, in any order; several rows may share a meter and time.
	Usage []Usage
}

// Meter is a meter's price history.
type Meter struct {
	ID string
	// Rates are the meter's rate versions, in any order, with distinct
	// Effective times.
	Rates []RateVersion
}

// RateVersion is one version of a meter's price, in force from Effective until the
// next version's Effective.
type RateVersion struct {
	Effective time.Time
	// IncludedQuantity is free at the start of each billing period.
	IncludedQuantity money.Decimal
	// Tiers are sorted by Min, which strictly increases from 0. Min is a
	// lower bound of the quantity counted after IncludedQuantity.
	Tiers []Tier
}

// Tier is a graduated price step: quantity from Min up to the next tier's
// Min costs Price per unit.
type Tier struct {
	Min   money.Decimal
	Price money.Decimal
}

// TermKind names an offer term, as the RateCard's "Name" does.
type TermKind string

// Offer term kinds.
const (
	MonetaryCredit     TermKind = "Monetary Credit"
	MonetaryCommitment TermKind = "Monetary Commitment"
	RecurringCharge    TermKind = "Recurring Charge"
)

// Term is one version of an offer term, in force from Effective. Which
// fields apply depends on Kind.
type Term struct {
	Kind      TermKind
	Effective time.Time
	// Credit is the Monetary Credit per billing period.
	Credit money.Decimal
	// TieredDiscount is the Monetary Commitment's discount by spend: sorted
	// by Min, strictly increasing, Min >= 0.
	TieredDiscount []DiscountTier
	// ExcludedMeterIDs are meters a Monetary Credit or Commitment leaves out.
	ExcludedMeterIDs []string
	// Amount is the Recurring Charge per billing period.
	Amount money.Decimal
}

// DiscountTier is a step of a Monetary Commitment: spend from Min up to the
// next step's Min is discounted by Percent percent (5 = 5 %).
type DiscountTier struct {
	Min     money.Decimal
	Percent money.Decimal
}

// Usage is a quantity of a meter used in one hour (Time is the start of the
// usage bucket).
type Usage struct {
	MeterID  string
	Time     time.Time
	Quantity money.Quantity
}

// LineKind says what a charge line is for.
type LineKind string

// Line kinds. The term kinds use the offer terms' names.
const (
	LineUsage              LineKind = "Usage"
	LineRecurringCharge    LineKind = LineKind(RecurringCharge)
	LineMonetaryCommitment LineKind = LineKind(MonetaryCommitment)
	LineMonetaryCredit     LineKind = LineKind(MonetaryCredit)
)

// Charges is the result of rating one billing period.
type Charges struct {
	Start    time.Time      `json:"periodStart"`
	End      time.Time      `json:"periodEnd"`
	Currency money.Currency `json:"currency"`
	// Lines are the usage lines (by meter id, then rate version) followed by
	// the offer terms' lines (Recurring Charge, Monetary Commitment, Monetary
	// Credit).
	Lines []Line `json:"lines"`
	// UsageTotal is the sum of the usage lines' rounded amounts.
	UsageTotal money.Decimal `json:"usageTotal"`
	// Total is the sum of every line's rounded amount; it is never rounded
	// again.
	Total money.Decimal `json:"total"`
}

// Line is one charge line.
type Line struct {
	Kind LineKind `json:"kind"`
	// MeterID is the meter of a usage line.
	MeterID string `json:"meterId,omitempty"`
	// Effective is the rate version's (usage line) or the term's Effective.
	Effective time.Time `json:"effective"`
	// Quantity is the usage priced in a usage line, IncludedQuantityUsed the
	// part of it that was free.
	Quantity             money.Decimal `json:"quantity"`
	IncludedQuantityUsed money.Decimal `json:"includedQuantityUsed"`
	// Tiers is a usage line's breakdown by tier (billable part only).
	Tiers []TierCharge `json:"tiers,omitempty"`
	// EligibleSpend is the spend a Monetary Commitment or Credit applied to.
	EligibleSpend money.Decimal `json:"eligibleSpend,omitzero"`
	// Discounts is a Monetary Commitment's breakdown by discount step.
	Discounts []DiscountCharge `json:"discounts,omitempty"`
	// Exact is the amount at full precision; Amount is Exact rounded once
	// to the currency's minor unit, half away from zero. Discounts and
	// credits are negative.
	Exact  money.Decimal `json:"exactAmount"`
	Amount money.Decimal `json:"amount"`
}

// TierCharge is the part of a usage line that fell in one tier: billable
// positions [From, To) (counted after the included quantity) of the tier
// starting at TierMin, Quantity = To − From units at UnitPrice.
type TierCharge struct {
	TierMin   money.Decimal `json:"tierMin"`
	From      money.Decimal `json:"from"`
	To        money.Decimal `json:"to"`
	Quantity  money.Decimal `json:"quantity"`
	UnitPrice money.Decimal `json:"unitPrice"`
	Amount    money.Decimal `json:"amount"`
}

// DiscountCharge is the part of a Monetary Commitment's eligible spend in
// one discount step: spend [From, To) of the step starting at Min, discounted
// by Percent; Amount is negative.
type DiscountCharge struct {
	Min     money.Decimal `json:"min"`
	From    money.Decimal `json:"from"`
	To      money.Decimal `json:"to"`
	Spend   money.Decimal `json:"spend"`
	Percent money.Decimal `json:"percent"`
	Amount  money.Decimal `json:"amount"`
}
