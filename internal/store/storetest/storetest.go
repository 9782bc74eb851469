// Package storetest is the conformance suite of Reckon's stores: the same
// tests, run against every SQL dialect, check that each implements the
// repositories with the same behaviour. It is used only from tests.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// Run runs the conformance suite. open must return a fresh, empty, migrated
// store for each call; the suite calls it once per subtest, from subtests
// that run in parallel.
func Run(t *testing.T, open func(t *testing.T) *store.DB) {
	tests := []struct {
		name string
		fn   func(t *testing.T, db *store.DB)
	}{
		{"Subscriptions", testSubscriptions},
		{"Keys", testKeys},
		{"InstanceKeys", testInstanceKeys},
		{"InsertKeys", testInsertKeys},
		{"Segments", testSegments},
		{"Rollback", testRollback},
		{"Concurrent", testConcurrent},
		{"Secret", testSecret},
		{"CatalogEmpty", testCatalogEmpty},
		{"CatalogRoundTrip", testCatalogRoundTrip},
		{"CatalogReplace", testCatalogReplace},
		{"CatalogRollback", testCatalogRollback},
		{"CatalogRateCard", testCatalogRateCard},
		{"CatalogRateVersions", testCatalogRateVersions},
		{"CatalogLarge", testCatalogLarge},
		{"CatalogConcurrent", testCatalogConcurrent},
		{"Auth", testAuth},
		{"Invoicing", testInvoicing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := open(t)
			if err := db.Ping(context.Background()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			tt.fn(t, db)
		})
	}
}

var ctx = context.Background()

func clockAt(s string) billing.Clock {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return t }
}

func guid(prefix byte, n int) string {
	return fmt.Sprintf("%c%07x-0000-4000-8000-%012x", prefix, n, n)
}

func subscription(id, name string) account.Subscription {
	return account.Subscription{
		SubscriptionID: id, DisplayName: name, BillingAccount: "acct-1", State: "Enabled",
		OfferDurableID: account.DefaultOffer, Currency: account.DefaultCurrency, Locale: account.DefaultLocale,
		RegionInfo: account.DefaultRegion, BillingDay: 1,
	}
}

func meter(id, name string) catalog.Meter {
	return catalog.Meter{
		MeterID: id, MeterName: name, MeterCategory: "Virtual Machines", MeterSubCategory: "D2 v3",
		MeterRegion: "US West", Unit: "1 Hour", MeterStatus: catalog.MeterActive,
	}
}

func sameTime(a, b time.Time) bool {
	return a.Equal(b) && a.Location() == time.UTC && b.Location() == time.UTC
}

