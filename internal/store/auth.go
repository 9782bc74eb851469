package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/reckon-billing/reckon/internal/auth"
)

// The identity tables (migrations 00006 for SQLite, 00003 for PostgreSQL):
// the tenant and version row, principals and their hashed secrets, role
// assignments, signing keys and the audit trail. Every identity write runs
// in authWrite, which increments the version first: on PostgreSQL that row
// lock queues identity writers, so what one checks is not changed by
// another before it commits (an SQLite write transaction is exclusive).

var _ auth.Repository = (*DB)(nil)

// errNoChange rolls an identity write back without an error.
var errNoChange = errors.New("store: no change")

// authWrite runs fn in a write transaction that increments the identity
// version and records e (when not nil) with the change.
func (db *DB) authWrite(ctx context.Context, what string, e *auth.Event, fn func(tx *sql.Tx) error) error {
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE auth_state SET version = version + 1 WHERE id = 1`)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("store: %s: the identity state is not initialized", what)
	}
	if err := fn(tx); err != nil {
		if errors.Is(err, errNoChange) {
			return nil
		}
		return err
	}
	if e != nil {
		if err := db.insertAuditEvent(ctx, tx, *e); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", what, err)
	}
	return nil
}

// InitAuth implements auth.Repository.
func (db *DB) InitAuth(ctx context.Context, tenantID string) (string, int64, error) {
	if _, err := db.write.ExecContext(ctx, db.rebind(`INSERT INTO auth_state (id, tenant_id, version) VALUES (1, ?, 0) ON CONFLICT (id) DO NOTHING`), tenantID); err != nil {
		return "", 0, fmt.Errorf("store: init identity state: %w", err)
	}
	var tenant string
	var version int64
	if err := db.write.QueryRowContext(ctx, `SELECT tenant_id, version FROM auth_state WHERE id = 1`).Scan(&tenant, &version); err != nil {
		return "", 0, fmt.Errorf("store: init identity state: %w", err)
	}
	return tenant, version, nil
}

// AuthVersion implements auth.Repository.
func (db *DB) AuthVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.read.QueryRowContext(ctx, `SELECT version FROM auth_state WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: identity version: %w", err)
	}
	return v, nil
}

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// SigningKeys implements auth.Repository.
func (db *DB) SigningKeys(ctx context.Context) ([]auth.SigningKey, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT kid, private_pem, created_us, retired_us, longest_exp_us FROM auth_signing_keys ORDER BY created_us, kid`)
	if err != nil {
		return nil, fmt.Errorf("store: signing keys: %w", err)
	}
	defer rows.Close()
	var out []auth.SigningKey
	for rows.Next() {
		var k auth.SigningKey
		var created int64
		var retired, longest sql.NullInt64
		if err := rows.Scan(&k.KID, &k.PrivatePEM, &created, &retired, &longest); err != nil {
			return nil, fmt.Errorf("store: signing keys: %w", err)
		}
		k.CreatedAt, k.RetiredAt, k.LongestExpiry = fromMicros(created), fromNullMicros(retired), fromNullMicros(longest)
		out = append(out, k)
	}
	return out, rows.Err()
}

func (db *DB) insertSigningKey(ctx context.Context, tx *sql.Tx, k auth.SigningKey) error {
	_, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO auth_signing_keys (kid, private_pem, created_us, retired_us, longest_exp_us) VALUES (?, ?, ?, ?, ?)`),
		k.KID, k.PrivatePEM, micros(k.CreatedAt), nullMicros(k.RetiredAt), nullMicros(k.LongestExpiry))
	return err
}

