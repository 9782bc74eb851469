package usage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
	"github.com/reckon-billing/reckon/internal/reckontest"
	"github.com/reckon-billing/reckon/internal/usage"
)

const (
	sub1   = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
	sub2   = "3f2504e0-4f89-41d3-9a0c-0305e82c3302"
	meterA = "a0000000-0000-4000-8000-00000000000a"
	meterB = "b0000000-0000-4000-8000-00000000000b"
	meterC = "c0000000-0000-4000-8000-00000000000c"
	// An id that names neither a subscription nor a meter.
	unknownGUID = "deadbeef-0000-4000-8000-000000000000"
)

const settle = 30 * time.Second

// start is the clock of every test: noon on 2024-03-10. Yesterday's
// reported window [2024-03-09, 2024-03-10) has settled.
var start = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	ctx   context.Context
	clock *reckontest.Clock
	svc   *usage.Service
	subs  *account.Service
	cat   *catalog.Service
}

func newEnv(t *testing.T, b reckontest.Backend) *env {
	t.Helper()
	return newEnvWith(t, b, usage.Config{SettleMargin: settle})
}

func newEnvWith(t *testing.T, b reckontest.Backend, cfg usage.Config) *env {
	t.Helper()
	db := reckontest.OpenStore(t, b)
	clock := reckontest.NewClock(start)
	e := &env{
		t: t, ctx: context.Background(), clock: clock,
		svc:  usage.NewService(db, clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg),
		subs: account.NewService(db, clock.Now),
		cat:  catalog.NewService(db, clock.Now),
	}
	t.Cleanup(e.svc.Close)
	e.subscription(sub1)
	for _, m := range []string{meterA, meterB, meterC} {
		e.meter(m)
	}
	return e
}

func (e *env) subscription(id string) {
	e.t.Helper()
	if _, _, err := e.subs.Put(e.ctx, id, account.Subscription{DisplayName: "Test " + id[len(id)-2:], BillingAccount: "acct-1"}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) meter(id string) {
	e.t.Helper()
	if _, _, err := e.cat.PutMeter(e.ctx, id, catalog.Meter{MeterName: "Meter " + id[:1], MeterCategory: "Test", Unit: "1 Hour"}); err != nil {
		e.t.Fatal(err)
	}
}

// rec is a record of sub1 on meter m over [from, to) (times on 2024-03-09
// unless they carry a date), reported at 2024-03-09T23:00.
func rec(id, m, q, from, to string) usage.RecordInput {
	return usage.RecordInput{
		ID: id, SubscriptionID: sub1, MeterID: m, Quantity: json.RawMessage(q),
		UsageStartTime: day(from), UsageEndTime: day(to), ReportedTime: "2024-03-09T23:00:00Z",
	}
}

func day(s string) string {
	if len(s) <= 8 {
		return "2024-03-09T" + s + "Z"
	}
	return s
}

func (e *env) ingest(operator bool, recs ...usage.RecordInput) usage.Result {
	e.t.Helper()
	res, err := e.ingestErr(operator, recs...)
	if err != nil {
		e.t.Fatalf("Ingest: %v", err)
	}
	return res
}

func (e *env) ingestErr(operator bool, recs ...usage.RecordInput) (usage.Result, error) {
	b := e.svc.NewBatch(operator)
	for i := range recs {
		in := recs[i]
		b.Add(i, &in, nil)
	}
	return e.svc.Ingest(e.ctx, b)
}

func wantResult(t *testing.T, got usage.Result, accepted, duplicates int, rejected ...string) {
	t.Helper()
	var codes []string
	for _, r := range got.Rejected {
		codes = append(codes, fmt.Sprintf("%d:%s", r.Index, r.Code))
	}
	if got.Accepted != accepted || got.Duplicates != duplicates || strings.Join(codes, ",") != strings.Join(rejected, ",") {
		t.Fatalf("result = accepted %d, duplicates %d, rejected %v; want %d, %d, %v", got.Accepted, got.Duplicates, codes, accepted, duplicates, rejected)
	}
	if got.Rejected == nil {
		t.Fatalf("Rejected is nil, want an empty list")
	}
}

func query(g usage.Granularity, from, to string, details bool) usage.Query {
	return usage.Query{SubscriptionID: sub1, ReportedStart: mustTime(from), ReportedEnd: mustTime(to), Granularity: g, ShowDetails: details}
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// all reads every page of q.
func (e *env) all(q usage.Query) []usage.Aggregate {
	e.t.Helper()
	var rows []usage.Aggregate
	for pages := 0; ; pages++ {
		if pages > 10000 {
			e.t.Fatal("paging does not end")
		}
		p, err := e.svc.Aggregate(e.ctx, q)
		if err != nil {
			e.t.Fatalf("Aggregate(%+v): %v", q, err)
		}
		rows = append(rows, p.Rows...)
		if p.Next == nil {
			return rows
		}
		next := *p.Next
		q.After = &next
	}
}

func total(rows []usage.Aggregate) string {
	sum := money.Zero
	for _, r := range rows {
		sum = sum.Add(r.Quantity)
	}
	return sum.String()
}

// render is a comparable form of rows.
func render(rows []usage.Aggregate) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%s %s meter=%s inst=%d %s = %s", r.UsageStart.Format(time.RFC3339), r.UsageEnd.Format(time.RFC3339),
			r.Meter.MeterID, r.Key.InstanceKey, r.InstanceData, r.Quantity)
	}
	return out
}