func testSubscriptions(t *testing.T, db *store.DB) {
	if list, err := db.Subscriptions(ctx); err != nil || list == nil || len(list) != 0 {
		t.Fatalf("Subscriptions of an empty store = %v, %v; want an empty, non-nil list", list, err)
	}
	id := guid('a', 1)
	t1 := "2024-01-02T03:04:05.123456789Z"
	want := subscription(id, "Zählung ✓ \"quoted\"")
	stored, created, err := db.PutSubscription(ctx, want, clockAt(t1))
	if err != nil || !created {
		t.Fatalf("PutSubscription (create) = created %v, %v", created, err)
	}
	at1 := clockAt(t1)().Truncate(time.Microsecond)
	if !sameTime(stored.CreatedAt, at1) || !sameTime(stored.UpdatedAt, at1) {
		t.Fatalf("created/updated = %v/%v, want %v (UTC, microseconds)", stored.CreatedAt, stored.UpdatedAt, at1)
	}
	want.CreatedAt, want.UpdatedAt = at1, at1
	checkSubscription(t, db, want)

	// Replace: the fields change, createdAt stays, updatedAt moves.
	repl := subscription(id, "Renamed")
	repl.BillingAccount, repl.State, repl.OfferDurableID = "acct-2", "Disabled", "MS-AZR-0017P"
	repl.Currency, repl.Locale, repl.RegionInfo, repl.BillingDay = "EUR", "de-DE", "DE", 28
	repl.CreatedAt = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) // ignored
	t2 := "2024-02-03T04:05:06.654321Z"
	stored, created, err = db.PutSubscription(ctx, repl, clockAt(t2))
	if err != nil || created {
		t.Fatalf("PutSubscription (replace) = created %v, %v", created, err)
	}
	at2 := clockAt(t2)()
	if !sameTime(stored.CreatedAt, at1) || !sameTime(stored.UpdatedAt, at2) {
		t.Fatalf("after replace created/updated = %v/%v, want %v/%v", stored.CreatedAt, stored.UpdatedAt, at1, at2)
	}
	repl.CreatedAt, repl.UpdatedAt = at1, at2
	checkSubscription(t, db, repl)

	_, err = db.Subscription(ctx, guid('a', 2))
	if be := billing.AsError(err); be == nil || be.Kind != billing.KindNotFound || be.Code != "SubscriptionNotFound" {
		t.Fatalf("Subscription of a missing id: %v, want KindNotFound SubscriptionNotFound", err)
	}

	// Listing is in id order, whatever the order of creation.
	for _, n := range []int{9, 3, 0x10, 5} {
		if _, _, err := db.PutSubscription(ctx, subscription(guid('a', n), fmt.Sprint("sub ", n)), clockAt(t1)); err != nil {
			t.Fatal(err)
		}
	}
	list, err := db.Subscriptions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.SubscriptionID)
		if s.SubscriptionID == id && s.DisplayName != "Renamed" {
			t.Errorf("listed subscription %+v is not the stored one", s)
		}
	}
	wantIDs := []string{id, guid('a', 3), guid('a', 5), guid('a', 9), guid('a', 0x10)}
	sort.Strings(wantIDs)
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Fatalf("Subscriptions ids = %v, want %v", ids, wantIDs)
	}
}

func checkSubscription(t *testing.T, db *store.DB, want account.Subscription) {
	t.Helper()
	got, err := db.Subscription(ctx, want.SubscriptionID)
	if err != nil {
		t.Fatalf("Subscription(%s): %v", want.SubscriptionID, err)
	}
	if !sameTime(got.CreatedAt, want.CreatedAt) || !sameTime(got.UpdatedAt, want.UpdatedAt) {
		t.Fatalf("Subscription times = %v/%v, want %v/%v", got.CreatedAt, got.UpdatedAt, want.CreatedAt, want.UpdatedAt)
	}
	got.CreatedAt, got.UpdatedAt = want.CreatedAt, want.UpdatedAt
	if got != want {
		t.Fatalf("Subscription = %+v\nwant %+v", got, want)
	}
}

// putMeter creates or replaces a meter through a catalog transaction.
func putMeter(t *testing.T, db *store.DB, m catalog.Meter, at string) {
	t.Helper()
	now := clockAt(at)()
	m.CreatedAt, m.UpdatedAt = now, now
	if _, err := db.UpdateCatalog(ctx, func(tx catalog.CatalogTx) error { return tx.PutMeters(ctx, []catalog.Meter{m}) }); err != nil {
		t.Fatal(err)
	}
}

// setup creates n subscriptions and n meters and returns their keys.
func setup(t *testing.T, db *store.DB, n int) (subs, meters []int64) {
	t.Helper()
	var sids, mids []string
	for i := 1; i <= n; i++ {
		sids = append(sids, guid('c', i))
		mids = append(mids, guid('d', i))
		if _, _, err := db.PutSubscription(ctx, subscription(sids[i-1], "s"), clockAt("2024-01-01T00:00:00Z")); err != nil {
			t.Fatal(err)
		}
		putMeter(t, db, meter(mids[i-1], "m"), "2024-01-01T00:00:00Z")
	}
	sk, err := db.SubscriptionKeys(ctx, sids)
	if err != nil {
		t.Fatal(err)
	}
	mk, err := db.MeterKeys(ctx, mids)
	if err != nil {
		t.Fatal(err)
	}
	for i := range sids {
		subs = append(subs, sk[sids[i]])
		meters = append(meters, mk[mids[i]])
	}
	return subs, meters
}

