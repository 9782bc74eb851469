package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/reckon-billing/reckon/internal/catalog"
)

var _ catalog.ImportLog = (*DB)(nil)

// PortalSession is a web portal session as stored: the SHA-256 (hex) of
// its id, never the id itself.
type PortalSession struct {
	IDHash      string
	PrincipalID string
	// CSRF is the session's anti-forgery token, sent back in forms.
	CSRF                       string
	Created, Expires, LastSeen time.Time
}

// ErrNoPortalSession is returned for a session that is not stored.
var ErrNoPortalSession = errors.New("store: no such portal session")

// CreatePortalSession stores a new session.
func (db *DB) CreatePortalSession(ctx context.Context, s PortalSession) error {
	_, err := db.write.ExecContext(ctx, db.rebind(`INSERT INTO portal_sessions (id_hash, principal_id, csrf, created_us, expires_us, last_seen_us)
		VALUES (?, ?, ?, ?, ?, ?)`), s.IDHash, s.PrincipalID, s.CSRF, micros(s.Created), micros(s.Expires), micros(s.LastSeen))
	if err != nil {
		return fmt.Errorf("store: create portal session: %w", err)
	}
	return nil
}

// PortalSession returns the session whose id hashes to idHash
// (ErrNoPortalSession when there is none).
func (db *DB) PortalSession(ctx context.Context, idHash string) (PortalSession, error) {
	s := PortalSession{IDHash: idHash}
	var created, expires, seen int64
	err := db.read.QueryRowContext(ctx, db.rebind(`SELECT principal_id, csrf, created_us, expires_us, last_seen_us FROM portal_sessions WHERE id_hash = ?`), idHash).
		Scan(&s.PrincipalID, &s.CSRF, &created, &expires, &seen)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrNoPortalSession
	}
	if err != nil {
		return s, fmt.Errorf("store: portal session: %w", err)
	}
	s.Created, s.Expires, s.LastSeen = fromMicros(created), fromMicros(expires), fromMicros(seen)
	return s, nil
}

// TouchPortalSession records that the session was used at t.
func (db *DB) TouchPortalSession(ctx context.Context, idHash string, t time.Time) error {
	if _, err := db.write.ExecContext(ctx, db.rebind(`UPDATE portal_sessions SET last_seen_us = ? WHERE id_hash = ? AND last_seen_us < ?`),
		micros(t), idHash, micros(t)); err != nil {
		return fmt.Errorf("store: touch portal session: %w", err)
	}
	return nil
}

// DeletePortalSession removes a session (signing out); a session that is
// not stored is no error.
func (db *DB) DeletePortalSession(ctx context.Context, idHash string) error {
	if _, err := db.write.ExecContext(ctx, db.rebind(`DELETE FROM portal_sessions WHERE id_hash = ?`), idHash); err != nil {
		return fmt.Errorf("store: delete portal session: %w", err)
	}
	return nil
}

// DeleteStalePortalSessions removes the sessions whose absolute lifetime
// ended before t or that have not been used since idleBefore, and returns
// how many it removed.
func (db *DB) DeleteStalePortalSessions(ctx context.Context, t, idleBefore time.Time) (int64, error) {
	res, err := db.write.ExecContext(ctx, db.rebind(`DELETE FROM portal_sessions WHERE expires_us <= ? OR last_seen_us < ?`), micros(t), micros(idleBefore))
	if err != nil {
		return 0, fmt.Errorf("store: delete stale portal sessions: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// AppendImportReport implements catalog.ImportLog.
func (db *DB) AppendImportReport(ctx context.Context, r catalog.ImportReport) error {
	body, err := json.Marshal(r.Result)
	if err != nil {
		return fmt.Errorf("store: import report: %w", err)
	}
	if _, err := db.write.ExecContext(ctx, db.rebind(`INSERT INTO catalog_import_reports (at_us, actor, result) VALUES (?, ?, ?)`),
		micros(r.At), r.Actor, string(body)); err != nil {
		return fmt.Errorf("store: import report: %w", err)
	}
	return nil
}

// ImportReports implements catalog.ImportLog.
func (db *DB) ImportReports(ctx context.Context, limit int) ([]catalog.ImportReport, error) {
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT at_us, actor, result FROM catalog_import_reports ORDER BY at_us DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: import reports: %w", err)
	}
	defer rows.Close()
	var out []catalog.ImportReport
	for rows.Next() {
		var at int64
		var r catalog.ImportReport
		var body string
		if err := rows.Scan(&at, &r.Actor, &body); err != nil {
			return nil, fmt.Errorf("store: import reports: %w", err)
		}
		if err := json.Unmarshal([]byte(body), &r.Result); err != nil {
			return nil, fmt.Errorf("store: import report: %w", err)
		}
		r.At = fromMicros(at)
		out = append(out, r)
	}
	return out, rows.Err()
}