func sumQuantities(t *testing.T, qs ...string) string {
	t.Helper()
	var s money.QuantitySum
	for _, q := range qs {
		v, err := money.ParseQuantity(strings.Trim(q, `"`))
		if err != nil {
			t.Fatal(err)
		}
		s.Add(v)
	}
	return s.String()
}

var yesterday = query(usage.Daily, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", true)

func TestIngestIdempotent(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		var recs []usage.RecordInput
		var qs []string
		for i := 0; i < 20; i++ {
			q := fmt.Sprintf("%d.%d", i, i+1)
			r := rec(fmt.Sprintf("rec-%02d", i), []string{meterA, meterB}[i%2], q, fmt.Sprintf("%02d:00:00", i), fmt.Sprintf("%02d:30:00", i))
			if i%3 == 0 {
				r.ResourceURI = fmt.Sprintf("/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%d", sub1, i%2)
				r.Tags = json.RawMessage(`{"env":"prod","team":"a"}`)
			}
			recs = append(recs, r)
			qs = append(qs, q)
		}
		want := sumQuantities(t, qs...)

		wantResult(t, e.ingest(true, recs...), 20, 0)
		before := render(e.all(yesterday))
		if got := total(e.all(yesterday)); got != want {
			t.Fatalf("total after first ingest = %s, want %s", got, want)
		}

		wantResult(t, e.ingest(true, recs...), 0, 20)

		// The same records written differently are still the same records.
		for i := range recs {
			recs[i].Quantity = json.RawMessage(`"` + qs[i] + `0"`)
			if recs[i].Tags != nil {
				recs[i].Tags = json.RawMessage(`{"team":"a","env":"prod"}`)
			}
			recs[i].UsageStartTime = strings.Replace(recs[i].UsageStartTime, "T", " ", 1)
		}
		wantResult(t, e.ingest(true, recs...), 0, 20)

		after := e.all(yesterday)
		if got := total(after); got != want {
			t.Fatalf("total after replays = %s, want %s (counted twice?)", got, want)
		}
		if !reflect.DeepEqual(render(after), before) {
			t.Fatalf("rows changed after replays:\n%s\nwant\n%s", strings.Join(render(after), "\n"), strings.Join(before, "\n"))
		}
	})
}

// TestIngestReplayLater replays records without reportedTime after the
// clock has moved: they are duplicates and are not reported again.
func TestIngestReplayLater(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		r1 := rec("x1", meterA, "2", "2024-03-10T10:00:00Z", "2024-03-10T11:00:00Z")
		r2 := rec("x2", meterB, "3", "2024-03-10T10:00:00Z", "2024-03-10T11:00:00Z")
		r1.ReportedTime, r2.ReportedTime = "", ""
		wantResult(t, e.ingest(false, r1, r2), 2, 0) // reported at 12:00
		e.clock.Set(start.Add(time.Hour))
		wantResult(t, e.ingest(false, r1, r2), 0, 2)
		e.clock.Set(start.Add(2*time.Hour + settle))
		if got := total(e.all(query(usage.Hourly, "2024-03-10T12:00:00Z", "2024-03-10T13:00:00Z", true))); got != "5" {
			t.Errorf("window of the first ingest: total %s, want 5", got)
		}
		if rows := e.all(query(usage.Hourly, "2024-03-10T13:00:00Z", "2024-03-10T14:00:00Z", true)); len(rows) != 0 {
			t.Errorf("replay was reported again: %v", render(rows))
		}
	})
}

func TestIngestConflict(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		orig := rec("dup", meterA, "1", "01:00:00", "02:00:00")
		wantResult(t, e.ingest(true, orig), 1, 0)

		changed := orig
		changed.Quantity = json.RawMessage(`2`)
		other := rec("other", meterA, "5", "01:00:00", "02:00:00")
		res := e.ingest(true, changed, other)
		wantResult(t, res, 1, 0, "0:Conflict")
		if res.Rejected[0].ID != "dup" || res.Rejected[0].Message == "" {
			t.Errorf("rejection = %+v", res.Rejected[0])
		}

		// Any other difference conflicts too.
		moved := orig
		moved.UsageEndTime = day("02:00:01")
		tagged := orig
		tagged.Tags = json.RawMessage(`{"a":"b"}`)
		otherMeter := orig
		otherMeter.MeterID = meterB
		wantResult(t, e.ingest(true, moved, tagged, otherMeter, orig), 0, 1, "0:Conflict", "1:Conflict", "2:Conflict")

		rows := e.all(yesterday)
		if got := total(rows); got != "6" {
			t.Fatalf("total = %s, want 6 (the original 1 and 5)", got)
		}
		if len(rows) != 1 || rows[0].Meter.MeterID != meterA {
			t.Fatalf("rows = %v", render(rows))
		}
	})
}