func testKeys(t *testing.T, db *store.DB) {
	subs, meters := setup(t, db, 3)
	for i, k := range append(append([]int64{}, subs...), meters...) {
		if k == 0 {
			t.Fatalf("key %d is zero", i)
		}
	}
	if subs[0] == subs[1] || subs[1] == subs[2] || subs[0] == subs[2] || meters[0] == meters[1] || meters[1] == meters[2] {
		t.Fatalf("keys not distinct: %v %v", subs, meters)
	}

	// Unknown ids are absent; empty input gives an empty map.
	got, err := db.SubscriptionKeys(ctx, []string{guid('c', 2), guid('c', 99)})
	if err != nil || len(got) != 1 || got[guid('c', 2)] != subs[1] {
		t.Fatalf("SubscriptionKeys = %v, %v", got, err)
	}
	if got, err := db.SubscriptionKeys(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("SubscriptionKeys(nil) = %v, %v", got, err)
	}
	if got, err := db.MeterKeys(ctx, []string{guid('c', 1)}); err != nil || len(got) != 0 {
		t.Fatalf("MeterKeys of a subscription id = %v, %v", got, err)
	}
	if got, err := db.MeterKeys(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("MeterKeys(nil) = %v, %v", got, err)
	}

	// More ids than fit one IN list.
	var many []string
	for i := 100; i < 1300; i++ {
		many = append(many, guid('c', i), guid('d', i))
	}
	many = append(many, guid('c', 3), guid('d', 3))
	got, err = db.SubscriptionKeys(ctx, many)
	if err != nil || len(got) != 1 || got[guid('c', 3)] != subs[2] {
		t.Fatalf("SubscriptionKeys of %d ids = %v, %v", len(many), got, err)
	}
	got, err = db.MeterKeys(ctx, many)
	if err != nil || len(got) != 1 || got[guid('d', 3)] != meters[2] {
		t.Fatalf("MeterKeys of %d ids = %v, %v", len(many), got, err)
	}

	// Replacing a subscription or meter keeps its key.
	if _, _, err := db.PutSubscription(ctx, subscription(guid('c', 1), "renamed"), clockAt("2024-06-01T00:00:00Z")); err != nil {
		t.Fatal(err)
	}
	putMeter(t, db, meter(guid('d', 1), "renamed"), "2024-06-01T00:00:00Z")
	if got, _ := db.SubscriptionKeys(ctx, []string{guid('c', 1)}); got[guid('c', 1)] != subs[0] {
		t.Fatalf("subscription key changed on replace: %v, was %d", got, subs[0])
	}
	if got, _ := db.MeterKeys(ctx, []string{guid('d', 1)}); got[guid('d', 1)] != meters[0] {
		t.Fatalf("meter key changed on replace: %v, was %d", got, meters[0])
	}

	// MetersByKey returns the meters themselves.
	byKey, err := db.MetersByKey(ctx, []int64{meters[0], meters[2], meters[2] + 1000})
	if err != nil || len(byKey) != 2 {
		t.Fatalf("MetersByKey = %v, %v", byKey, err)
	}
	if m := byKey[meters[0]]; m.MeterID != guid('d', 1) || m.MeterName != "renamed" || m.Unit != "1 Hour" {
		t.Fatalf("MetersByKey[%d] = %+v", meters[0], m)
	}
	if m := byKey[meters[2]]; m.MeterID != guid('d', 3) {
		t.Fatalf("MetersByKey[%d] = %+v", meters[2], m)
	}
	if got, err := db.MetersByKey(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("MetersByKey(nil) = %v, %v", got, err)
	}
}

func hash(s string) [16]byte {
	h := sha256.Sum256([]byte(s))
	var k [16]byte
	copy(k[:], h[:])
	return k
}