// AddFirstSigningKey implements auth.Repository.
func (db *DB) AddFirstSigningKey(ctx context.Context, k auth.SigningKey) (bool, error) {
	added := false
	err := db.authWrite(ctx, "add signing key", nil, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM auth_signing_keys WHERE retired_us IS NULL`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errNoChange
		}
		added = true
		return db.insertSigningKey(ctx, tx, k)
	})
	if err != nil {
		return false, err
	}
	return added, nil
}

// RotateSigningKey implements auth.Repository.
func (db *DB) RotateSigningKey(ctx context.Context, k auth.SigningKey, drop []string, e auth.Event) error {
	return db.authWrite(ctx, "rotate signing keys", &e, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, db.rebind(`UPDATE auth_signing_keys SET retired_us = ? WHERE retired_us IS NULL`), micros(k.CreatedAt)); err != nil {
			return fmt.Errorf("store: rotate signing keys: %w", err)
		}
		for _, kid := range drop {
			if _, err := tx.ExecContext(ctx, db.rebind(`DELETE FROM auth_signing_keys WHERE kid = ? AND retired_us IS NOT NULL`), kid); err != nil {
				return fmt.Errorf("store: rotate signing keys: %w", err)
			}
		}
		if err := db.insertSigningKey(ctx, tx, k); err != nil {
			return fmt.Errorf("store: rotate signing keys: %w", err)
		}
		return nil
	})
}

// ExtendSigningKey implements auth.Repository.
func (db *DB) ExtendSigningKey(ctx context.Context, kid string, until time.Time) error {
	return db.authWrite(ctx, "extend signing key", nil, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.rebind(`UPDATE auth_signing_keys SET longest_exp_us = ? WHERE kid = ? AND (longest_exp_us IS NULL OR longest_exp_us < ?)`),
			micros(until), kid, micros(until))
		if err != nil {
			return fmt.Errorf("store: extend signing key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errNoChange
		}
		return nil
	})
}

// PutPrincipal implements auth.Repository.
func (db *DB) PutPrincipal(ctx context.Context, p auth.Principal, add *auth.StoredSecret, replaceSecrets bool, e auth.Event) (bool, error) {
	created := false
	err := db.authWrite(ctx, "put principal", &e, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, db.rebind(`SELECT 1 FROM auth_principals WHERE client_id = ?`), p.ClientID).Scan(&one)
		created = errors.Is(err, sql.ErrNoRows)
		if err != nil && !created {
			return fmt.Errorf("store: put principal: %w", err)
		}
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO auth_principals (client_id, kind, display_name, created_us, updated_us) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (client_id) DO UPDATE SET display_name = excluded.display_name, updated_us = excluded.updated_us`),
			p.ClientID, p.Kind, p.DisplayName, micros(p.CreatedAt), micros(p.UpdatedAt)); err != nil {
			return fmt.Errorf("store: put principal: %w", err)
		}
		if replaceSecrets {
			if _, err := tx.ExecContext(ctx, db.rebind(`DELETE FROM auth_secrets WHERE client_id = ?`), p.ClientID); err != nil {
				return fmt.Errorf("store: put principal: %w", err)
			}
		}
		if add != nil {
			if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO auth_secrets (secret_id, client_id, hash, hint, expires_us, created_us) VALUES (?, ?, ?, ?, ?, ?)`),
				add.ID, p.ClientID, add.Hash, add.Hint, nullMicros(add.ExpiresAt), micros(add.CreatedAt)); err != nil {
				return fmt.Errorf("store: put principal: add secret: %w", err)
			}
		}
		return nil
	})
	return created, err
}

const principalColumns = `client_id, kind, display_name, created_us, updated_us`

func scanPrincipal(row interface{ Scan(...any) error }) (auth.Principal, error) {
	var p auth.Principal
	var created, updated int64
	err := row.Scan(&p.ClientID, &p.Kind, &p.DisplayName, &created, &updated)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	p.Secrets = []auth.SecretInfo{}
	return p, err
}

// secrets returns the secrets of one principal (clientID) or of all (""),
// with their hashes, in creation order.
func (db *DB) secrets(ctx context.Context, clientID string) (map[string][]auth.StoredSecret, error) {
	q, args := `SELECT client_id, secret_id, hash, hint, expires_us, created_us FROM auth_secrets`, []any{}
	if clientID != "" {
		q, args = q+` WHERE client_id = ?`, append(args, clientID)
	}
	rows, err := db.read.QueryContext(ctx, db.rebind(q+` ORDER BY client_id, created_us, secret_id`), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]auth.StoredSecret{}
	for rows.Next() {
		var id string
		var s auth.StoredSecret
		var expires sql.NullInt64
		var created int64
		if err := rows.Scan(&id, &s.ID, &s.Hash, &s.Hint, &expires, &created); err != nil {
			return nil, err
		}
		s.ExpiresAt, s.CreatedAt = fromNullMicros(expires), fromMicros(created)
		out[id] = append(out[id], s)
	}
	return out, rows.Err()
}

func infos(secrets []auth.StoredSecret) []auth.SecretInfo {
	out := make([]auth.SecretInfo, len(secrets))
	for i, s := range secrets {
		out[i] = s.SecretInfo
	}
	return out
}

// PrincipalCredentials implements auth.Repository.
func (db *DB) PrincipalCredentials(ctx context.Context, clientID string) (auth.Principal, []auth.StoredSecret, error) {
	p, err := scanPrincipal(db.read.QueryRowContext(ctx, db.rebind(`SELECT `+principalColumns+` FROM auth_principals WHERE client_id = ?`), clientID))
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Principal{}, nil, auth.PrincipalNotFound(clientID)
	}
	if err != nil {
		return auth.Principal{}, nil, fmt.Errorf("store: principal: %w", err)
	}
	secrets, err := db.secrets(ctx, clientID)
	if err != nil {
		return auth.Principal{}, nil, fmt.Errorf("store: principal secrets: %w", err)
	}
	p.Secrets = infos(secrets[clientID])
	return p, secrets[clientID], nil
}

// Principal implements auth.Repository.
func (db *DB) Principal(ctx context.Context, clientID string) (auth.Principal, error) {
	p, _, err := db.PrincipalCredentials(ctx, clientID)
	return p, err
}

// Principals implements auth.Repository.
func (db *DB) Principals(ctx context.Context) ([]auth.Principal, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+principalColumns+` FROM auth_principals ORDER BY client_id`)
	if err != nil {
		return nil, fmt.Errorf("store: principals: %w", err)
	}
	defer rows.Close()
	out := []auth.Principal{}
	for rows.Next() {
		p, err := scanPrincipal(rows)
		if err != nil {
			return nil, fmt.Errorf("store: principals: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: principals: %w", err)
	}
	rows.Close()
	secrets, err := db.secrets(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("store: principal secrets: %w", err)
	}
	for i := range out {
		out[i].Secrets = infos(secrets[out[i].ClientID])
	}
	return out, nil
}

// DeletePrincipal implements auth.Repository.
func (db *DB) DeletePrincipal(ctx context.Context, clientID string, e auth.Event) error {
	return db.authWrite(ctx, "delete principal", &e, func(tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM auth_secrets WHERE client_id = ?`, `DELETE FROM auth_role_assignments WHERE principal_id = ?`} {
			if _, err := tx.ExecContext(ctx, db.rebind(q), clientID); err != nil {
				return fmt.Errorf("store: delete principal: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, db.rebind(`DELETE FROM auth_principals WHERE client_id = ?`), clientID)
		if err != nil {
			return fmt.Errorf("store: delete principal: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return auth.PrincipalNotFound(clientID)
		}
		return nil
	})
}

// DeleteSecret implements auth.Repository.
func (db *DB) DeleteSecret(ctx context.Context, clientID, secretID string, e auth.Event) error {
	return db.authWrite(ctx, "delete secret", &e, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.rebind(`DELETE FROM auth_secrets WHERE client_id = ? AND secret_id = ?`), clientID, secretID)
		if err != nil {
			return fmt.Errorf("store: delete secret: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil && n > 0 {
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, db.rebind(`SELECT 1 FROM auth_principals WHERE client_id = ?`), clientID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return auth.PrincipalNotFound(clientID)
		}
		return auth.SecretNotFound(clientID, secretID)
	})
}

