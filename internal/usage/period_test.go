package usage_test

import (
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// TestUsageByHour: a period's usage by meter and hour counts the parts of
// records that fall inside [start, end) — records crossing either bound
// contribute only their inside hours — and only records reported before
// the cut-off; the sums are exact.
func TestUsageByHour(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		at := func(r usage.RecordInput, reported string) usage.RecordInput {
			r.ReportedTime = reported
			return r
		}
		wantResult(t, e.ingest(true,
			// Inside the period [03-02, 03-04): two records in one hour.
			at(rec("in-1", meterA, `"0.000000001"`, "2024-03-02T05:00:00Z", "2024-03-02T06:00:00Z"), "2024-03-02T07:00:00Z"),
			at(rec("in-2", meterA, `2.5`, "2024-03-02T05:00:00Z", "2024-03-02T06:00:00Z"), "2024-03-03T07:00:00Z"),
			// Crossing the start: 3 hours, 2 of them before the period.
			at(rec("cross-start", meterB, `3`, "2024-03-01T22:00:00Z", "2024-03-02T01:00:00Z"), "2024-03-02T02:00:00Z"),
			// Crossing the end: 4 hours, the last 2 after the period.
			at(rec("cross-end", meterB, `8`, "2024-03-03T22:00:00Z", "2024-03-04T02:00:00Z"), "2024-03-04T03:00:00Z"),
			// Outside the period.
			at(rec("before", meterA, `100`, "2024-03-01T05:00:00Z", "2024-03-01T06:00:00Z"), "2024-03-01T07:00:00Z"),
			at(rec("after", meterA, `100`, "2024-03-04T05:00:00Z", "2024-03-04T06:00:00Z"), "2024-03-04T07:00:00Z"),
			// Inside, but reported after the cut-off (late usage).
			at(rec("late", meterA, `7`, "2024-03-03T05:00:00Z", "2024-03-03T06:00:00Z"), "2024-03-08T00:00:00Z"),
		), 7, 0)

		pStart, pEnd := time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
		got, err := e.svc.UsageByHour(e.ctx, sub1, pStart, pEnd, time.Date(2024, 3, 7, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		type row struct{ meter, hour, qty string }
		want := []row{
			{meterB, "2024-03-02T00:00:00Z", "1"},
			{meterA, "2024-03-02T05:00:00Z", "2.500000001"},
			{meterB, "2024-03-03T22:00:00Z", "2"},
			{meterB, "2024-03-03T23:00:00Z", "2"},
		}
		if len(got) != len(want) {
			t.Fatalf("got %d rows %+v, want %d", len(got), got, len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.MeterID != w.meter || g.Hour.Format(time.RFC3339) != w.hour || g.Quantity.String() != w.qty {
				t.Errorf("row %d = %s %s %s, want %s %s %s", i, g.MeterID, g.Hour.Format(time.RFC3339), g.Quantity, w.meter, w.hour, w.qty)
			}
		}
		// With a later cut-off the late record counts.
		got, err = e.svc.UsageByHour(e.ctx, sub1, pStart, pEnd, time.Date(2024, 3, 9, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 || got[2].MeterID != meterA || got[2].Quantity.String() != "7" {
			t.Errorf("with the late record: %+v", got)
		}

		// Errors.
		if _, err := e.svc.UsageByHour(e.ctx, sub1, pStart.Add(time.Minute), pEnd, pEnd); billing.AsError(err) == nil || billing.AsError(err).Code != "InvalidPeriod" {
			t.Errorf("unaligned period: %v", err)
		}
		if _, err := e.svc.UsageByHour(e.ctx, unknownGUID, pStart, pEnd, pEnd); billing.AsError(err) == nil || billing.AsError(err).Code != "SubscriptionNotFound" {
			t.Errorf("unknown subscription: %v", err)
		}
	})
}

// TestReportedTimeBeforeUsage: an operator may not report usage before it
// began; the charges of a period rely on that.
func TestReportedTimeBeforeUsage(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		r := rec("early", meterA, `1`, "2024-03-02T05:00:00Z", "2024-03-02T06:00:00Z")
		r.ReportedTime = "2024-03-02T04:59:59Z"
		wantResult(t, e.ingest(true, r), 0, 0, "0:"+usage.CodeInvalidTime)
	})
}