func TestIngestDuplicatesWithinBatch(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		a := rec("a", meterA, "1", "01:00:00", "02:00:00")
		a2 := a
		a2.Quantity = json.RawMessage(`"1.000"`) // the same record
		aX := a
		aX.Quantity = json.RawMessage(`7`) // a different one with the same id
		bb := rec("b", meterA, "2", "01:00:00", "02:00:00")
		wantResult(t, e.ingest(true, a, a2, aX, bb, bb), 2, 2, "2:Conflict")
		if got := total(e.all(yesterday)); got != "3" {
			t.Fatalf("total = %s, want 3", got)
		}

		// The first copy of a stored id conflicts; a later copy equal to the
		// stored record is a duplicate, not a conflict with its neighbour.
		c := rec("c", meterA, "4", "01:00:00", "02:00:00")
		wantResult(t, e.ingest(true, aX, a, c, c, aX), 1, 2, "0:Conflict", "4:Conflict")
		if got := total(e.all(yesterday)); got != "7" {
			t.Fatalf("total = %s, want 7", got)
		}
	})
}

// TestIngestConcurrent sends overlapping requests from several goroutines,
// committed by one transaction at a time or by four at once. Every id is
// accepted exactly once, and the totals count each once.
func TestIngestConcurrent(t *testing.T) {
	t.Parallel()
	for _, committers := range []int{1, 4} {
		t.Run(fmt.Sprintf("committers=%d", committers), func(t *testing.T) {
			t.Parallel()
			testIngestConcurrent(t, committers)
		})
	}
}

func testIngestConcurrent(t *testing.T, committers int) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnvWith(t, b, usage.Config{SettleMargin: settle, Committers: committers})
		const pool, workers, requests, perRequest = 150, 6, 4, 40
		mk := func(i int) usage.RecordInput {
			r := rec(fmt.Sprintf("c-%03d", i), []string{meterA, meterB, meterC}[i%3], fmt.Sprintf("0.%03d", i+1),
				fmt.Sprintf("%02d:15:00", i%23), fmt.Sprintf("%02d:45:00", i%23)) // all before the report at 23:00
			if i%4 != 0 {
				r.ResourceURI = fmt.Sprintf("/vm/%d", i%5)
			}
			return r
		}
		var mu sync.Mutex
		sent := map[int]bool{}
		accepted, duplicates, total0 := 0, 0, 0
		var wg sync.WaitGroup
		errs := make(chan error, workers*requests)
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 99))
				for r := 0; r < requests; r++ {
					var recs []usage.RecordInput
					var ids []int
					for k := 0; k < perRequest; k++ {
						i := rng.IntN(pool)
						recs = append(recs, mk(i))
						ids = append(ids, i)
					}
					res, err := e.ingestErr(true, recs...)
					if err != nil {
						errs <- err
						return
					}
					if len(res.Rejected) > 0 {
						errs <- fmt.Errorf("rejections: %+v", res.Rejected)
					}
					mu.Lock()
					accepted += res.Accepted
					duplicates += res.Duplicates
					total0 += len(recs)
					for _, i := range ids {
						sent[i] = true
					}
					mu.Unlock()
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if accepted != len(sent) || accepted+duplicates != total0 {
			t.Fatalf("accepted %d, duplicates %d of %d sent; want %d accepted (unique ids)", accepted, duplicates, total0, len(sent))
		}
		var qs []string
		for i := range sent {
			qs = append(qs, fmt.Sprintf("0.%03d", i+1))
		}
		want := sumQuantities(t, qs...)
		if got := total(e.all(yesterday)); got != want {
			t.Fatalf("total = %s, want %s", got, want)
		}
		// A final replay of the whole pool accepts exactly the ids never sent.
		var all []usage.RecordInput
		for i := 0; i < pool; i++ {
			all = append(all, mk(i))
		}
		wantResult(t, e.ingest(true, all...), pool-len(sent), len(sent))
	})
}

