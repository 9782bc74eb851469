package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/catalog"
)

var (
	_ account.Repository = (*DB)(nil)
	_ catalog.Repository = (*DB)(nil)
)

func micros(t time.Time) int64     { return t.UnixMicro() }
func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

const subscriptionColumns = `subscription_id, display_name, billing_account, state, offer_durable_id, currency, locale, region_info, billing_day, created_us, updated_us`

// PutSubscription implements account.Repository.
func (db *DB) PutSubscription(ctx context.Context, s account.Subscription, now billing.Clock) (account.Subscription, bool, error) {
	t := now().UTC().Truncate(time.Microsecond)
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return account.Subscription{}, false, fmt.Errorf("store: put subscription: %w", err)
	}
	defer tx.Rollback()
	var created int64
	err = tx.QueryRowContext(ctx, db.rebind(`SELECT created_us FROM subscriptions WHERE subscription_id = ?`), s.SubscriptionID).Scan(&created)
	isNew := errors.Is(err, sql.ErrNoRows)
	if err != nil && !isNew {
		return account.Subscription{}, false, fmt.Errorf("store: put subscription: %w", err)
	}
	if isNew {
		created = micros(t)
	}
	_, err = tx.ExecContext(ctx, db.rebind(`INSERT INTO subscriptions (`+subscriptionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (subscription_id) DO UPDATE SET display_name = excluded.display_name, billing_account = excluded.billing_account,
		state = excluded.state, offer_durable_id = excluded.offer_durable_id, currency = excluded.currency, locale = excluded.locale,
		region_info = excluded.region_info, billing_day = excluded.billing_day, updated_us = excluded.updated_us`),
		s.SubscriptionID, s.DisplayName, s.BillingAccount, s.State, s.OfferDurableID, s.Currency, s.Locale, s.RegionInfo, s.BillingDay, created, micros(t))
	if err != nil {
		return account.Subscription{}, false, fmt.Errorf("store: put subscription: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return account.Subscription{}, false, fmt.Errorf("store: put subscription: %w", err)
	}
	s.CreatedAt, s.UpdatedAt = fromMicros(created), t
	return s, isNew, nil
}

func scanSubscription(row interface{ Scan(...any) error }) (account.Subscription, error) {
	var s account.Subscription
	var created, updated int64
	err := row.Scan(&s.SubscriptionID, &s.DisplayName, &s.BillingAccount, &s.State, &s.OfferDurableID, &s.Currency, &s.Locale, &s.RegionInfo, &s.BillingDay, &created, &updated)
	s.CreatedAt, s.UpdatedAt = fromMicros(created), fromMicros(updated)
	return s, err
}

// Subscription implements account.Repository.
func (db *DB) Subscription(ctx context.Context, id string) (account.Subscription, error) {
	s, err := scanSubscription(db.read.QueryRowContext(ctx, db.rebind(`SELECT `+subscriptionColumns+` FROM subscriptions WHERE subscription_id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return s, account.NotFound(id)
	}
	if err != nil {
		return s, fmt.Errorf("store: subscription: %w", err)
	}
	return s, nil
}

// Subscriptions implements account.Repository.
func (db *DB) Subscriptions(ctx context.Context) ([]account.Subscription, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions ORDER BY subscription_id`)
	if err != nil {
		return nil, fmt.Errorf("store: subscriptions: %w", err)
	}
	defer rows.Close()
	out := []account.Subscription{}
	for rows.Next() {
		s, err := scanSubscription(rows)
		if err != nil {
			return nil, fmt.Errorf("store: subscriptions: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

const meterColumns = `meter_id, meter_name, meter_category, meter_sub_category, meter_region, unit, meter_status, created_us, updated_us`

func scanMeter(row interface{ Scan(...any) error }, extra ...any) (catalog.Meter, error) {
	var m catalog.Meter
	var created, updated int64
	dest := append([]any{&m.MeterID, &m.MeterName, &m.MeterCategory, &m.MeterSubCategory, &m.MeterRegion, &m.Unit, &m.MeterStatus, &created, &updated}, extra...)
	err := row.Scan(dest...)
	m.CreatedAt, m.UpdatedAt = fromMicros(created), fromMicros(updated)
	return m, err
}
