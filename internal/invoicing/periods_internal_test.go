package invoicing

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t, err = time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
	}
	return t.UTC()
}

// describe renders periods as "name:start..end" (dates), with "*" for closed ones.
func describe(ps []Period) string {
	var parts []string
	for _, p := range ps {
		mark := ""
		if p.ClosedAt != nil {
			mark = "*"
		}
		parts = append(parts, fmt.Sprintf("%s%s:%s..%s", mark, p.Name, p.Start.Format("2006-01-02"), p.End.Format("2006-01-02")))
	}
	return strings.Join(parts, " ")
}

func closedPeriod(name, start, end string) Period {
	at := day(end).Add(72 * time.Hour)
	return Period{Name: name, Start: day(start), End: day(end), ClosedAt: &at}
}

func TestTimeline(t *testing.T) {
	for _, c := range []struct {
		name       string
		closed     []Period
		first, now string
		billingDay int
		want       string
	}{
		{"day 1, leap February", nil, "2024-01-15", "2024-04-10", 1,
			"202402-1:2024-01-01..2024-02-01 202403-1:2024-02-01..2024-03-01 202404-1:2024-03-01..2024-04-01 202405-1:2024-04-01..2024-05-01"},
		{"day 15 across a year, now on a boundary", nil, "2023-12-20", "2024-03-15T00:00:00Z", 15,
			"202401-1:2023-12-15..2024-01-15 202402-1:2024-01-15..2024-02-15 202403-1:2024-02-15..2024-03-15 202404-1:2024-03-15..2024-04-15"},
		{"day 15, the instant before a boundary", nil, "2024-02-15", "2024-03-14T23:59:59Z", 15,
			"202403-1:2024-02-15..2024-03-15"},
		{"day 28 in a leap February, across a year", nil, "2023-12-29", "2024-03-01", 28,
			"202401-1:2023-12-28..2024-01-28 202402-1:2024-01-28..2024-02-28 202403-1:2024-02-28..2024-03-28"},
		{"day 28 in a common February", nil, "2023-02-27", "2023-03-01", 28,
			"202302-1:2023-01-28..2023-02-28 202303-1:2023-02-28..2023-03-28"},
		{"day 28, first on the 31st", nil, "2024-01-31", "2024-01-31", 28,
			"202402-1:2024-01-28..2024-02-28"},
		{"billing day moved later: a short period ends in the same month", []Period{closedPeriod("202404-1", "2024-03-15", "2024-04-15")},
			"2024-03-20", "2024-05-01", 20,
			"*202404-1:2024-03-15..2024-04-15 202404-2:2024-04-15..2024-04-20 202405-1:2024-04-20..2024-05-20"},
		{"billing day moved earlier: a short period to the next one", []Period{closedPeriod("202404-1", "2024-03-15", "2024-04-15")},
			"2024-03-20", "2024-05-01", 1,
			"*202404-1:2024-03-15..2024-04-15 202405-1:2024-04-15..2024-05-01 202406-1:2024-05-01..2024-06-01"},
		{"usage found before the first closed period", []Period{closedPeriod("202404-1", "2024-03-01", "2024-04-01")},
			"2024-01-10", "2024-04-02", 1,
			"202402-1:2024-01-01..2024-02-01 202403-1:2024-02-01..2024-03-01 *202404-1:2024-03-01..2024-04-01 202405-1:2024-04-01..2024-05-01"},
		{"earlier periods stop short at a closed period of another billing day", []Period{closedPeriod("202404-1", "2024-03-15", "2024-04-15")},
			"2024-02-20", "2024-04-20", 1,
			"202403-1:2024-02-01..2024-03-01 202403-2:2024-03-01..2024-03-15 *202404-1:2024-03-15..2024-04-15 202405-1:2024-04-15..2024-05-01"},
		{"a computed name never takes a closed one's", []Period{closedPeriod("202404-1", "2024-04-10", "2024-04-20")},
			"2024-03-15", "2024-04-25", 1,
			"202404-2:2024-03-01..2024-04-01 202404-3:2024-04-01..2024-04-10 *202404-1:2024-04-10..2024-04-20 202405-1:2024-04-20..2024-05-01"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := describe(timeline("s", c.closed, day(c.first), c.billingDay, day(c.now)))
			if got != c.want {
				t.Errorf("timeline:\n got %s\nwant %s", got, c.want)
			}
		})
	}
}

func TestDefaultNumberPrefix(t *testing.T) {
	for in, want := range map[string]string{"contoso": "CONTOSO-", "contoso-eu.2": "CONTOSOEU2-", "a_b:c": "ABC-", "...": "INV-", "Fabrikam": "FABRIKAM-"} {
		if got := DefaultNumberPrefix(in); got != want {
			t.Errorf("DefaultNumberPrefix(%q) = %q, want %q", in, got, want)
		}
	}
	if got := InvoiceName("CONTOSO-", 1); got != "CONTOSO-000001" {
		t.Errorf("InvoiceName = %s", got)
	}
	if got := InvoiceName("CONTOSO-", 1234567); got != "CONTOSO-1234567" {
		t.Errorf("InvoiceName = %s", got)
	}
}
