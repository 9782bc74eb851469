package catalog

import (
	"context"
	"time"
)

// ImportReport is a catalog import as the operator's pages show it: when,
// by whom, and its result (counts and rejected items).
type ImportReport struct {
	At     time.Time
	Actor  string // the principal that imported, "" when not known
	Result ImportResult
}

// ImportLog is implemented by repositories that keep import reports
// (store.DB does). Service.Apply appends a report after every import that
// committed; a repository without it keeps none.
type ImportLog interface {
	AppendImportReport(ctx context.Context, r ImportReport) error
	// ImportReports returns the newest reports first, at most limit.
	ImportReports(ctx context.Context, limit int) ([]ImportReport, error)
}

type importActorKey struct{}

// WithImportActor names the principal on whose behalf imports run under
// ctx, for the import reports.
func WithImportActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, importActorKey{}, actor)
}

// maxReportRejections bounds the rejected items a report keeps.
const maxReportRejections = 1000

// noteImport keeps the report of an import that committed. Failing to
// keep it does not fail the import (the import is committed already).
func (s *Service) noteImport(ctx context.Context, res *ImportResult) {
	l, ok := s.repo.(ImportLog)
	if !ok {
		return
	}
	actor, _ := ctx.Value(importActorKey{}).(string)
	r := ImportReport{At: s.now(), Actor: actor, Result: *res}
	if len(r.Result.Rejected) > maxReportRejections {
		r.Result.Rejected = r.Result.Rejected[:maxReportRejections]
	}
	_ = l.AppendImportReport(context.WithoutCancel(ctx), r)
}

// ImportReports returns the kept import reports, newest first (none when
// the repository keeps none).
func (s *Service) ImportReports(ctx context.Context, limit int) ([]ImportReport, error) {
	l, ok := s.repo.(ImportLog)
	if !ok {
		return nil, nil
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return l.ImportReports(ctx, limit)
}
