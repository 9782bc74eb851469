package catalog

import (
	"slices"
	"strings"
	"time"
)

// Effective dating: a Rate (or an OfferTerm) is in force from its
// EffectiveDate until the EffectiveDate of the next version with the same
// key (meter, offer, currency; or offer, currency, term name). A version is
// never rewritten by a later one: history stays for the usage of its time.

// RateAt returns the version in force at t among versions of one meter
// (any order): the one with the latest EffectiveDate not after t.
func RateAt(versions []Rate, t time.Time) (Rate, bool) {
	best := -1
	for i, r := range versions {
		if !r.EffectiveDate.After(t) && (best < 0 || r.EffectiveDate.After(versions[best].EffectiveDate)) {
			best = i
		}
	}
	if best < 0 {
		return Rate{}, false
	}
	return versions[best], true
}

// RatesOverlapping returns, sorted by EffectiveDate, the versions of one
// meter in force at some instant of [start, end): the one in force at
// start (which may begin before it) and every one beginning inside.
func RatesOverlapping(versions []Rate, start, end time.Time) []Rate {
	sorted := slices.Clone(versions)
	slices.SortFunc(sorted, func(a, b Rate) int { return a.EffectiveDate.Compare(b.EffectiveDate) })
	var out []Rate
	for i, r := range sorted {
		if !r.EffectiveDate.Before(end) {
			break
		}
		if i+1 < len(sorted) && !sorted[i+1].EffectiveDate.After(start) {
			continue // superseded at or before start
		}
		out = append(out, r)
	}
	return out
}

// TermsAt returns the terms in force at t, one per name, in wire-name order.
func TermsAt(versions []OfferTerm, t time.Time) []OfferTerm {
	var out []OfferTerm
	for _, v := range versions {
		if v.EffectiveDate.After(t) {
			continue
		}
		i := slices.IndexFunc(out, func(o OfferTerm) bool { return o.Name == v.Name })
		switch {
		case i < 0:
			out = append(out, v)
		case v.EffectiveDate.After(out[i].EffectiveDate):
			out[i] = v
		}
	}
	slices.SortFunc(out, func(a, b OfferTerm) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// TermsOverlapping returns the versions of the terms in force at some
// instant of [start, end), sorted by name and then EffectiveDate.
func TermsOverlapping(versions []OfferTerm, start, end time.Time) []OfferTerm {
	sorted := slices.Clone(versions)
	slices.SortFunc(sorted, func(a, b OfferTerm) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.EffectiveDate.Compare(b.EffectiveDate)
	})
	var out []OfferTerm
	for i, v := range sorted {
		if !v.EffectiveDate.Before(end) {
			continue
		}
		if i+1 < len(sorted) && sorted[i+1].Name == v.Name && !sorted[i+1].EffectiveDate.After(start) {
			continue
		}
		out = append(out, v)
	}
	return out
}
