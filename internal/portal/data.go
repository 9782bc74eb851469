package portal

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/money"
)

const day = 24 * time.Hour

// Grouping values of the usage explorer (the cost report's, with the tag
// key apart).
const (
	groupMeterCategory = "meterCategory"
	groupMeter         = "meter"
	groupResourceGroup = "resourceGroup"
	groupResource      = "resource"
	groupTag           = "tag"
	// untaggedGroup and noneGroup are the cost report's groups of rows
	// without the value grouped by.
	untaggedGroup = "untagged"
	noneGroup     = "(none)"
)

// groupKey returns a row's group and display name, exactly as the cost
// report API groups (internal/httpapi/costreport.go), so that the portal's
// numbers equal the API's.
func groupKey(by, tagKey string) func(r *charges.CostRow) (string, string) {
	orNone := func(s string) string {
		if s == "" {
			return noneGroup
		}
		return s
	}
	switch by {
	case groupMeter:
		return func(r *charges.CostRow) (string, string) {
			if r.MeterID == "" {
				return noneGroup, r.Kind
			}
			return r.MeterID, r.MeterName
		}
	case groupResourceGroup:
		return func(r *charges.CostRow) (string, string) { return orNone(strings.ToLower(r.ResourceGroup)), "" }
	case groupResource:
		return func(r *charges.CostRow) (string, string) { return orNone(r.ResourceURI), "" }
	case groupTag:
		return func(r *charges.CostRow) (string, string) {
			if v, ok := r.Tags[tagKey]; ok {
				return v, ""
			}
			for k, v := range r.Tags {
				if strings.EqualFold(k, tagKey) {
					return v, ""
				}
			}
			return untaggedGroup, ""
		}
	}
	return func(r *charges.CostRow) (string, string) { return orNone(r.MeterCategory), "" }
}

// categoryOf is the chart series of a row: its meter category, or its
// kind for offer-term rows (recurring charge, credit) without a meter.
func categoryOf(r *charges.CostRow) string {
	if r.MeterCategory != "" {
		return r.MeterCategory
	}
	if r.Kind != "" {
		return r.Kind
	}
	return noneGroup
}

// group is one group of a breakdown.
type group struct {
	Key, Name string
	Cost      money.Decimal
	Quantity  map[string]money.Decimal // by unit
	Units     []string
	Rows      int
}

// breakdown groups rows (largest cost first, then key) and returns their
// total.
func breakdown(rows []charges.CostRow, key func(*charges.CostRow) (string, string)) ([]*group, money.Decimal) {
	m := map[string]*group{}
	var out []*group
	var total money.Decimal
	for i := range rows {
		r := &rows[i]
		k, name := key(r)
		g := m[k]
		if g == nil {
			g = &group{Key: k, Name: name, Quantity: map[string]money.Decimal{}}
			m[k] = g
			out = append(out, g)
		}
		g.Cost = g.Cost.Add(r.Cost)
		g.Rows++
		total = total.Add(r.Cost)
		if r.Unit != "" {
			if _, ok := g.Quantity[r.Unit]; !ok {
				g.Units = append(g.Units, r.Unit)
			}
			g.Quantity[r.Unit] = g.Quantity[r.Unit].Add(r.Quantity)
		}
	}
	slices.SortFunc(out, func(x, y *group) int {
		if c := y.Cost.Cmp(x.Cost); c != 0 {
			return c
		}
		return strings.Compare(x.Key, y.Key)
	})
	for _, g := range out {
		slices.Sort(g.Units)
	}
	return out, total
}

// rowCache keeps the cost rows of billing periods. A closed period's rows
// are rated with the usage reported before the close and never change,
// unless the catalog does (the key holds the catalog version). An open
// period's rows are reused for openTTL at most, and not after this node
// ingested anything.
type rowCache struct {
	mu sync.Mutex
	m  map[rowKey]rowEntry
}

type rowEntry struct {
	rows []charges.CostRow
	at   time.Time // when they were rated (open periods)
}

type rowKey struct {
	sub, period string
	closed      time.Time
	catalog     int64
	// commits is this node's ingest count (open periods): an ingest here
	// drops the open period's rows at once; one on another node is seen
	// within openTTL.
	commits uint64
}

// openTTL is how long an open period's rows are reused.
const openTTL = time.Minute

// maxCachedPeriods bounds the cache.
const maxCachedPeriods = 512

func (c *rowCache) get(k rowKey) (rowEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[k]
	return r, ok
}

func (c *rowCache) put(k rowKey, e rowEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedPeriods {
		c.m = map[rowKey]rowEntry{}
	}
	c.m[k] = e
}

// costRows returns the daily cost rows of a subscription whose day is in
// [from, to), rated per billing period as its invoices are: the same rows
// as invoicing.Service.CostRows (which the cost report API uses), cached
// per period (see rowCache).
func (p *Portal) costRows(ctx context.Context, sub string, from, to time.Time) ([]charges.CostRow, []invoicing.Period, error) {
	periods, err := p.deps.Invoicing.Periods(ctx, sub)
	if err != nil {
		return nil, nil, err
	}
	version, err := p.deps.Catalog.CatalogVersion(ctx)
	if err != nil {
		return nil, nil, err
	}
	var out []charges.CostRow
	for i := len(periods) - 1; i >= 0; i-- { // oldest first
		pd := periods[i]
		if !pd.Start.Before(to) || !pd.End.After(from) {
			continue
		}
		k := rowKey{sub: sub, period: pd.Name, catalog: version}
		if pd.ClosedAt != nil {
			k.closed = *pd.ClosedAt
		} else {
			k.commits = p.deps.Usage.Commits()
		}
		now := p.now()
		e, ok := p.rows.get(k)
		if !ok || pd.ClosedAt == nil && (now.Before(e.at) || !now.Before(e.at.Add(openTTL))) {
			rows, err := p.deps.Invoicing.CostRows(ctx, sub, pd.Start, pd.End, charges.Daily)
			if err != nil {
				return nil, nil, err
			}
			e = rowEntry{rows: rows, at: now}
			p.rows.put(k, e)
		}
		rows := e.rows
		for j := range rows {
			if st := rows[j].ChargePeriodStart; !st.Before(from) && st.Before(to) {
				out = append(out, rows[j])
			}
		}
	}
	return out, periods, nil
}

// today is the UTC day of now.
func (p *Portal) today() time.Time { return p.now().Truncate(day) }