func inst(sub int64, name string) usage.NewInstance {
	return usage.NewInstance{SubscriptionKey: sub, Hash: hash(name), Data: `{"Microsoft.Resources":{"resourceUri":"` + name + `"}}`}
}

func instanceKeys(t *testing.T, db *store.DB, insts ...usage.NewInstance) []int64 {
	t.Helper()
	var keys []int64
	err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		var err error
		keys, err = tx.InstanceKeys(ctx, insts)
		return err
	})
	if err != nil {
		t.Fatalf("InstanceKeys: %v", err)
	}
	if len(keys) != len(insts) {
		t.Fatalf("InstanceKeys returned %d keys for %d instances", len(keys), len(insts))
	}
	return keys
}

func testInstanceKeys(t *testing.T, db *store.DB) {
	subs, _ := setup(t, db, 2)
	a, b := inst(subs[0], "/vm/a"), inst(subs[0], "/vm/b")
	a2 := inst(subs[1], "/vm/a") // the same hash in another subscription
	first := instanceKeys(t, db, a, b, a2)
	seen := map[int64]bool{}
	for _, k := range first {
		if k == 0 || seen[k] {
			t.Fatalf("instance keys %v are not distinct and non-zero", first)
		}
		seen[k] = true
	}
	// Get-or-create: existing instances keep their keys, in any order.
	c := inst(subs[1], "/vm/c")
	second := instanceKeys(t, db, b, c, a2, a)
	if second[0] != first[1] || second[2] != first[2] || second[3] != first[0] {
		t.Fatalf("existing instances got new keys: first %v, then %v", first, second)
	}
	if seen[second[1]] || second[1] == 0 {
		t.Fatalf("new instance got key %d, already used or zero", second[1])
	}
	if again := instanceKeys(t, db, c); again[0] != second[1] {
		t.Fatalf("instance key changed: %d then %d", second[1], again[0])
	}

	got, err := db.Instances(ctx, []int64{first[0], first[1], first[2], second[1], second[1] + 1000})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{first[0]: a.Data, first[1]: b.Data, first[2]: a2.Data, second[1]: c.Data}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Instances = %v, want %v", got, want)
	}
	if got, err := db.Instances(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("Instances(nil) = %v, %v", got, err)
	}
	// Many keys at once (more than one IN list).
	var many []usage.NewInstance
	for i := 0; i < 1100; i++ {
		many = append(many, inst(subs[0], fmt.Sprint("/vm/many/", i)))
	}
	mk := instanceKeys(t, db, many...)
	data, err := db.Instances(ctx, mk)
	if err != nil || len(data) != len(many) {
		t.Fatalf("Instances of %d keys: %d, %v", len(mk), len(data), err)
	}
	for i, k := range mk {
		if data[k] != many[i].Data {
			t.Fatalf("instance %d: key %d has data %q", i, k, data[k])
		}
	}
}

func key(n int) [16]byte { return hash(fmt.Sprint("record-", n)) }

func row(n int, fp int64, sub int64) usage.KeyRow {
	return usage.KeyRow{Key: key(n), Fingerprint: fp, SubscriptionKey: sub}
}

func sortRows(rows []usage.KeyRow) []usage.KeyRow {
	sort.Slice(rows, func(i, j int) bool { return bytes.Compare(rows[i].Key[:], rows[j].Key[:]) < 0 })
	return rows
}

func insertKeys(t *testing.T, db *store.DB, rows ...usage.KeyRow) map[[16]byte]int64 {
	t.Helper()
	var existing map[[16]byte]int64
	err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		var err error
		existing, err = tx.InsertKeys(ctx, sortRows(rows))
		return err
	})
	if err != nil {
		t.Fatalf("InsertKeys: %v", err)
	}
	if existing == nil {
		t.Fatalf("InsertKeys returned a nil map")
	}
	return existing
}

