package billing

import "time"

// Period is a billing period [Start, End), whole UTC days.
type Period struct {
	Start, End time.Time
}

// PeriodContaining returns the monthly billing period that contains t for
// a billing day of 1 to 28: it starts at 00:00 UTC on that day of a month
// and ends on the same day of the next month.
func PeriodContaining(t time.Time, billingDay int) Period {
	t = t.UTC()
	start := time.Date(t.Year(), t.Month(), billingDay, 0, 0, 0, 0, time.UTC)
	if t.Before(start) {
		start = start.AddDate(0, -1, 0)
	}
	return Period{Start: start, End: start.AddDate(0, 1, 0)}
}
