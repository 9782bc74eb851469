package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/usage"
)

var _ invoicing.Repository = (*DB)(nil)

// ClosedPeriods implements invoicing.Repository.
func (db *DB) ClosedPeriods(ctx context.Context, subscriptionID string) ([]invoicing.Period, error) {
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT name, start_us, end_us, closed_us, invoice_name FROM billing_periods
		WHERE subscription_id = ? ORDER BY start_us`), subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("store: closed periods: %w", err)
	}
	defer rows.Close()
	out := []invoicing.Period{}
	byName := map[string]int{}
	for rows.Next() {
		var p invoicing.Period
		var start, end, closed int64
		var inv string
		if err := rows.Scan(&p.Name, &start, &end, &closed, &inv); err != nil {
			return nil, fmt.Errorf("store: closed periods: %w", err)
		}
		at := fromMicros(closed)
		p.SubscriptionID, p.Start, p.End, p.ClosedAt, p.InvoiceNames = subscriptionID, fromMicros(start), fromMicros(end), &at, []string{inv}
		byName[p.Name] = len(out)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: closed periods: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	// The credit notes of each period, after its invoice.
	rows, err = db.read.QueryContext(ctx, db.rebind(`SELECT period_name, name FROM invoices
		WHERE subscription_id = ? AND kind <> ? ORDER BY number`), subscriptionID, invoicing.KindInvoice)
	if err != nil {
		return nil, fmt.Errorf("store: closed periods: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var period, name string
		if err := rows.Scan(&period, &name); err != nil {
			return nil, fmt.Errorf("store: closed periods: %w", err)
		}
		if i, ok := byName[period]; ok {
			out[i].InvoiceNames = append(out[i].InvoiceNames, name)
		}
	}
	return out, rows.Err()
}

// FirstUsage implements invoicing.Repository. Segments are never deleted
// or rewritten, so unchanged counts mean unchanged segments.
func (db *DB) FirstUsage(ctx context.Context, subscriptionID string, known invoicing.UsageMark) (invoicing.UsageMark, error) {
	var m invoicing.UsageMark
	err := db.read.QueryRowContext(ctx, db.rebind(`SELECT count(*), coalesce(sum(g.record_count), 0) FROM usage_segments g
		JOIN subscriptions s ON s.subscription_key = g.subscription_key WHERE s.subscription_id = ?`), subscriptionID).Scan(&m.Segments, &m.Records)
	if err != nil {
		return m, fmt.Errorf("store: first usage: %w", err)
	}
	if m.Segments == known.Segments && m.Records == known.Records {
		return known, nil
	}
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT g.record_count, g.data FROM usage_segments g
		JOIN subscriptions s ON s.subscription_key = g.subscription_key WHERE s.subscription_id = ?`), subscriptionID)
	if err != nil {
		return m, fmt.Errorf("store: first usage: %w", err)
	}
	defer rows.Close()
	m = invoicing.UsageMark{}
	first := int64(0)
	var data sql.RawBytes
	var n int64
	for rows.Next() {
		if err := rows.Scan(&n, &data); err != nil {
			return m, fmt.Errorf("store: first usage: %w", err)
		}
		m.Segments++
		m.Records += n
		if err := usage.DecodeSegment(data, func(r *usage.StoredRecord) error {
			if first == 0 || r.Start < first {
				first = r.Start
			}
			return nil
		}); err != nil {
			return m, fmt.Errorf("store: first usage: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return m, fmt.Errorf("store: first usage: %w", err)
	}
	if m.Records > 0 {
		m.First = time.UnixMicro(first).UTC()
	}
	return m, nil
}

// UsageReported implements invoicing.Repository.
func (db *DB) UsageReported(ctx context.Context, subscriptionID string, from, to time.Time, fn func(start, end time.Time)) error {
	keys, err := db.SubscriptionKeys(ctx, []string{subscriptionID})
	if err != nil {
		return err
	}
	key, ok := keys[subscriptionID]
	if !ok {
		return nil
	}
	return db.ScanSegments(ctx, key, from.UnixMicro(), to.UnixMicro(), func(_ int64, data []byte) error {
		return usage.DecodeSegment(data, func(r *usage.StoredRecord) error {
			fn(time.UnixMicro(r.Start).UTC(), time.UnixMicro(r.End).UTC())
			return nil
		})
	})
}

// Issue implements invoicing.Repository. The sequence's counter row is
// locked (PostgreSQL: FOR UPDATE; SQLite: the single writer) from the
// number's allocation to the commit, so numbers are gapless and the
// documents of a sequence are issued one at a time.
func (db *DB) Issue(ctx context.Context, req invoicing.IssueRequest, build func(number int64, prior []invoicing.Invoice) (*invoicing.Invoice, []byte, error)) (invoicing.Invoice, bool, error) {
	inv, created, err := db.issue(ctx, req, build)
	if err != nil && req.Kind == invoicing.KindInvoice && !errors.Is(err, invoicing.ErrStale) && ctx.Err() == nil {
		// A concurrent close may have won the unique index on the period
		// without sharing our sequence (the account changed meanwhile).
		if name, ok, err2 := db.periodInvoice(ctx, db.read, req.SubscriptionID, req.Period.Name); err2 == nil && ok {
			winner, err2 := db.Invoice(ctx, name)
			if err2 == nil {
				return winner, false, nil
			}
		}
	}
	return inv, created, err
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (db *DB) periodInvoice(ctx context.Context, q queryer, sub, period string) (string, bool, error) {
	var name string
	err := q.QueryRowContext(ctx, db.rebind(`SELECT invoice_name FROM billing_periods WHERE subscription_id = ? AND name = ?`), sub, period).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return name, err == nil, err
}

func (db *DB) issue(ctx context.Context, req invoicing.IssueRequest, build func(number int64, prior []invoicing.Invoice) (*invoicing.Invoice, []byte, error)) (invoicing.Invoice, bool, error) {
	fail := func(err error) (invoicing.Invoice, bool, error) {
		return invoicing.Invoice{}, false, fmt.Errorf("store: issue: %w", err)
	}
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO invoice_counters (series, last_number) VALUES (?, 0) ON CONFLICT (series) DO NOTHING`), req.Series); err != nil {
		return fail(err)
	}
	lock := ""
	if db.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	var last int64
	if err := tx.QueryRowContext(ctx, db.rebind(`SELECT last_number FROM invoice_counters WHERE series = ?`+lock), req.Series).Scan(&last); err != nil {
		return fail(err)
	}
	var prior []invoicing.Invoice
	switch req.Kind {
	case invoicing.KindInvoice:
		if db.dialect == Postgres {
			// Closes of one subscription are serialised even when its
			// billing account (so its sequence) changed between them. NO KEY
			// UPDATE does not block ingestion's foreign-key checks.
			if _, err := tx.ExecContext(ctx, `SELECT 1 FROM subscriptions WHERE subscription_id = $1 FOR NO KEY UPDATE`, req.SubscriptionID); err != nil {
				return fail(err)
			}
		}
		name, closed, err := db.periodInvoice(ctx, tx, req.SubscriptionID, req.Period.Name)
		if err != nil {
			return fail(err)
		}
		if closed {
			inv, err := db.invoice(ctx, tx, name)
			return inv, false, err
		}
		var lastClose sql.NullInt64
		if err := tx.QueryRowContext(ctx, db.rebind(`SELECT max(closed_us) FROM billing_periods WHERE subscription_id = ?`), req.SubscriptionID).Scan(&lastClose); err != nil {
			return fail(err)
		}
		want := int64(0)
		if !req.LastClose.IsZero() {
			want = micros(req.LastClose)
		}
		if lastClose.Int64 != want {
			return invoicing.Invoice{}, false, invoicing.ErrStale
		}
	case invoicing.KindCreditNote:
		rows, err := tx.QueryContext(ctx, db.rebind(`SELECT header FROM invoices WHERE subscription_id = ? AND kind = ? AND corrects = ? ORDER BY number`),
			req.SubscriptionID, invoicing.KindCreditNote, req.Corrects)
		if err != nil {
			return fail(err)
		}
		prior, err = scanInvoices(rows)
		if err != nil {
			return fail(err)
		}
	}
	number := last + 1
	inv, pdf, err := build(number, prior)
	if err != nil {
		return invoicing.Invoice{}, false, err
	}
	sum := sha256.Sum256(pdf)
	if hex.EncodeToString(sum[:]) != inv.PDFSHA256 {
		return fail(fmt.Errorf("the PDF's sha256 is not the invoice's %s", inv.PDFSHA256))
	}
	header, lines, err := encodeInvoice(inv)
	if err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO invoices (subscription_id, name, kind, billing_account, number, period_name,
		period_start_us, period_end_us, issued_us, corrects, issued_by, header, lines, pdf_sha256)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		inv.SubscriptionID, inv.Name, inv.Kind, inv.BillingAccount, number, inv.PeriodName, micros(inv.PeriodStart), micros(inv.PeriodEnd),
		micros(inv.IssuedAt), inv.Corrects, req.Actor, header, lines, inv.PDFSHA256); err != nil {
		return fail(err)
	}
	if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO invoice_pdfs (subscription_id, name, pdf, sha256) VALUES (?, ?, ?, ?)`),
		inv.SubscriptionID, inv.Name, pdf, inv.PDFSHA256); err != nil {
		return fail(err)
	}
	if req.Kind == invoicing.KindInvoice {
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO billing_periods (subscription_id, name, start_us, end_us, closed_us, invoice_name)
			VALUES (?, ?, ?, ?, ?, ?)`), req.SubscriptionID, req.Period.Name, micros(req.Period.Start), micros(req.Period.End),
			micros(req.ClosedAt), inv.Name); err != nil {
			return fail(err)
		}
	}
	if _, err := tx.ExecContext(ctx, db.rebind(`UPDATE invoice_counters SET last_number = ? WHERE series = ?`), number, req.Series); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	out := *inv
	out.Seller.LogoPNG = nil // as stored
	return out, true, nil
}

// encodeInvoice splits a document into its header (without lines) and
// its lines, both JSON.
func encodeInvoice(inv *invoicing.Invoice) (header, lines string, err error) {
	h := *inv
	h.Lines = nil
	hb, err := json.Marshal(&h)
	if err != nil {
		return "", "", err
	}
	ls := inv.Lines
	if ls == nil {
		ls = []invoicing.Line{}
	}
	lb, err := json.Marshal(ls)
	if err != nil {
		return "", "", err
	}
	return string(hb), string(lb), nil
}

func scanInvoices(rows *sql.Rows) ([]invoicing.Invoice, error) {
	defer rows.Close()
	out := []invoicing.Invoice{}
	for rows.Next() {
		var header string
		if err := rows.Scan(&header); err != nil {
			return nil, err
		}
		var inv invoicing.Invoice
		if err := json.Unmarshal([]byte(header), &inv); err != nil {
			return nil, fmt.Errorf("decode invoice: %w", err)
		}
		out = append(out, inv)
	}
	return out, rows.Err()
}

func (db *DB) invoice(ctx context.Context, q queryer, name string) (invoicing.Invoice, error) {
	var header, lines string
	err := q.QueryRowContext(ctx, db.rebind(`SELECT header, lines FROM invoices WHERE name = ?`), name).Scan(&header, &lines)
	if errors.Is(err, sql.ErrNoRows) {
		return invoicing.Invoice{}, invoicing.InvoiceNotFound(name)
	}
	if err != nil {
		return invoicing.Invoice{}, fmt.Errorf("store: invoice: %w", err)
	}
	var inv invoicing.Invoice
	if err := json.Unmarshal([]byte(header), &inv); err != nil {
		return inv, fmt.Errorf("store: decode invoice %s: %w", name, err)
	}
	if err := json.Unmarshal([]byte(lines), &inv.Lines); err != nil {
		return inv, fmt.Errorf("store: decode invoice %s: %w", name, err)
	}
	return inv, nil
}

// Invoice implements invoicing.Repository.
func (db *DB) Invoice(ctx context.Context, name string) (invoicing.Invoice, error) {
	return db.invoice(ctx, db.read, name)
}

// InvoicesOf implements invoicing.Repository.
func (db *DB) InvoicesOf(ctx context.Context, subscriptionID string) ([]invoicing.Invoice, error) {
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT header FROM invoices WHERE subscription_id = ? ORDER BY issued_us DESC, number DESC`), subscriptionID)
	if err != nil {
		return nil, fmt.Errorf("store: invoices: %w", err)
	}
	out, err := scanInvoices(rows)
	if err != nil {
		return nil, fmt.Errorf("store: invoices: %w", err)
	}
	return out, nil
}

