package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/reckon-billing/reckon/internal/export"
	"github.com/reckon-billing/reckon/internal/exportjob"
)

var _ exportjob.Repository = (*DB)(nil)

const exportJobColumns = `id, state, request, created_us, finished_us, subscriptions, subscriptions_done, rows_written, error, manifest, node, heartbeat_us`

// CreateExportJob implements exportjob.Repository.
func (db *DB) CreateExportJob(ctx context.Context, j exportjob.Job) error {
	req, err := json.Marshal(j.Request)
	if err != nil {
		return fmt.Errorf("store: create export job: %w", err)
	}
	_, err = db.write.ExecContext(ctx, db.rebind(`INSERT INTO export_jobs (`+exportJobColumns+`) VALUES (?, ?, ?, ?, NULL, ?, ?, ?, ?, NULL, ?, ?)`),
		j.ID, j.State, string(req), micros(j.CreatedAt), j.Subscriptions, j.Done, j.Rows, j.Error, j.Node, micros(j.Heartbeat))
	if err != nil {
		return fmt.Errorf("store: create export job: %w", err)
	}
	return nil
}

// UpdateExportJob implements exportjob.Repository: it writes the job's
// state, progress, error, manifest and heartbeat, only while the job is
// Running on j.Node.
func (db *DB) UpdateExportJob(ctx context.Context, j exportjob.Job) (bool, error) {
	var manifest sql.NullString
	if j.Manifest != nil {
		b, err := json.Marshal(j.Manifest)
		if err != nil {
			return false, fmt.Errorf("store: update export job: %w", err)
		}
		manifest = sql.NullString{String: string(b), Valid: true}
	}
	var finished sql.NullInt64
	if j.FinishedAt != nil {
		finished = sql.NullInt64{Int64: micros(*j.FinishedAt), Valid: true}
	}
	res, err := db.write.ExecContext(ctx, db.rebind(`UPDATE export_jobs SET state = ?, finished_us = ?, subscriptions_done = ?, rows_written = ?,
		error = ?, manifest = ?, heartbeat_us = ? WHERE id = ? AND node = ? AND state = ?`),
		j.State, finished, j.Done, j.Rows, j.Error, manifest, micros(j.Heartbeat), j.ID, j.Node, exportjob.Running)
	if err != nil {
		return false, fmt.Errorf("store: update export job: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: update export job: %w", err)
	}
	return n == 1, nil
}

// FailStaleExportJob implements exportjob.Repository: it marks the job
// Failed with message when it is still Running with the heartbeat seen.
func (db *DB) FailStaleExportJob(ctx context.Context, id string, heartbeat time.Time, message string, at time.Time) (bool, error) {
	res, err := db.write.ExecContext(ctx, db.rebind(`UPDATE export_jobs SET state = ?, error = ?, finished_us = ? WHERE id = ? AND state = ? AND heartbeat_us = ?`),
		exportjob.Failed, message, micros(at), id, exportjob.Running, micros(heartbeat))
	if err != nil {
		return false, fmt.Errorf("store: fail export job: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: fail export job: %w", err)
	}
	return n == 1, nil
}

func scanExportJob(row interface{ Scan(...any) error }) (exportjob.Job, error) {
	var j exportjob.Job
	var req string
	var manifest sql.NullString
	var created, heartbeat int64
	var finished sql.NullInt64
	if err := row.Scan(&j.ID, &j.State, &req, &created, &finished, &j.Subscriptions, &j.Done, &j.Rows, &j.Error, &manifest, &j.Node, &heartbeat); err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(req), &j.Request); err != nil {
		return j, fmt.Errorf("export job %s: request: %w", j.ID, err)
	}
	if manifest.Valid {
		j.Manifest = new(export.Manifest)
		if err := json.Unmarshal([]byte(manifest.String), j.Manifest); err != nil {
			return j, fmt.Errorf("export job %s: manifest: %w", j.ID, err)
		}
	}
	j.CreatedAt, j.Heartbeat = fromMicros(created), fromMicros(heartbeat)
	if finished.Valid {
		t := fromMicros(finished.Int64)
		j.FinishedAt = &t
	}
	return j, nil
}

// ExportJob implements exportjob.Repository.
func (db *DB) ExportJob(ctx context.Context, id string) (exportjob.Job, bool, error) {
	j, err := scanExportJob(db.read.QueryRowContext(ctx, db.rebind(`SELECT `+exportJobColumns+` FROM export_jobs WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, false, nil
	}
	if err != nil {
		return j, false, fmt.Errorf("store: export job: %w", err)
	}
	return j, true, nil
}

// ExportJobs implements exportjob.Repository: the newest limit jobs,
// newest first.
func (db *DB) ExportJobs(ctx context.Context, limit int) ([]exportjob.Job, error) {
	rows, err := db.read.QueryContext(ctx, db.rebind(`SELECT `+exportJobColumns+` FROM export_jobs ORDER BY created_us DESC, id LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("store: export jobs: %w", err)
	}
	defer rows.Close()
	out := []exportjob.Job{}
	for rows.Next() {
		j, err := scanExportJob(rows)
		if err != nil {
			return nil, fmt.Errorf("store: export jobs: %w", err)
		}
		out = append(out, j)
	}
	return out, rows.Err()
}
