// Package rating prices a subscription's usage for one billing period. It is
// pure: no I/O, no clock, no floating point. Rate takes the period, the
// currency, the meters' effective-dated rates, the offer terms and the usage
// rows, and returns charge lines with exact and rounded amounts.
//
// # Meters
//
// Per meter, usage accumulates over the billing period [Start, End) in
// usage-time order; the meter's running total is its cumulative position.
// Each usage row is priced with the meter's rate version in force at the
// row's usage time (the latest version with Effective <= Time). The
// cumulative position keeps counting across versions: it is the meter's
// period total so far, whatever the version. The part of a row between
// positions [a, b) is split by the row's version as follows:
//
//   - positions below the version's IncludedQuantity are free (included
//     quantity used);
//   - the rest, shifted by IncludedQuantity, falls into the version's
//     graduated tiers: tier i (lower bound Min_i, counted after the included
//     quantity) covers [Min_i, Min_i+1), the last tier is unbounded, and each
//     part costs its tier's unit price.
//
// Example: tiers {0: 1.00, 200: 0.90, 500: 0.80}, included 50, a period total
// of 800 → 750 billable → 200×1.00 + 300×0.90 + 250×0.80 = 670.00, however
// the 800 are split into rows.
//
// Because a version applies to a contiguous interval of time, and the split
// of [a, b) is additive, the result depends only on each version's share of
// the period total and on the order of the versions: the engine sums the rows
// per meter and version in one pass (no sort, no allocation per row) and
// prices each sum once. Rows of the same meter at the same time may therefore
// come in any order, or be split or merged, without changing any amount.
//
// Usage with no rate in force at its time (before the meter's first version,
// or a meter without rates) is an error naming the meter (ErrNoRate): usage
// is never priced at a silent zero.
//
// # Lines, rounding and totals
//
// There is one usage line per meter and rate version that has usage rows in
// the period (lines sorted by meter id, then version). A line carries the
// quantity, the included quantity used, the tier breakdown (each band: the
// tier's lower bound, the billable positions from and to, the quantity, the
// unit price and the exact amount), the exact amount at full precision and
// the amount rounded once to the currency's minor unit, half away from zero.
//
// Offer terms follow, each as its own line, in this order:
//
//   - Recurring Charge: a fixed charge for the period (Amount, rounded).
//   - Monetary Commitment: a discount (negative) over the eligible spend, the
//     sum of the rounded usage lines whose meter is not excluded. The spend
//     is cut at the TieredDiscount lower bounds like tiers: spend from Min_i
//     up to Min_i+1 is discounted by Percent_i (5 = 5 %). Spend below the
//     first Min is not discounted.
//   - Monetary Credit: a credit (negative) of min(Credit, eligible spend −
//     commitment discount), where the eligible spend is the sum of the
//     rounded usage lines whose meter is not excluded from the credit. The
//     whole (rounded) commitment discount is deducted even when part of it
//     came from meters the credit excludes: the credit never exceeds what
//     the customer pays for eligible usage, so it never makes the invoice
//     negative.
//
// Terms use rounded line amounts (what the customer sees), so lines reconcile
// to the cent. Totals are exact sums of rounded lines and are never rounded
// again: UsageTotal sums the usage lines, Total every line.
//
// Offer terms are effective-dated. For each kind, the term in force at the
// period start (the latest with Effective <= Start) governs the whole period;
// a term that becomes effective inside the period applies from the next
// period. Terms are amounts per billing period, so splitting one period
// between two versions would need a proration rule that neither Azure nor
// DESIGN.md gives; taking the version in force at the start keeps every
// period's terms whole and predictable.
//
// # Precision
//
// Decimals keep 19 fractional digits and the library truncates beyond that.
// The engine therefore accepts prices with at most 10 fractional digits and
// quantities, included quantities and tier bounds with at most 9 (usage
// quantities have exactly 9), so that price × quantity is exact; discount
// percentages have at most 8 and discount bounds at most 9. Every product is
// also checked at run time (money.Decimal.MulExact): an inexact product is an
// error, never a silently truncated amount.
package rating
