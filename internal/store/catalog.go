package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/money"
)

// The catalog's tables (migrations 00005 for SQLite, 00002 for PostgreSQL):
// offers with their currencies and regions, meters (with meter_tags) and
// their names in other locales, effective-dated meter rates and offer terms,
// and the catalog version, incremented by every write transaction.

// querier is what both *sql.DB and *sql.Tx offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// UpdateCatalog implements catalog.Repository.
func (db *DB) UpdateCatalog(ctx context.Context, fn func(tx catalog.CatalogTx) error) (int64, error) {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: catalog: %w", err)
	}
	defer tx.Rollback()
	// Catalog writers queue on the version row (PostgreSQL; an SQLite write
	// transaction is exclusive already), so that what one reads is not
	// changed by another before it commits.
	lock := `SELECT version FROM catalog_version WHERE id = 1`
	if db.dialect == Postgres {
		lock += ` FOR UPDATE`
	}
	var version int64
	if err := tx.QueryRowContext(ctx, lock).Scan(&version); err != nil {
		return 0, fmt.Errorf("store: catalog: %w", err)
	}
	ctl := &catalogTx{db: db, q: tx}
	if err := fn(ctl); err != nil {
		return 0, err
	}
	if ctl.dirty {
		if err := tx.QueryRowContext(ctx, `UPDATE catalog_version SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&version); err != nil {
			return 0, fmt.Errorf("store: catalog version: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: catalog: commit: %w", err)
	}
	return version, nil
}

// CatalogVersion implements catalog.Repository.
func (db *DB) CatalogVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.read.QueryRowContext(ctx, `SELECT version FROM catalog_version WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: catalog version: %w", err)
	}
	return v, nil
}

// catalogTx implements catalog.CatalogTx over one transaction.
type catalogTx struct {
	db    *DB
	q     querier
	dirty bool
}

var _ catalog.CatalogTx = (*catalogTx)(nil)

// Encodings of the TEXT columns. Decimals are plain decimal strings; a list
// of (min, value) pairs is "min:value|min:value"; tags are one per line.

func encodeTags(tags []string) string { return strings.Join(tags, "\n") }

func decodeTags(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

func encodePairs[T any](items []T, pair func(T) (money.Decimal, money.Decimal)) string {
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteByte('|')
		}
		lo, v := pair(it)
		b.WriteString(lo.String())
		b.WriteByte(':')
		b.WriteString(v.String())
	}
	return b.String()
}

func decodePairs(s string, fn func(lo, v money.Decimal)) error {
	if s == "" {
		return nil
	}
	for part := range strings.SplitSeq(s, "|") {
		i := strings.IndexByte(part, ':')
		if i < 0 {
			return fmt.Errorf("malformed pair %q", part)
		}
		lo, err := money.ParseDecimal(part[:i])
		if err != nil {
			return err
		}
		v, err := money.ParseDecimal(part[i+1:])
		if err != nil {
			return err
		}
		fn(lo, v)
	}
	return nil
}

func encodeTiers(ts []catalog.Tier) string {
	return encodePairs(ts, func(t catalog.Tier) (money.Decimal, money.Decimal) { return t.Min, t.Price })
}

func decodeTiers(s string) ([]catalog.Tier, error) {
	out := make([]catalog.Tier, 0, strings.Count(s, "|")+1)
	err := decodePairs(s, func(lo, v money.Decimal) { out = append(out, catalog.Tier{Min: lo, Price: v}) })
	return out, err
}

func parseDecimal(s string) (money.Decimal, error) {
	if s == "" {
		return money.Zero, nil
	}
	return money.ParseDecimal(s)
}