func testInsertKeys(t *testing.T, db *store.DB) {
	subs, _ := setup(t, db, 2)
	if got := insertKeys(t, db); len(got) != 0 {
		t.Fatalf("InsertKeys() = %v", got)
	}
	if got := insertKeys(t, db, row(1, 11, subs[0]), row(2, math.MinInt64, subs[0]), row(3, math.MaxInt64, subs[1])); len(got) != 0 {
		t.Fatalf("new keys reported as existing: %v", got)
	}
	// Only keys that existed before come back, with their stored fingerprints.
	got := insertKeys(t, db, row(1, 99, subs[0]), row(2, 22, subs[0]), row(3, math.MaxInt64, subs[1]), row(4, -4, subs[1]))
	want := map[[16]byte]int64{key(1): 11, key(2): math.MinInt64, key(3): math.MaxInt64}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("existing = %v, want %v", got, want)
	}
	// Key 4 is now stored with fingerprint -4; the failed reuse of key 1 did
	// not overwrite its fingerprint.
	got = insertKeys(t, db, row(4, 0, subs[0]), row(1, 0, subs[0]))
	if want := map[[16]byte]int64{key(4): -4, key(1): 11}; !reflect.DeepEqual(got, want) {
		t.Fatalf("existing = %v, want %v", got, want)
	}

	// Twice in one transaction: the second call sees the first's keys.
	var first, second map[[16]byte]int64
	err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		var err error
		if first, err = tx.InsertKeys(ctx, sortRows([]usage.KeyRow{row(5, 5, subs[0])})); err != nil {
			return err
		}
		second, err = tx.InsertKeys(ctx, sortRows([]usage.KeyRow{row(5, 55, subs[0]), row(6, 6, subs[0])}))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 0 || !reflect.DeepEqual(second, map[[16]byte]int64{key(5): 5}) {
		t.Fatalf("within one transaction: first %v, second %v", first, second)
	}

	// Many keys at once.
	var many []usage.KeyRow
	for i := 100; i < 2100; i++ {
		many = append(many, row(i, int64(i), subs[i%2]))
	}
	if got := insertKeys(t, db, many...); len(got) != 0 {
		t.Fatalf("%d new keys: %d reported existing", len(many), len(got))
	}
	many = append(many, row(6, 0, subs[0]))
	got = insertKeys(t, db, many...)
	if len(got) != len(many) || got[key(6)] != 6 || got[key(1999)] != 1999 {
		t.Fatalf("%d existing keys: got %d", len(many), len(got))
	}
}

func segment(sub, at int64, data string) usage.Segment {
	return usage.Segment{SubscriptionKey: sub, ReportedAt: at, Records: len(data), Data: []byte(data)}
}

type scanned struct {
	at   int64
	data string
}

func scan(t *testing.T, db *store.DB, sub, from, to int64) []scanned {
	t.Helper()
	var out []scanned
	err := db.ScanSegments(ctx, sub, from, to, func(at int64, data []byte) error {
		out = append(out, scanned{at, string(data)}) // data is only valid during the call
		return nil
	})
	if err != nil {
		t.Fatalf("ScanSegments: %v", err)
	}
	return out
}