const assignmentColumns = `assignment_id, principal_id, role, scope, created_us`

func scanAssignment(row interface{ Scan(...any) error }) (auth.Assignment, error) {
	var a auth.Assignment
	var created int64
	err := row.Scan(&a.ID, &a.PrincipalID, &a.RoleDefinitionName, &a.Scope, &created)
	a.CreatedAt = fromMicros(created)
	return a, err
}

// PutRoleAssignment implements auth.Repository.
func (db *DB) PutRoleAssignment(ctx context.Context, a auth.Assignment, e auth.Event) (auth.Assignment, bool, error) {
	created := false
	err := db.authWrite(ctx, "put role assignment", &e, func(tx *sql.Tx) error {
		var other string
		err := tx.QueryRowContext(ctx, db.rebind(`SELECT assignment_id FROM auth_role_assignments WHERE principal_id = ? AND role = ? AND scope = ? AND assignment_id <> ?`),
			a.PrincipalID, a.RoleDefinitionName, a.Scope, a.ID).Scan(&other)
		if err == nil {
			return auth.RoleAssignmentExists(other)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("store: put role assignment: %w", err)
		}
		var createdUs int64
		err = tx.QueryRowContext(ctx, db.rebind(`SELECT created_us FROM auth_role_assignments WHERE assignment_id = ?`), a.ID).Scan(&createdUs)
		created = errors.Is(err, sql.ErrNoRows)
		if err != nil && !created {
			return fmt.Errorf("store: put role assignment: %w", err)
		}
		if created {
			createdUs = micros(a.CreatedAt)
		}
		if _, err := tx.ExecContext(ctx, db.rebind(`INSERT INTO auth_role_assignments (`+assignmentColumns+`) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (assignment_id) DO UPDATE SET principal_id = excluded.principal_id, role = excluded.role, scope = excluded.scope`),
			a.ID, a.PrincipalID, a.RoleDefinitionName, a.Scope, createdUs); err != nil {
			return fmt.Errorf("store: put role assignment: %w", err)
		}
		a.CreatedAt = fromMicros(createdUs)
		return nil
	})
	if err != nil {
		return auth.Assignment{}, false, err
	}
	return a, created, nil
}

