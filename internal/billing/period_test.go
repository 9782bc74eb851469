package billing

import (
	"testing"
	"time"
)

func TestPeriodContaining(t *testing.T) {
	d := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		at         string
		day        int
		start, end string
	}{
		{"2024-03-10T12:00:00Z", 1, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"},
		{"2024-03-01T00:00:00Z", 1, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"},     // the first instant
		{"2024-02-29T23:59:59.999Z", 1, "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"}, // leap day, last instant
		{"2024-03-10T12:00:00Z", 15, "2024-02-15T00:00:00Z", "2024-03-15T00:00:00Z"},
		{"2024-01-05T00:00:00Z", 28, "2023-12-28T00:00:00Z", "2024-01-28T00:00:00Z"},      // across a year
		{"2024-03-28T01:00:00+02:00", 28, "2024-02-28T00:00:00Z", "2024-03-28T00:00:00Z"}, // 23:00 UTC the day before
	} {
		p := PeriodContaining(d(c.at), c.day)
		if !p.Start.Equal(d(c.start)) || !p.End.Equal(d(c.end)) {
			t.Errorf("PeriodContaining(%s, %d) = [%s, %s), want [%s, %s)", c.at, c.day, p.Start, p.End, c.start, c.end)
		}
	}
}