func TestIngestUnknownSubscriptionAndMeter(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		ok := rec("ok", meterA, "1", "01:00:00", "02:00:00")
		noSub := rec("no-sub", meterA, "1", "01:00:00", "02:00:00")
		noSub.SubscriptionID = sub2
		noMeter := rec("no-meter", unknownGUID, "1", "01:00:00", "02:00:00")
		bad := rec("bad", meterA, "-1", "01:00:00", "02:00:00")
		res := e.ingest(true, noSub, ok, noMeter, bad)
		wantResult(t, res, 1, 0, "0:SubscriptionNotFound", "2:MeterNotFound", "3:NegativeQuantity")
		if res.Rejected[0].ID != "no-sub" || res.Rejected[1].ID != "no-meter" || res.Rejected[2].ID != "bad" {
			t.Errorf("rejection ids = %+v", res.Rejected)
		}

		// Once they exist, the same records are accepted: a miss is not cached.
		e.subscription(sub2)
		e.meter(unknownGUID)
		wantResult(t, e.ingest(true, noSub, ok, noMeter), 2, 1)

		// Rejected before decoding (a decoder rejection) keeps its index.
		bt := e.svc.NewBatch(true)
		in0 := rec("ok2", meterA, "1", "01:00:00", "02:00:00")
		bt.Add(0, &in0, nil)
		bt.Add(1, &usage.RecordInput{ID: "weird"}, &usage.Rejection{Code: usage.CodeUnknownProperty, Message: "x"})
		res, err := e.svc.Ingest(e.ctx, bt)
		if err != nil {
			t.Fatal(err)
		}
		wantResult(t, res, 1, 0, "1:UnknownProperty")
		if bt.Len() != 2 {
			t.Errorf("Len = %d", bt.Len())
		}

		_, err = e.svc.Aggregate(e.ctx, usage.Query{SubscriptionID: "11111111-2222-4333-8444-555555555555", Granularity: usage.Daily,
			ReportedStart: yesterday.ReportedStart, ReportedEnd: yesterday.ReportedEnd})
		if be := billing.AsError(err); be == nil || be.Kind != billing.KindNotFound || be.Code != "SubscriptionNotFound" {
			t.Fatalf("Aggregate of an unknown subscription: %v", err)
		}
	})
}

