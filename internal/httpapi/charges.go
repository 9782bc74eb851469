package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/usage"
)

// chargesAPIVersions are the api-versions of Reckon's charges estimate, an
// addition to Microsoft.Commerce.
var chargesAPIVersions = []string{"2015-06-01-preview"}

// charges is GET /subscriptions/{id}/providers/Microsoft.Commerce/charges:
// the subscription's usage in [periodStart, periodEnd) (its current billing
// period when both are absent), reported until now, rated with its offer's
// prices.
func (a *API) charges(w http.ResponseWriter, r *http.Request) {
	q, err := parseARMQuery(r.URL.RawQuery)
	if err == nil {
		_, err = checkAPIVersion(q, chargesAPIVersions)
	}
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	id, ok := billing.ParseGUID(r.PathValue("subscriptionId"))
	if !ok {
		writeError(w, r, a.log, badSubscriptionID(r))
		return
	}
	startRaw, hasStart := q.get("periodStart")
	endRaw, hasEnd := q.get("periodEnd")
	var p billing.Period
	switch {
	case !hasStart && !hasEnd:
		if p, err = a.deps.Charges.CurrentPeriod(r.Context(), id); err != nil {
			writeError(w, r, a.log, err)
			return
		}
	case hasStart != hasEnd:
		writeError(w, r, a.log, invalid("InvalidProperty", map[bool]string{true: "periodEnd", false: "periodStart"}[hasStart],
			"Give both periodStart and periodEnd, or neither for the current billing period."))
		return
	default:
		if p.Start, err = parsePeriodBound("periodStart", startRaw); err == nil {
			p.End, err = parsePeriodBound("periodEnd", endRaw)
		}
		if err == nil && !p.Start.Before(p.End) {
			err = invalid("InvalidProperty", "periodEnd", "The periodEnd must be after the periodStart.")
		}
		if err == nil && p.End.Sub(p.Start) > 366*24*time.Hour {
			err = invalid("InvalidProperty", "periodEnd", "A period covers at most 366 days.")
		}
		if err != nil {
			writeError(w, r, a.log, err)
			return
		}
	}
	st, err := a.deps.Charges.Estimate(r.Context(), id, p.Start, p.End, a.now())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Estimate bool   `json:"estimate"`
		charges.Statement
	}{"/subscriptions/" + id + "/providers/Microsoft.Commerce/charges", "Microsoft.Commerce/charges", true, st})
}

// parsePeriodBound reads a period bound: an RFC 3339 date-time or a date
// (midnight UTC), on a whole hour.
func parsePeriodBound(name, v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	var t time.Time
	var err error
	if len(s) == len(time.DateOnly) {
		t, err = time.Parse(time.DateOnly, s)
	} else {
		t, err = usage.ParseTime(s)
	}
	if err != nil {
		return time.Time{}, invalid("InvalidProperty", name, "The %s '%s' is not a date or an ISO 8601 date-time.", name, clip(v))
	}
	if t.Truncate(time.Hour) != t {
		return time.Time{}, invalid("InvalidProperty", name, "The %s must be on a whole hour.", name)
	}
	return t.UTC(), nil
}