// InvoicesOfAccount implements invoicing.Repository.
func (db *DB) InvoicesOfAccount(ctx context.Context, billingAccount string) ([]invoicing.Invoice, error) {
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT header FROM invoices WHERE billing_account = ? ORDER BY issued_us DESC, number DESC`), billingAccount)
	if err != nil {
		return nil, fmt.Errorf("store: invoices: %w", err)
	}
	out, err := scanInvoices(rows)
	if err != nil {
		return nil, fmt.Errorf("store: invoices: %w", err)
	}
	return out, nil
}

// PDF implements invoicing.Repository.
func (db *DB) PDF(ctx context.Context, name string) ([]byte, error) {
	var pdf []byte
	err := db.read.QueryRowContext(ctx, db.rebind(`SELECT p.pdf FROM invoices i JOIN invoice_pdfs p
		ON p.subscription_id = i.subscription_id AND p.name = i.name WHERE i.name = ?`), name).Scan(&pdf)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, invoicing.InvoiceNotFound(name)
	}
	if err != nil {
		return nil, fmt.Errorf("store: invoice pdf: %w", err)
	}
	return pdf, nil
}

// SetInvoiceAccess implements invoicing.Repository.
func (db *DB) SetInvoiceAccess(ctx context.Context, subscriptionID string, enabled bool, at time.Time) error {
	_, err := db.write.ExecContext(ctx, db.rebind(`INSERT INTO invoice_access (subscription_id, enabled, updated_us) VALUES (?, ?, ?)
		ON CONFLICT (subscription_id) DO UPDATE SET enabled = excluded.enabled, updated_us = excluded.updated_us`), subscriptionID, enabled, micros(at))
	if err != nil {
		return fmt.Errorf("store: set invoice access: %w", err)
	}
	return nil
}

// InvoiceAccess implements invoicing.Repository.
func (db *DB) InvoiceAccess(ctx context.Context, subscriptionID string) (bool, error) {
	var enabled bool
	err := db.read.QueryRowContext(ctx, db.rebind(`SELECT enabled FROM invoice_access WHERE subscription_id = ?`), subscriptionID).Scan(&enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: invoice access: %w", err)
	}
	return enabled, nil
}