// RoleAssignments implements auth.Repository.
func (db *DB) RoleAssignments(ctx context.Context, principalID string) ([]auth.Assignment, error) {
	q, args := `SELECT `+assignmentColumns+` FROM auth_role_assignments`, []any{}
	if principalID != "" {
		q, args = q+` WHERE principal_id = ?`, append(args, principalID)
	}
	rows, err := db.read.QueryContext(ctx, db.rebind(q+` ORDER BY principal_id, assignment_id`), args...)
	if err != nil {
		return nil, fmt.Errorf("store: role assignments: %w", err)
	}
	defer rows.Close()
	out := []auth.Assignment{}
	for rows.Next() {
		a, err := scanAssignment(rows)
		if err != nil {
			return nil, fmt.Errorf("store: role assignments: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// DeleteRoleAssignment implements auth.Repository.
func (db *DB) DeleteRoleAssignment(ctx context.Context, id string, e auth.Event) error {
	return db.authWrite(ctx, "delete role assignment", &e, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.rebind(`DELETE FROM auth_role_assignments WHERE assignment_id = ?`), id)
		if err != nil {
			return fmt.Errorf("store: delete role assignment: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return auth.RoleAssignmentNotFound(id)
		}
		return nil
	})
}

func (db *DB) insertAuditEvent(ctx context.Context, q querier, e auth.Event) error {
	_, err := q.ExecContext(ctx, db.rebind(`INSERT INTO auth_audit (at_us, actor, action, target, detail, remote, success) VALUES (?, ?, ?, ?, ?, ?, ?)`),
		micros(e.At), e.Actor, e.Action, e.Target, e.Detail, e.Remote, e.Success)
	return err
}

// AppendAuditEvent implements auth.Repository.
func (db *DB) AppendAuditEvent(ctx context.Context, e auth.Event) error {
	if err := db.insertAuditEvent(ctx, db.write, e); err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

// AuditEvents implements auth.Repository.
func (db *DB) AuditEvents(ctx context.Context, since time.Time, limit int) ([]auth.Event, error) {
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT at_us, actor, action, target, detail, remote, success FROM auth_audit WHERE at_us >= ? ORDER BY at_us, seq LIMIT ?`),
		micros(since), limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	out := []auth.Event{}
	for rows.Next() {
		var e auth.Event
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Remote, &e.Success); err != nil {
			return nil, fmt.Errorf("store: audit: %w", err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