func testSegments(t *testing.T, db *store.DB) {
	subs, _ := setup(t, db, 3)
	s1, s2 := subs[0], subs[1]
	binary := string([]byte{0, 1, 2, 0xff, 0, 'x'})
	big := string(bytes.Repeat([]byte{0xab, 0, 0xcd}, 40_000))
	err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		if err := tx.InsertSegments(ctx, nil); err != nil {
			return fmt.Errorf("no segments: %w", err)
		}
		return tx.InsertSegments(ctx, []usage.Segment{
			segment(s1, 300, "d"),
			segment(s1, 200, "b"),
			segment(s2, 200, "other"),
			segment(s1, 100, binary),
			segment(s1, 200, "c"),
			segment(s1, -50, "negative"),
			segment(s1, 1_710_000_000_000_000, big),
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	// A later transaction at an earlier reported time still comes in
	// reported order.
	if err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		return tx.InsertSegments(ctx, []usage.Segment{segment(s1, 150, "late")})
	}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		sub, from, to int64
		want          []scanned
	}{
		{s1, 100, 300, []scanned{{100, binary}, {150, "late"}, {200, "b"}, {200, "c"}}},
		{s1, 200, 201, []scanned{{200, "b"}, {200, "c"}}},
		{s1, 101, 200, []scanned{{150, "late"}}},
		{s1, 300, 301, []scanned{{300, "d"}}},
		{s1, 300, 300, nil},
		{s1, 301, 1_710_000_000_000_000, nil},
		{s1, -100, 0, []scanned{{-50, "negative"}}},
		{s1, math.MinInt64, math.MaxInt64, []scanned{{-50, "negative"}, {100, binary}, {150, "late"}, {200, "b"}, {200, "c"}, {300, "d"}, {1_710_000_000_000_000, big}}},
		{s2, 0, 1000, []scanned{{200, "other"}}},
		{subs[2], math.MinInt64, math.MaxInt64, nil},
		{s2 + 1000, math.MinInt64, math.MaxInt64, nil},
	}
	for _, tt := range tests {
		got := scan(t, db, tt.sub, tt.from, tt.to)
		if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
			t.Errorf("ScanSegments(sub %d, [%d, %d)) = %v, want %v", tt.sub, tt.from, tt.to, brief(got), brief(tt.want))
		}
	}

	// The callback's error stops the scan and comes back.
	stop := errors.New("stop")
	calls := 0
	err = db.ScanSegments(ctx, s1, math.MinInt64, math.MaxInt64, func(int64, []byte) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("ScanSegments with a failing callback = %v after %d calls", err, calls)
	}
}

func brief(s []scanned) string {
	out := "["
	for _, x := range s {
		d := x.data
		if len(d) > 12 {
			d = d[:12] + "…"
		}
		out += fmt.Sprintf(" %d:%q", x.at, d)
	}
	return out + " ]"
}

func testRollback(t *testing.T, db *store.DB) {
	subs, _ := setup(t, db, 1)
	s := subs[0]
	boom := errors.New("boom")
	var instKey int64
	err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		keys, err := tx.InstanceKeys(ctx, []usage.NewInstance{inst(s, "/vm/rolled-back")})
		if err != nil {
			return err
		}
		instKey = keys[0]
		if _, err := tx.InsertKeys(ctx, []usage.KeyRow{row(1, 1, s)}); err != nil {
			return err
		}
		if err := tx.InsertSegments(ctx, []usage.Segment{segment(s, 500, "x")}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Ingest returned %v, want the callback's error", err)
	}
	checkNothingWritten(t, db, s, instKey, 500, 1)

	// A statement that fails (a segment of a subscription that does not
	// exist) undoes the statements before it.
	err = db.Ingest(ctx, func(tx usage.IngestTx) error {
		keys, err := tx.InstanceKeys(ctx, []usage.NewInstance{inst(s, "/vm/rolled-back-2")})
		if err != nil {
			return err
		}
		instKey = keys[0]
		if _, err := tx.InsertKeys(ctx, []usage.KeyRow{row(2, 2, s)}); err != nil {
			return err
		}
		if err := tx.InsertSegments(ctx, []usage.Segment{segment(s, 600, "y")}); err != nil {
			return err
		}
		return tx.InsertSegments(ctx, []usage.Segment{segment(s+1000, 600, "z")})
	})
	if err == nil {
		t.Fatalf("a segment of a missing subscription was stored")
	}
	checkNothingWritten(t, db, s, instKey, 600, 2)

	// The store still works after the failures.
	if got := insertKeys(t, db, row(1, 1, s), row(2, 2, s)); len(got) != 0 {
		t.Fatalf("keys of rolled-back transactions exist: %v", got)
	}
}