// TestAggregateGranularity checks the hourly split and that daily rows are
// the sums of the hourly ones.
func TestAggregateGranularity(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		vm := rec("vm", meterA, "3", "10:30:00", "13:30:00")
		vm.ResourceURI, vm.Location = "/vm/1", "westus"
		wantResult(t, e.ingest(true,
			rec("overnight", meterA, "3", "2024-03-08T22:30:00Z", "2024-03-09T01:30:00Z"),
			vm,
			rec("tiny", meterB, "0.000000001", "05:00:00", "05:15:00"),
			rec("tie", meterC, "0.000000001", "06:30:00", "07:30:00"),
		), 4, 0)

		hourly := e.all(query(usage.Hourly, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", true))
		wantHourly := []string{
			"2024-03-08T22:00:00Z 2024-03-08T23:00:00Z meter=" + meterA + " inst=0  = 0.5",
			"2024-03-08T23:00:00Z 2024-03-09T00:00:00Z meter=" + meterA + " inst=0  = 1",
			"2024-03-09T00:00:00Z 2024-03-09T01:00:00Z meter=" + meterA + " inst=0  = 1",
			"2024-03-09T01:00:00Z 2024-03-09T02:00:00Z meter=" + meterA + " inst=0  = 0.5",
			"2024-03-09T05:00:00Z 2024-03-09T06:00:00Z meter=" + meterB + " inst=0  = 0.000000001",
			"2024-03-09T06:00:00Z 2024-03-09T07:00:00Z meter=" + meterC + " inst=0  = 0.000000001",
			"2024-03-09T07:00:00Z 2024-03-09T08:00:00Z meter=" + meterC + " inst=0  = 0",
		}
		inst := `{"Microsoft.Resources":{"resourceUri":"/vm/1","location":"westus","tags":null,"additionalInfo":null}}`
		var vmRows []string
		var other []usage.Aggregate
		for _, r := range hourly {
			if r.InstanceData != "" {
				if r.InstanceData != inst || r.Key.InstanceKey == 0 {
					t.Fatalf("instance row %+v", r)
				}
				vmRows = append(vmRows, r.UsageStart.Format("15:04")+"="+r.Quantity.String())
				continue
			}
			other = append(other, r)
		}
		if got := strings.Join(vmRows, " "); got != "10:00=0.5 11:00=1 12:00=1 13:00=0.5" {
			t.Errorf("10:30–13:30 of 3 split as %s, want 0.5 1 1 0.5", got)
		}
		if !reflect.DeepEqual(render(other), wantHourly) {
			t.Errorf("hourly rows:\n%s\nwant\n%s", strings.Join(render(other), "\n"), strings.Join(wantHourly, "\n"))
		}
		for _, r := range hourly {
			if r.UsageEnd.Sub(r.UsageStart) != time.Hour || r.UsageStart.Minute() != 0 || r.Key.Bucket != r.UsageStart.Unix() {
				t.Errorf("hourly row bucket %v–%v key %d", r.UsageStart, r.UsageEnd, r.Key.Bucket)
			}
			if r.Meter.MeterName == "" || r.Meter.Unit != "1 Hour" {
				t.Errorf("row meter not filled: %+v", r.Meter)
			}
		}

		daily := e.all(query(usage.Daily, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", true))
		if total(daily) != total(hourly) || total(daily) != "6.000000002" {
			t.Fatalf("daily total %s, hourly total %s, want 6.000000002", total(daily), total(hourly))
		}
		// Each daily row is the sum of the hourly rows of its day, meter and instance.
		sums := map[usage.GroupKey]money.Decimal{}
		for _, r := range hourly {
			k := r.Key
			k.Bucket = r.UsageStart.Truncate(24 * time.Hour).Unix()
			sums[k] = sums[k].Add(r.Quantity)
		}
		if len(daily) != len(sums) {
			t.Fatalf("%d daily rows, %d day groups in the hourly rows", len(daily), len(sums))
		}
		for _, r := range daily {
			if r.UsageEnd.Sub(r.UsageStart) != 24*time.Hour || !r.UsageStart.Equal(r.UsageStart.Truncate(24*time.Hour)) {
				t.Errorf("daily row bucket %v–%v", r.UsageStart, r.UsageEnd)
			}
			if want := sums[r.Key]; want.Cmp(r.Quantity) != 0 {
				t.Errorf("daily %v = %s, hourly rows sum to %s", r.Key, r.Quantity, want)
			}
		}
		wantDaily := []string{"2024-03-08 " + meterA + " 1.5", "2024-03-09 " + meterA + " 1.5", "2024-03-09 " + meterA + " 3",
			"2024-03-09 " + meterB + " 0.000000001", "2024-03-09 " + meterC + " 0.000000001"}
		var gotDaily []string
		for _, r := range daily {
			gotDaily = append(gotDaily, r.UsageStart.Format(time.DateOnly)+" "+r.Meter.MeterID+" "+r.Quantity.String())
		}
		if !reflect.DeepEqual(gotDaily, wantDaily) {
			t.Errorf("daily rows %v, want %v", gotDaily, wantDaily)
		}
	})
}

func TestAggregateShowDetails(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		r1 := rec("i1", meterA, "1", "03:00:00", "03:10:00")
		r1.ResourceURI = "/vm/1"
		r2 := rec("i2", meterA, "2", "03:10:00", "03:20:00")
		r2.ResourceURI = "/vm/2"
		r3 := rec("i3", meterA, "4", "03:20:00", "03:30:00") // no resource
		r4 := rec("i4", meterA, "8", "03:30:00", "03:40:00")
		r4.ResourceURI = "/vm/1" // the same instance as r1
		r5 := rec("i5", meterB, "16", "03:30:00", "03:40:00")
		r5.ResourceURI = "/vm/1"
		wantResult(t, e.ingest(true, r1, r2, r3, r4, r5), 5, 0)

		detailed := e.all(query(usage.Hourly, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", true))
		var got []string
		for _, r := range detailed {
			uri := ""
			if r.InstanceData != "" {
				var v struct {
					R struct {
						URI string `json:"resourceUri"`
					} `json:"Microsoft.Resources"`
				}
				if err := json.Unmarshal([]byte(r.InstanceData), &v); err != nil {
					t.Fatal(err)
				}
				uri = v.R.URI
			}
			if (uri == "") != (r.Key.InstanceKey == 0) {
				t.Errorf("row %+v: instance key and data disagree", r.Key)
			}
			got = append(got, r.Meter.MeterID[:1]+uri+"="+r.Quantity.String())
		}
		// Instance keys are opaque: within a meter, compare as a set.
		slices.Sort(got)
		want := []string{"a/vm/1=9", "a/vm/2=2", "a=4", "b/vm/1=16"}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("showDetails=true rows %v, want %v", got, want)
		}

		summary := e.all(query(usage.Hourly, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", false))
		got = got[:0]
		for _, r := range summary {
			if r.InstanceData != "" || r.Key.InstanceKey != 0 {
				t.Errorf("showDetails=false row has an instance: %+v", r)
			}
			got = append(got, r.Meter.MeterID[:1]+"="+r.Quantity.String())
		}
		if want := []string{"a=15", "b=16"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("showDetails=false rows %v, want %v", got, want)
		}
	})
}

// TestInstancesOfOneBatchNotConfused sends, in one request, two records
// whose resources differ only in where a NUL character falls between
// resourceUri and location: they are different instances.
func TestInstancesOfOneBatchNotConfused(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		r1 := rec("n1", meterA, "1", "03:00:00", "03:10:00")
		r1.ResourceURI, r1.Location = "/vm/a\x00", "b"
		r2 := rec("n2", meterA, "2", "03:10:00", "03:20:00")
		r2.ResourceURI, r2.Location = "/vm/a", "\x00b"
		wantResult(t, e.ingest(true, r1, r2), 2, 0)
		rows := e.all(query(usage.Hourly, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", true))
		if len(rows) != 2 || rows[0].InstanceData == rows[1].InstanceData {
			t.Fatalf("two different instances became %d rows: %v", len(rows), render(rows))
		}
	})
}

// TestAggregatePaging reads the same aggregation with several page sizes:
// the pages, concatenated, are the unpaged result, in GroupKey order.
func TestAggregatePaging(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		var recs []usage.RecordInput
		for i := 0; i < 60; i++ {
			// Usage on eight days, each record over two or three hours;
			// every fifth crosses midnight.
			from, length := time.Date(2024, 3, 1+i%8, i%22, 30, 0, 0, time.UTC), 90*time.Minute
			if i%5 == 0 {
				from, length = time.Date(2024, 3, 1+i%8, 23, 30, 0, 0, time.UTC), 3*time.Hour
			}
			r := rec(fmt.Sprintf("p%02d", i), []string{meterA, meterB, meterC}[i%3], fmt.Sprintf("%d", i+1),
				from.Format(time.RFC3339), from.Add(length).Format(time.RFC3339))
			if i%4 != 0 {
				r.ResourceURI = fmt.Sprintf("/vm/%d", i%4)
			}
			recs = append(recs, r)
		}
		wantResult(t, e.ingest(true, recs...), 60, 0)

		for _, c := range []struct {
			g       usage.Granularity
			details bool
			minRows int
		}{{usage.Hourly, true, 100}, {usage.Hourly, false, 100}, {usage.Daily, true, 20}, {usage.Daily, false, 15}} {
			q := query(c.g, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", c.details)
			full, err := e.svc.Aggregate(e.ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if full.Next != nil {
				t.Fatalf("unpaged result has a next page")
			}
			n := len(full.Rows)
			if n < c.minRows {
				t.Fatalf("%s details=%v: only %d rows; the test needs %d", c.g, c.details, n, c.minRows)
			}
			if total(full.Rows) != sumRange(1, 60) {
				t.Fatalf("total %s, want %s", total(full.Rows), sumRange(1, 60))
			}
			for i := 1; i < n; i++ {
				if !keyLess(full.Rows[i-1].Key, full.Rows[i].Key) {
					t.Fatalf("rows not in strict GroupKey order at %d: %+v then %+v", i, full.Rows[i-1].Key, full.Rows[i].Key)
				}
			}
			divisor := 0
			for d := 2; d < n; d++ {
				if n%d == 0 {
					divisor = d
				}
			}
			for _, size := range []int{1, 7, n - 1, n, n + 1, divisor} {
				if size <= 0 {
					continue
				}
				q := q
				q.PageSize = size
				var got []usage.Aggregate
				pages := 0
				for {
					p, err := e.svc.Aggregate(e.ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					if len(p.Rows) > size {
						t.Fatalf("page of %d rows, size %d", len(p.Rows), size)
					}
					got = append(got, p.Rows...)
					if p.Next == nil {
						break
					}
					if len(p.Rows) != size {
						t.Fatalf("size %d: short page of %d rows before the last", size, len(p.Rows))
					}
					if *p.Next != p.Rows[len(p.Rows)-1].Key {
						t.Fatalf("Next %+v is not the last row's key %+v", *p.Next, p.Rows[len(p.Rows)-1].Key)
					}
					next := *p.Next
					q.After = &next
				}
				if wantPages := (n + size - 1) / size; pages != wantPages {
					t.Errorf("size %d: %d pages for %d rows, want %d", size, pages, n, wantPages)
				}
				if !reflect.DeepEqual(render(got), render(full.Rows)) {
					t.Fatalf("%s details=%v size %d: pages differ from the unpaged result", c.g, c.details, size)
				}
			}
		}
	})
}

func keyLess(a, b usage.GroupKey) bool {
	if a.Bucket != b.Bucket {
		return a.Bucket < b.Bucket
	}
	if a.MeterKey != b.MeterKey {
		return a.MeterKey < b.MeterKey
	}
	return a.InstanceKey < b.InstanceKey
}

func sumRange(from, to int) string {
	s := 0
	for i := from; i <= to; i++ {
		s += i
	}
	return fmt.Sprint(s)
}

func TestAggregateWindowValidation(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		tests := []struct {
			name     string
			q        usage.Query
			kind     billing.Kind
			code     string
			target   string
			clockNow string
		}{
			{"daily start not at midnight", query(usage.Daily, "2024-03-09T01:00:00Z", "2024-03-10T00:00:00Z", true),
				billing.KindInvalid, "InvalidProperty", "reportedStartTime", ""},
			{"daily end not at midnight", query(usage.Daily, "2024-03-08T00:00:00Z", "2024-03-09T00:00:00.000001Z", true),
				billing.KindInvalid, "InvalidProperty", "reportedEndTime", ""},
			{"hourly start not on the hour", query(usage.Hourly, "2024-03-09T10:30:00Z", "2024-03-09T11:00:00Z", true),
				billing.KindInvalid, "InvalidProperty", "reportedStartTime", ""},
			{"hourly end not on the hour", query(usage.Hourly, "2024-03-09T10:00:00Z", "2024-03-09T11:00:01Z", true),
				billing.KindInvalid, "InvalidProperty", "reportedEndTime", ""},
			{"start equals end", query(usage.Daily, "2024-03-09T00:00:00Z", "2024-03-09T00:00:00Z", true),
				billing.KindInvalid, "InvalidProperty", "reportedStartTime", ""},
			{"start after end", query(usage.Hourly, "2024-03-09T11:00:00Z", "2024-03-09T10:00:00Z", true),
				billing.KindInvalid, "InvalidProperty", "reportedStartTime", ""},
			{"end in the future", query(usage.Hourly, "2024-03-10T11:00:00Z", "2024-03-10T13:00:00Z", true),
				billing.KindInvalid, "RequestEndTimeIsInFuture", "reportedEndTime", ""},
			{"daily end in the future", query(usage.Daily, "2024-03-10T00:00:00Z", "2024-03-11T00:00:00Z", true),
				billing.KindInvalid, "RequestEndTimeIsInFuture", "reportedEndTime", ""},
			{"bad granularity", query("Monthly", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", true),
				billing.KindInvalid, "InvalidAggregationGranularity", "aggregationGranularity", ""},
			{"lower-case granularity", query("daily", "2024-03-01T00:00:00Z", "2024-03-02T00:00:00Z", true),
				billing.KindInvalid, "InvalidAggregationGranularity", "aggregationGranularity", ""},
			{"end is now, not settled", query(usage.Hourly, "2024-03-10T11:00:00Z", "2024-03-10T12:00:00Z", true),
				billing.KindUnavailable, "ProcessingNotComplete", "", "2024-03-10T12:00:00Z"},
			{"just before the settle margin", query(usage.Hourly, "2024-03-10T11:00:00Z", "2024-03-10T12:00:00Z", true),
				billing.KindUnavailable, "ProcessingNotComplete", "", "2024-03-10T12:00:29.999Z"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				now := start
				if tt.clockNow != "" {
					now = mustTime(tt.clockNow)
				}
				e.clock.Set(now)
				_, err := e.svc.Aggregate(e.ctx, tt.q)
				be := billing.AsError(err)
				if be == nil {
					t.Fatalf("error = %v, want %s", err, tt.code)
				}
				if be.Kind != tt.kind || be.Code != tt.code || be.Target != tt.target {
					t.Fatalf("error = kind %d code %s target %q; want kind %d code %s target %q", be.Kind, be.Code, be.Target, tt.kind, tt.code, tt.target)
				}
				if tt.kind == billing.KindUnavailable {
					settled := tt.q.ReportedEnd.Add(settle)
					wait := settled.Sub(now)
					if be.RetryAfter <= 0 || time.Duration(be.RetryAfter)*time.Second < wait || time.Duration(be.RetryAfter)*time.Second > wait+time.Second {
						t.Fatalf("RetryAfter = %d s, want about %s", be.RetryAfter, wait)
					}
				}
			})
		}
		// Exactly at the end of the settle margin the window is readable.
		e.clock.Set(mustTime("2024-03-10T12:00:30Z"))
		if _, err := e.svc.Aggregate(e.ctx, query(usage.Hourly, "2024-03-10T11:00:00Z", "2024-03-10T12:00:00Z", true)); err != nil {
			t.Fatalf("settled window: %v", err)
		}
	})
}

// TestLateUsage: usage from days ago, reported today, appears in today's
// reported window under its own (earlier) usage bucket, and not in the
// window of its usage day.
func TestLateUsage(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		late := rec("late", meterA, "2.5", "2024-03-05T10:00:00Z", "2024-03-05T11:00:00Z")
		late.ReportedTime = "2024-03-09T15:00:00Z"
		onTime := rec("on-time", meterA, "1", "2024-03-05T10:00:00Z", "2024-03-05T11:00:00Z")
		onTime.ReportedTime = "2024-03-05T11:05:00Z"
		wantResult(t, e.ingest(true, late, onTime), 2, 0)

		rows := e.all(yesterday)
		if len(rows) != 1 {
			t.Fatalf("rows = %v", render(rows))
		}
		if r := rows[0]; !r.UsageStart.Equal(mustTime("2024-03-05T00:00:00Z")) || !r.UsageEnd.Equal(mustTime("2024-03-06T00:00:00Z")) ||
			r.Quantity.String() != "2.5" {
			t.Fatalf("late usage row = %s", render(rows))
		}
		hourly := e.all(query(usage.Hourly, "2024-03-09T15:00:00Z", "2024-03-09T16:00:00Z", true))
		if len(hourly) != 1 || !hourly[0].UsageStart.Equal(mustTime("2024-03-05T10:00:00Z")) {
			t.Fatalf("hourly late usage rows = %v", render(hourly))
		}
		usageDay := e.all(query(usage.Daily, "2024-03-05T00:00:00Z", "2024-03-06T00:00:00Z", true))
		if len(usageDay) != 1 || usageDay[0].Quantity.String() != "1" {
			t.Fatalf("usage-day window rows = %v, want only the on-time record", render(usageDay))
		}
	})
}

