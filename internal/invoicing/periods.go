package invoicing

import (
	"fmt"
	"time"
)

// nextBoundary returns the first 00:00 UTC of the billing day strictly
// after t: the end of a period that starts at t. billingDay is 1 to 28, so
// every month has it.
func nextBoundary(t time.Time, billingDay int) time.Time {
	t = t.UTC()
	b := time.Date(t.Year(), t.Month(), billingDay, 0, 0, 0, 0, time.UTC)
	if !b.After(t) {
		b = time.Date(t.Year(), t.Month()+1, billingDay, 0, 0, 0, 0, time.UTC)
	}
	return b
}

// periodStart returns the start of the monthly period containing t.
func periodStart(t time.Time, billingDay int) time.Time {
	t = t.UTC()
	s := time.Date(t.Year(), t.Month(), billingDay, 0, 0, 0, 0, time.UTC)
	if t.Before(s) {
		s = time.Date(t.Year(), t.Month()-1, billingDay, 0, 0, 0, 0, time.UTC)
	}
	return s
}

// timeline returns a subscription's periods, oldest first, from the period
// containing first up to the one containing now. Closed periods are kept as
// they were stored; the others are computed from the current billing day:
// a period runs from the end of the previous one to the next billing day
// (a whole month when it starts on one; shorter after a change of billing
// day), and stops short at the start of the next closed period, if any.
//
// A period is named after the month of its end, YYYYMM-N, N counting the
// periods ending in that month (from 1); a computed name never takes a
// closed period's name.
func timeline(subscriptionID string, closed []Period, first time.Time, billingDay int, now time.Time) []Period {
	cursor := periodStart(first, billingDay)
	if len(closed) > 0 && (closed[0].Start.Before(cursor) || !first.Before(closed[0].Start)) {
		cursor = closed[0].Start // first is in (or after) the closed periods
	}
	taken := make(map[string]bool, len(closed))
	for _, p := range closed {
		taken[p.Name] = true
	}
	perMonth := map[string]int{}
	var out []Period
	i := 0
	for !cursor.After(now) || i < len(closed) {
		if i < len(closed) && !closed[i].Start.After(cursor) {
			p := closed[i]
			i++
			perMonth[p.End.Format("200601")]++
			out = append(out, p)
			cursor = p.End
			continue
		}
		end := nextBoundary(cursor, billingDay)
		if i < len(closed) && closed[i].Start.Before(end) {
			end = closed[i].Start
		}
		month := end.Format("200601")
		n := perMonth[month] + 1
		name := fmt.Sprintf("%s-%d", month, n)
		for taken[name] {
			n++
			name = fmt.Sprintf("%s-%d", month, n)
		}
		perMonth[month] = n
		out = append(out, Period{SubscriptionID: subscriptionID, Name: name, Start: cursor, End: end, InvoiceNames: []string{}})
		cursor = end
	}
	return out
}