func checkNothingWritten(t *testing.T, db *store.DB, sub, instKey, at int64, rec int) {
	t.Helper()
	if got := scan(t, db, sub, at, at+1); len(got) != 0 {
		t.Fatalf("segment of a rolled-back transaction is visible: %v", got)
	}
	if got, err := db.Instances(ctx, []int64{instKey}); err != nil || len(got) != 0 {
		t.Fatalf("instance of a rolled-back transaction is visible: %v, %v", got, err)
	}
	// Probe the key inside a transaction that is itself rolled back.
	probe := errors.New("probe")
	var existing map[[16]byte]int64
	err := db.Ingest(ctx, func(tx usage.IngestTx) error {
		var err error
		if existing, err = tx.InsertKeys(ctx, []usage.KeyRow{row(rec, 0, sub)}); err != nil {
			return err
		}
		return probe
	})
	if !errors.Is(err, probe) {
		t.Fatal(err)
	}
	if len(existing) != 0 {
		t.Fatalf("record key of a rolled-back transaction exists: %v", existing)
	}
}

// testConcurrent races transactions that write the same keys and
// instances: exactly one wins each key, and the others see its value.
func testConcurrent(t *testing.T, db *store.DB) {
	subs, _ := setup(t, db, 1)
	s := subs[0]
	const n = 6
	var wg sync.WaitGroup
	results := make([]map[[16]byte]int64, n)
	instKeys := make([]int64, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = db.Ingest(ctx, func(tx usage.IngestTx) error {
				keys, err := tx.InstanceKeys(ctx, []usage.NewInstance{inst(s, "/vm/shared")})
				if err != nil {
					return err
				}
				instKeys[i] = keys[0]
				results[i], err = tx.InsertKeys(ctx, []usage.KeyRow{row(7, int64(100+i), s)})
				if err != nil {
					return err
				}
				return tx.InsertSegments(ctx, []usage.Segment{segment(s, int64(1000+i), "s")})
			})
		}(i)
	}
	wg.Wait()
	winner := -1
	for i := 0; i < n; i++ {
		if errs[i] != nil {
			t.Fatalf("transaction %d: %v", i, errs[i])
		}
		if len(results[i]) == 0 {
			if winner >= 0 {
				t.Fatalf("transactions %d and %d both inserted the same key", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no transaction inserted the key: %v", results)
	}
	for i := 0; i < n; i++ {
		if i != winner && results[i][key(7)] != int64(100+winner) {
			t.Fatalf("transaction %d saw %v, want the winner's fingerprint %d", i, results[i], 100+winner)
		}
		if instKeys[i] != instKeys[0] || instKeys[i] == 0 {
			t.Fatalf("one instance got several keys: %v", instKeys)
		}
	}
	if got := scan(t, db, s, 1000, 1000+n); len(got) != n {
		t.Fatalf("%d segments stored, want %d", len(got), n)
	}
}

func testSecret(t *testing.T, db *store.DB) {
	a, err := db.Secret(ctx, "continuation-token")
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 32 || bytes.Equal(a, make([]byte, 32)) {
		t.Fatalf("secret = %x, want 32 random bytes", a)
	}
	again, err := db.Secret(ctx, "continuation-token")
	if err != nil || !bytes.Equal(a, again) {
		t.Fatalf("secret changed between calls: %x then %x (%v)", a, again, err)
	}
	other, err := db.Secret(ctx, "other")
	if err != nil || bytes.Equal(a, other) || len(other) != 32 {
		t.Fatalf("another secret = %x (%v), same as the first or not 32 bytes", other, err)
	}
	// Concurrent first use still yields one secret.
	var wg sync.WaitGroup
	got := make([][]byte, 4)
	for i := range got {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			got[i], _ = db.Secret(ctx, "raced")
		}(i)
	}
	wg.Wait()
	for i := range got {
		if len(got[i]) != 32 || !bytes.Equal(got[i], got[0]) {
			t.Fatalf("concurrent Secret calls disagree: %x", got)
		}
	}
}