// TestReportedWindowBounds: the reported window is [start, end).
func TestReportedWindowBounds(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		at := func(id, q, reported string) usage.RecordInput {
			r := rec(id, meterA, q, "01:00:00", "02:00:00")
			r.ReportedTime = reported
			return r
		}
		wantResult(t, e.ingest(true,
			at("first", "1", "2024-03-09T10:00:00Z"),
			at("last", "2", "2024-03-09T10:59:59.999999Z"),
			at("next", "4", "2024-03-09T11:00:00Z"),
			at("before", "8", "2024-03-09T09:59:59.999999Z"),
		), 4, 0)
		if got := total(e.all(query(usage.Hourly, "2024-03-09T10:00:00Z", "2024-03-09T11:00:00Z", true))); got != "3" {
			t.Fatalf("[10:00, 11:00) total = %s, want 3", got)
		}
		if got := total(e.all(query(usage.Hourly, "2024-03-09T09:00:00Z", "2024-03-09T12:00:00Z", true))); got != "15" {
			t.Fatalf("[09:00, 12:00) total = %s, want 15", got)
		}
	})
}

// TestEndedWindowStable: a window that has ended (and settled) returns the
// same rows after more ingestion, which gets later reported times.
func TestEndedWindowStable(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		mk := func(id, q string) usage.RecordInput {
			r := rec(id, meterA, q, "2024-03-10T10:00:00Z", "2024-03-10T11:00:00Z")
			r.ReportedTime = ""
			r.ResourceURI = "/vm/1"
			return r
		}
		e.clock.Set(start.Add(10 * time.Minute)) // 12:10
		wantResult(t, e.ingest(false, mk("w1", "1"), mk("w2", "2")), 2, 0)
		e.clock.Set(start.Add(time.Hour + settle)) // 13:00:30
		window := query(usage.Hourly, "2024-03-10T12:00:00Z", "2024-03-10T13:00:00Z", true)
		daily := query(usage.Daily, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z", true)
		first := render(e.all(window))
		if len(first) != 1 || total(e.all(window)) != "3" {
			t.Fatalf("window rows = %v", first)
		}
		firstDaily := render(e.all(daily))

		// More usage for the same buckets, new records and replays, from
		// ingest and operator callers, at later instants.
		wantResult(t, e.ingest(false, mk("w3", "4"), mk("w1", "1")), 1, 1)
		e.clock.Advance(20 * time.Minute)
		wantResult(t, e.ingest(true, mk("w4", "8"), mk("w2", "2")), 1, 1)
		e.clock.Set(start.Add(3 * time.Hour))

		if again := render(e.all(window)); !reflect.DeepEqual(again, first) {
			t.Fatalf("ended window changed:\n%v\nwas\n%v", again, first)
		}
		if again := render(e.all(daily)); !reflect.DeepEqual(again, firstDaily) {
			t.Fatalf("ended daily window changed")
		}
		// The new records are in the window of their reported time.
		if got := total(e.all(query(usage.Hourly, "2024-03-10T13:00:00Z", "2024-03-10T14:00:00Z", true))); got != "12" {
			t.Fatalf("later window total = %s, want 12", got)
		}
	})
}