// preparer is what both *sql.DB and *sql.Tx offer to prepare statements.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// insertRows writes rows with multi-row INSERT statements: head is
// "INSERT INTO t (c1, …, cN) VALUES", tail the ON CONFLICT clause, and
// args(i) the N values of row i. The statement of a full chunk is
// prepared once.
func (db *DB) insertRows(ctx context.Context, q querier, head, tail string, cols, n int, args func(i int) []any) error {
	per := max(1, 3000/cols)
	row := "(" + placeholders(cols) + ")"
	text := func(rows int) string {
		var b strings.Builder
		b.WriteString(head)
		for i := range rows {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(row)
		}
		b.WriteString(" ")
		b.WriteString(tail)
		return db.rebind(b.String())
	}
	var full *sql.Stmt
	if p, ok := q.(preparer); ok && n >= 2*per {
		var err error
		if full, err = p.PrepareContext(ctx, text(per)); err != nil {
			return err
		}
		defer full.Close()
	}
	vals := make([]any, 0, min(n, per)*cols)
	for lo := 0; lo < n; lo += per {
		hi := min(n, lo+per)
		vals = vals[:0]
		for i := lo; i < hi; i++ {
			vals = append(vals, args(i)...)
		}
		var err error
		if full != nil && hi-lo == per {
			_, err = full.ExecContext(ctx, vals...)
		} else {
			_, err = q.ExecContext(ctx, text(hi-lo), vals...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// queryIn runs queryIn (with one "%s" for an IN list of ids, after the
// arguments pre) over ids in chunks. With ids nil, or so many ids that one
// query of all rows is cheaper than many chunks, it runs queryAll (the
// query without the IN condition) instead: scan must then filter.
func (db *DB) queryIn(ctx context.Context, q querier, queryIn, queryAll string, pre []any, ids []string, scan func(*sql.Rows) error) error {
	run := func(query string, args []any) error {
		rows, err := q.QueryContext(ctx, db.rebind(query), args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	if ids == nil || len(ids) > 4*inChunk {
		return run(queryAll, pre)
	}
	for lo := 0; lo < len(ids); lo += inChunk {
		hi := min(len(ids), lo+inChunk)
		args := slices.Grow(slices.Clone(pre), hi-lo)
		for _, id := range ids[lo:hi] {
			args = append(args, id)
		}
		if err := run(fmt.Sprintf(queryIn, placeholders(hi-lo)), args); err != nil {
			return err
		}
	}
	return nil
}

// idSet is the set of ids (nil for nil: no filter).
func idSet(ids []string) map[string]bool {
	if ids == nil {
		return nil
	}
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// Offers.

func loadOffers(ctx context.Context, db *DB, q querier, id string) ([]catalog.Offer, error) {
	where, args := "", []any{}
	if id != "" {
		where, args = " WHERE offer_id = ?", []any{id}
	}
	rows, err := q.QueryContext(ctx, db.rebind(`SELECT offer_id, name, created_us, updated_us FROM offers`+where+` ORDER BY offer_id`), args...)
	if err != nil {
		return nil, err
	}
	var out []catalog.Offer
	index := map[string]int{}
	for rows.Next() {
		var o catalog.Offer
		var created, updated int64
		if err := rows.Scan(&o.DurableID, &o.Name, &created, &updated); err != nil {
			rows.Close()
			return nil, err
		}
		o.CreatedAt, o.UpdatedAt = fromMicros(created), fromMicros(updated)
		o.Currencies, o.Regions = []catalog.OfferCurrency{}, []string{}
		index[o.DurableID] = len(out)
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	rows, err = q.QueryContext(ctx, db.rebind(`SELECT offer_id, currency, base_currency, exchange_rate, rounding_decimals FROM offer_currencies`+where+` ORDER BY offer_id, currency`), args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var oid, rate string
		var c catalog.OfferCurrency
		if err := rows.Scan(&oid, &c.Currency, &c.BaseCurrency, &rate, &c.RoundingDecimals); err != nil {
			rows.Close()
			return nil, err
		}
		if c.ExchangeRate, err = parseDecimal(rate); err != nil {
			rows.Close()
			return nil, err
		}
		if i, ok := index[oid]; ok {
			out[i].Currencies = append(out[i].Currencies, c)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.QueryContext(ctx, db.rebind(`SELECT offer_id, region FROM offer_regions`+where+` ORDER BY offer_id, region`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var oid, region string
		if err := rows.Scan(&oid, &region); err != nil {
			return nil, err
		}
		if i, ok := index[oid]; ok {
			out[i].Regions = append(out[i].Regions, region)
		}
	}
	return out, rows.Err()
}

// Offer implements catalog.Repository.
func (db *DB) Offer(ctx context.Context, id string) (catalog.Offer, bool, error) {
	os, err := loadOffers(ctx, db, db.read, id)
	if err != nil {
		return catalog.Offer{}, false, fmt.Errorf("store: offer: %w", err)
	}
	if len(os) == 0 {
		return catalog.Offer{}, false, nil
	}
	return os[0], true, nil
}

// Offers implements catalog.Repository.
func (db *DB) Offers(ctx context.Context) ([]catalog.Offer, error) {
	os, err := loadOffers(ctx, db, db.read, "")
	if err != nil {
		return nil, fmt.Errorf("store: offers: %w", err)
	}
	if os == nil {
		os = []catalog.Offer{}
	}
	return os, nil
}

func (t *catalogTx) Offer(ctx context.Context, id string) (catalog.Offer, bool, error) {
	os, err := loadOffers(ctx, t.db, t.q, id)
	if err != nil {
		return catalog.Offer{}, false, fmt.Errorf("store: offer: %w", err)
	}
	if len(os) == 0 {
		return catalog.Offer{}, false, nil
	}
	return os[0], true, nil
}

func (t *catalogTx) PutOffer(ctx context.Context, o catalog.Offer) error {
	t.dirty = true
	db := t.db
	if _, err := t.q.ExecContext(ctx, db.rebind(`INSERT INTO offers (offer_id, name, created_us, updated_us) VALUES (?, ?, ?, ?)
		ON CONFLICT (offer_id) DO UPDATE SET name = excluded.name, updated_us = excluded.updated_us`),
		o.DurableID, o.Name, micros(o.CreatedAt), micros(o.UpdatedAt)); err != nil {
		return fmt.Errorf("store: put offer: %w", err)
	}
	for _, table := range []string{"offer_currencies", "offer_regions"} {
		if _, err := t.q.ExecContext(ctx, db.rebind(`DELETE FROM `+table+` WHERE offer_id = ?`), o.DurableID); err != nil {
			return fmt.Errorf("store: put offer: %w", err)
		}
	}
	err := db.insertRows(ctx, t.q, `INSERT INTO offer_currencies (offer_id, currency, base_currency, exchange_rate, rounding_decimals) VALUES`, "", 5,
		len(o.Currencies), func(i int) []any {
			c := o.Currencies[i]
			return []any{o.DurableID, c.Currency, c.BaseCurrency, c.ExchangeRate.String(), c.RoundingDecimals}
		})
	if err == nil {
		err = db.insertRows(ctx, t.q, `INSERT INTO offer_regions (offer_id, region) VALUES`, "", 2, len(o.Regions), func(i int) []any {
			return []any{o.DurableID, o.Regions[i]}
		})
	}
	if err != nil {
		return fmt.Errorf("store: put offer: %w", err)
	}
	return nil
}

// Meters.

const catalogMeterColumns = `meter_id, meter_name, meter_category, meter_sub_category, meter_region, unit, meter_status, meter_tags, created_us, updated_us`

func scanCatalogMeter(rows *sql.Rows) (catalog.Meter, error) {
	var m catalog.Meter
	var tags string
	var created, updated int64
	err := rows.Scan(&m.MeterID, &m.MeterName, &m.MeterCategory, &m.MeterSubCategory, &m.MeterRegion, &m.Unit, &m.MeterStatus, &tags, &created, &updated)
	m.MeterTags = decodeTags(tags)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return m, err
}

func loadMeters(ctx context.Context, db *DB, q querier, ids []string, fn func(catalog.Meter)) error {
	base := `SELECT ` + catalogMeterColumns + ` FROM meters`
	keep := idSet(ids)
	return db.queryIn(ctx, q, base+` WHERE meter_id IN (%s)`, base+` ORDER BY meter_id`, nil, ids, func(rows *sql.Rows) error {
		m, err := scanCatalogMeter(rows)
		if err == nil && (keep == nil || keep[m.MeterID]) {
			fn(m)
		}
		return err
	})
}

// CatalogMeters implements catalog.Repository.
func (db *DB) CatalogMeters(ctx context.Context, ids []string) ([]catalog.Meter, error) {
	out := []catalog.Meter{}
	if ids != nil && len(ids) == 0 {
		return out, nil
	}
	if err := loadMeters(ctx, db, db.read, ids, func(m catalog.Meter) { out = append(out, m) }); err != nil {
		return nil, fmt.Errorf("store: meters: %w", err)
	}
	if ids != nil {
		slices.SortFunc(out, func(a, b catalog.Meter) int { return strings.Compare(a.MeterID, b.MeterID) })
	}
	return out, nil
}

func (t *catalogTx) Meters(ctx context.Context, ids []string) (map[string]catalog.Meter, error) {
	out := make(map[string]catalog.Meter, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	if err := loadMeters(ctx, t.db, t.q, ids, func(m catalog.Meter) { out[m.MeterID] = m }); err != nil {
		return nil, fmt.Errorf("store: meters: %w", err)
	}
	return out, nil
}

func (t *catalogTx) PutMeters(ctx context.Context, ms []catalog.Meter) error {
	if len(ms) == 0 {
		return nil
	}
	t.dirty = true
	err := t.db.insertRows(ctx, t.q, `INSERT INTO meters (`+catalogMeterColumns+`) VALUES`,
		`ON CONFLICT (meter_id) DO UPDATE SET meter_name = excluded.meter_name, meter_category = excluded.meter_category,
		meter_sub_category = excluded.meter_sub_category, meter_region = excluded.meter_region, unit = excluded.unit,
		meter_status = excluded.meter_status, meter_tags = excluded.meter_tags, updated_us = excluded.updated_us`,
		10, len(ms), func(i int) []any {
			m := &ms[i]
			return []any{m.MeterID, m.MeterName, m.MeterCategory, m.MeterSubCategory, m.MeterRegion, m.Unit, m.MeterStatus,
				encodeTags(m.MeterTags), micros(m.CreatedAt), micros(m.UpdatedAt)}
		})
	if err != nil {
		return fmt.Errorf("store: put meters: %w", err)
	}
	return nil
}

func (t *catalogTx) MeterTexts(ctx context.Context, locale string, ids []string) (map[string]catalog.MeterText, error) {
	out := make(map[string]catalog.MeterText, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	keep := idSet(ids)
	base := `SELECT meter_id, meter_name, meter_category, meter_sub_category FROM meter_texts WHERE locale = ?`
	err := t.db.queryIn(ctx, t.q, base+` AND meter_id IN (%s)`, base, []any{locale}, ids, func(rows *sql.Rows) error {
		mt := catalog.MeterText{Locale: locale}
		err := rows.Scan(&mt.MeterID, &mt.MeterName, &mt.MeterCategory, &mt.MeterSubCategory)
		if err == nil && keep[mt.MeterID] {
			out[mt.MeterID] = mt
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: meter texts: %w", err)
	}
	return out, nil
}

func (t *catalogTx) PutMeterTexts(ctx context.Context, ts []catalog.MeterText) error {
	if len(ts) == 0 {
		return nil
	}
	t.dirty = true
	err := t.db.insertRows(ctx, t.q, `INSERT INTO meter_texts (meter_id, locale, meter_name, meter_category, meter_sub_category) VALUES`,
		`ON CONFLICT (meter_id, locale) DO UPDATE SET meter_name = excluded.meter_name, meter_category = excluded.meter_category,
		meter_sub_category = excluded.meter_sub_category`, 5, len(ts), func(i int) []any {
			mt := &ts[i]
			return []any{mt.MeterID, mt.Locale, mt.MeterName, mt.MeterCategory, mt.MeterSubCategory}
		})
	if err != nil {
		return fmt.Errorf("store: put meter texts: %w", err)
	}
	return nil
}

// Rates.

func scanRate(rows *sql.Rows, offer, currency string) (catalog.Rate, error) {
	r := catalog.Rate{OfferDurableID: offer, Currency: currency}
	var at int64
	var tiers, included string
	if err := rows.Scan(&r.MeterID, &at, &tiers, &included); err != nil {
		return r, err
	}
	r.EffectiveDate = fromMicros(at)
	var err error
	if r.Tiers, err = decodeTiers(tiers); err != nil {
		return r, err
	}
	r.IncludedQuantity, err = parseDecimal(included)
	return r, err
}

func loadRates(ctx context.Context, db *DB, q querier, offer, currency string, ids []string, end time.Time) ([]catalog.Rate, error) {
	out := []catalog.Rate{}
	base := `SELECT meter_id, effective_us, tiers, included_quantity FROM meter_rates WHERE offer_id = ? AND currency = ?`
	pre := []any{offer, currency}
	if !end.IsZero() {
		base += ` AND effective_us < ?`
		pre = append(pre, micros(end))
	}
	keep := idSet(ids)
	err := db.queryIn(ctx, q, base+` AND meter_id IN (%s)`, base, pre, ids, func(rows *sql.Rows) error {
		r, err := scanRate(rows, offer, currency)
		if err == nil && (keep == nil || keep[r.MeterID]) {
			out = append(out, r)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b catalog.Rate) int {
		if c := strings.Compare(a.MeterID, b.MeterID); c != 0 {
			return c
		}
		return a.EffectiveDate.Compare(b.EffectiveDate)
	})
	return out, nil
}

func (t *catalogTx) Rates(ctx context.Context, offer, currency string, ids []string) ([]catalog.Rate, error) {
	if len(ids) == 0 {
		return []catalog.Rate{}, nil
	}
	rs, err := loadRates(ctx, t.db, t.q, offer, currency, ids, time.Time{})
	if err != nil {
		return nil, fmt.Errorf("store: rates: %w", err)
	}
	return rs, nil
}

// RateVersions implements catalog.Repository.
func (db *DB) RateVersions(ctx context.Context, offer, currency string, ids []string, end time.Time) ([]catalog.Rate, error) {
	if ids != nil && len(ids) == 0 {
		return []catalog.Rate{}, nil
	}
	rs, err := loadRates(ctx, db, db.read, offer, currency, ids, end)
	if err != nil {
		return nil, fmt.Errorf("store: rate versions: %w", err)
	}
	return rs, nil
}

func (t *catalogTx) PutRates(ctx context.Context, rs []catalog.Rate) error {
	if len(rs) == 0 {
		return nil
	}
	t.dirty = true
	err := t.db.insertRows(ctx, t.q, `INSERT INTO meter_rates (offer_id, currency, meter_id, effective_us, tiers, included_quantity) VALUES`,
		`ON CONFLICT (offer_id, currency, meter_id, effective_us) DO UPDATE SET tiers = excluded.tiers, included_quantity = excluded.included_quantity`,
		6, len(rs), func(i int) []any {
			r := &rs[i]
			return []any{r.OfferDurableID, r.Currency, r.MeterID, micros(r.EffectiveDate), encodeTiers(r.Tiers), r.IncludedQuantity.String()}
		})
	if err != nil {
		return fmt.Errorf("store: put rates: %w", err)
	}
	return nil
}

// RateCardMeters implements catalog.Repository. One query reads every
// version in force at or before at, in (meter, date) order; the last of
// each meter is the one in force.
func (db *DB) RateCardMeters(ctx context.Context, offer, currency, locale string, at time.Time) ([]catalog.RateCardMeter, error) {
	// en-US names are the meters' own: no texts to join.
	texts, args := `LEFT JOIN meter_texts t ON t.meter_id = r.meter_id AND t.locale = ?`, []any{locale, offer, currency, micros(at)}
	textColumns := `t.meter_name, t.meter_category, t.meter_sub_category`
	if locale == catalog.DefaultLocale {
		texts, args = "", args[1:]
		textColumns = `NULL, NULL, NULL`
	}
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT r.meter_id, r.effective_us, r.tiers, r.included_quantity,
		m.meter_name, m.meter_category, m.meter_sub_category, m.meter_region, m.unit, m.meter_status, m.meter_tags, `+textColumns+`
		FROM meter_rates r
		JOIN meters m ON m.meter_id = r.meter_id `+texts+`
		WHERE r.offer_id = ? AND r.currency = ? AND r.effective_us <= ?
		ORDER BY r.meter_id, r.effective_us`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: ratecard: %w", err)
	}
	defer rows.Close()
	out := []catalog.RateCardMeter{}
	var m catalog.RateCardMeter
	var tiers, included, tags string
	var effective int64
	var tName, tCategory, tSub sql.NullString
	have := false
	flush := func() error {
		if !have {
			return nil
		}
		var err error
		if m.MeterRates, err = decodeTiers(tiers); err != nil {
			return err
		}
		if m.IncludedQuantity, err = parseDecimal(included); err != nil {
			return err
		}
		m.EffectiveDate = fromMicros(effective)
		m.MeterTags = decodeTags(tags)
		if tName.Valid {
			m.MeterName, m.MeterCategory, m.MeterSubCategory = tName.String, tCategory.String, tSub.String
		}
		out = append(out, m)
		return nil
	}
	for rows.Next() {
		var id string
		var next catalog.RateCardMeter
		var nTiers, nIncluded, nTags string
		var nEffective int64
		var nName, nCategory, nSub sql.NullString
		if err := rows.Scan(&id, &nEffective, &nTiers, &nIncluded, &next.MeterName, &next.MeterCategory, &next.MeterSubCategory,
			&next.MeterRegion, &next.Unit, &next.MeterStatus, &nTags, &nName, &nCategory, &nSub); err != nil {
			return nil, fmt.Errorf("store: ratecard: %w", err)
		}
		if have && id != m.MeterID {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("store: ratecard: %w", err)
			}
		}
		next.MeterID = id
		m, tiers, included, tags, effective, tName, tCategory, tSub = next, nTiers, nIncluded, nTags, nEffective, nName, nCategory, nSub
		have = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: ratecard: %w", err)
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("store: ratecard: %w", err)
	}
	return out, nil
}

// Terms.

func loadTerms(ctx context.Context, db *DB, q querier, offer, currency string) ([]catalog.OfferTerm, error) {
	rows, err := q.QueryContext(ctx, db.rebind(`SELECT name, effective_us, credit, recurring_charge, tiered_discount, excluded_meter_ids
		FROM offer_terms WHERE offer_id = ? AND currency = ? ORDER BY name, effective_us`), offer, currency)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []catalog.OfferTerm{}
	for rows.Next() {
		t := catalog.OfferTerm{OfferDurableID: offer, Currency: currency}
		var at int64
		var credit, charge, discount, excluded string
		if err := rows.Scan(&t.Name, &at, &credit, &charge, &discount, &excluded); err != nil {
			return nil, err
		}
		t.EffectiveDate = fromMicros(at)
		if t.Credit, err = parseDecimal(credit); err != nil {
			return nil, err
		}
		if t.RecurringCharge, err = parseDecimal(charge); err != nil {
			return nil, err
		}
		if err := decodePairs(discount, func(lo, v money.Decimal) {
			t.TieredDiscount = append(t.TieredDiscount, catalog.DiscountTier{Min: lo, Percent: v})
		}); err != nil {
			return nil, err
		}
		if excluded != "" {
			t.ExcludedMeterIDs = strings.Split(excluded, ",")
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// TermVersions implements catalog.Repository.
func (db *DB) TermVersions(ctx context.Context, offer, currency string) ([]catalog.OfferTerm, error) {
	ts, err := loadTerms(ctx, db, db.read, offer, currency)
	if err != nil {
		return nil, fmt.Errorf("store: offer terms: %w", err)
	}
	return ts, nil
}

func (t *catalogTx) Terms(ctx context.Context, offer, currency string) ([]catalog.OfferTerm, error) {
	ts, err := loadTerms(ctx, t.db, t.q, offer, currency)
	if err != nil {
		return nil, fmt.Errorf("store: offer terms: %w", err)
	}
	return ts, nil
}

func (t *catalogTx) PutTerms(ctx context.Context, ts []catalog.OfferTerm) error {
	if len(ts) == 0 {
		return nil
	}
	t.dirty = true
	err := t.db.insertRows(ctx, t.q, `INSERT INTO offer_terms (offer_id, currency, name, effective_us, credit, recurring_charge, tiered_discount, excluded_meter_ids) VALUES`,
		`ON CONFLICT (offer_id, currency, name, effective_us) DO UPDATE SET credit = excluded.credit, recurring_charge = excluded.recurring_charge,
		tiered_discount = excluded.tiered_discount, excluded_meter_ids = excluded.excluded_meter_ids`,
		8, len(ts), func(i int) []any {
			o := &ts[i]
			discount := encodePairs(o.TieredDiscount, func(d catalog.DiscountTier) (money.Decimal, money.Decimal) { return d.Min, d.Percent })
			return []any{o.OfferDurableID, o.Currency, o.Name, micros(o.EffectiveDate), o.Credit.String(), o.RecurringCharge.String(),
				discount, strings.Join(o.ExcludedMeterIDs, ",")}
		})
	if err != nil {
		return fmt.Errorf("store: put offer terms: %w", err)
	}
	return nil
}