// TestSubscriptionsSeparate: a query sees only its own subscription.
func TestSubscriptionsSeparate(t *testing.T) {
	t.Parallel()
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		e := newEnv(t, b)
		e.subscription(sub2)
		r1 := rec("s1", meterA, "1", "01:00:00", "02:00:00")
		r1.ResourceURI = "/vm/1"
		r2 := rec("s2", meterA, "2", "01:00:00", "02:00:00")
		r2.SubscriptionID = sub2
		r2.ResourceURI = "/vm/1"
		wantResult(t, e.ingest(true, r1, r2), 2, 0)
		if got := total(e.all(yesterday)); got != "1" {
			t.Fatalf("sub1 total = %s, want 1", got)
		}
		q := yesterday
		q.SubscriptionID = sub2
		if got := total(e.all(q)); got != "2" {
			t.Fatalf("sub2 total = %s, want 2", got)
		}
		// Record ids are global: sub2 cannot reuse sub1's id for other content.
		r3 := r2
		r3.ID = "s1"
		wantResult(t, e.ingest(true, r3), 0, 0, "0:Conflict")
	})
}

// TestIngestAfterClose: a closed service refuses new work with a
// retryable error instead of hanging. (The timeout only detects a hang.)
func TestIngestAfterClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t, reckontest.SQLite)
	e.svc.Close()
	for i := 0; i < 20; i++ {
		done := make(chan error, 1)
		go func() {
			_, err := e.ingestErr(true, rec(fmt.Sprintf("late-%d", i), meterA, "1", "01:00:00", "02:00:00"))
			done <- err
		}()
		select {
		case err := <-done:
			if be := billing.AsError(err); be == nil || be.Kind != billing.KindUnavailable || be.RetryAfter <= 0 {
				t.Fatalf("Ingest after Close: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("Ingest after Close hangs (attempt %d)", i+1)
		}
	}
}
