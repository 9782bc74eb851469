// Package exportjob runs exports (FOCUS, cost details) in the background:
// an operator asks for one, follows its progress, and downloads its files.
// Jobs live in the memory of the node that runs them and their files in
// its data directory; the rows come from invoicing.Service.CostRows, so a
// closed period's export totals its invoice.
package exportjob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/export"
	"github.com/reckon-billing/reckon/internal/invoicing"
)

// Request describes an export.
type Request struct {
	Dataset        string `json:"dataset"` // "focus" or "details"
	Format         string `json:"format"`  // csv (default), csv.gz or parquet
	From           string `json:"from"`    // first day, YYYY-MM-DD (UTC)
	To             string `json:"to"`      // the day after the last
	SubscriptionID string `json:"subscriptionId,omitempty"`
	BillingAccount string `json:"billingAccount,omitempty"`
	Hourly         bool   `json:"hourly,omitempty"`
}

// Job states.
const (
	Running   = "Running"
	Succeeded = "Succeeded"
	Failed    = "Failed"
)

// Job is an export and how far it got.
type Job struct {
	ID            string           `json:"id"`
	State         string           `json:"state"`
	Request       Request          `json:"request"`
	CreatedAt     time.Time        `json:"createdAt"`
	FinishedAt    *time.Time       `json:"finishedAt,omitempty"`
	Subscriptions int              `json:"subscriptions"` // to export
	Done          int              `json:"subscriptionsDone"`
	Rows          int64            `json:"rows"`
	Error         string           `json:"error,omitempty"`
	Manifest      *export.Manifest `json:"manifest,omitempty"`
}

// Writer is an export writer (export.FOCUSWriter, export.CostDetailsWriter).
type Writer interface {
	Write(r *charges.CostRow) error
	Close() (*export.Manifest, error)
}

// Runner runs export jobs.
type Runner struct {
	dir      string
	accounts *account.Service
	invoices *invoicing.Service
	provider string
	clock    billing.Clock

	mu   sync.Mutex
	jobs map[string]*Job
	wg   sync.WaitGroup
}

// NewRunner returns a runner writing its exports under dir. provider is
// the operator's name in FOCUS rows.
func NewRunner(dir string, accounts *account.Service, invoices *invoicing.Service, provider string, clock billing.Clock) *Runner {
	return &Runner{dir: dir, accounts: accounts, invoices: invoices, provider: provider, clock: clock, jobs: map[string]*Job{}}
}

// parsed is a checked request.
type parsed struct {
	from, to    time.Time
	granularity string
	format      export.Format
}

func (req *Request) check() (parsed, error) {
	var p parsed
	bad := func(target, format string, args ...any) (parsed, error) {
		return p, billing.Invalid("InvalidProperty", target, format, args...)
	}
	if req.Dataset != "focus" && req.Dataset != "details" {
		return bad("dataset", "The dataset must be focus or details.")
	}
	if req.Format == "" {
		req.Format = string(export.FormatCSV)
	}
	switch p.format = export.Format(req.Format); p.format {
	case export.FormatCSV, export.FormatCSVGzip, export.FormatParquet:
	default:
		return bad("format", "The format must be csv, csv.gz or parquet.")
	}
	var err error
	if p.from, err = time.Parse(time.DateOnly, req.From); err != nil {
		return bad("from", "The from date '%s' is not YYYY-MM-DD.", req.From)
	}
	if p.to, err = time.Parse(time.DateOnly, req.To); err != nil {
		return bad("to", "The to date '%s' is not YYYY-MM-DD.", req.To)
	}
	if !p.from.Before(p.to) || p.to.Sub(p.from) > 366*24*time.Hour {
		return bad("to", "The range must end after it starts and cover at most 366 days.")
	}
	if req.SubscriptionID != "" {
		id, ok := billing.ParseGUID(req.SubscriptionID)
		if !ok {
			return bad("subscriptionId", "The subscriptionId is not a GUID.")
		}
		req.SubscriptionID = id
	}
	p.granularity = charges.Daily
	if req.Hourly {
		p.granularity = charges.Hourly
	}
	return p, nil
}

// Start checks req and starts the job; it runs until done, independent of
// the caller's context.
func (r *Runner) Start(req Request) (Job, error) {
	p, err := req.check()
	if err != nil {
		return Job{}, err
	}
	subs, err := r.subscriptions(context.Background(), req)
	if err != nil {
		return Job{}, err
	}
	id := newID()
	j := &Job{ID: id, State: Running, Request: req, CreatedAt: r.clock().UTC(), Subscriptions: len(subs)}
	w, err := r.writer(req.Dataset, export.Options{Dir: filepath.Join(r.dir, id), Format: p.format})
	if err != nil {
		return Job{}, err
	}
	r.mu.Lock()
	r.jobs[id] = j
	snapshot := *j
	r.mu.Unlock()
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := Run(context.Background(), r.invoices, subs, p.from, p.to, p.granularity, w, func(done int, rows int64) {
			r.mu.Lock()
			j.Done, j.Rows = done, rows
			r.mu.Unlock()
		})
		var m *export.Manifest
		if err == nil {
			m, err = w.Close()
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		now := r.clock().UTC()
		j.FinishedAt = &now
		if err != nil {
			j.State, j.Error = Failed, err.Error()
			return
		}
		j.State, j.Manifest = Succeeded, m
	}()
	return snapshot, nil
}

func (r *Runner) writer(dataset string, opts export.Options) (Writer, error) {
	if dataset == "focus" {
		return export.NewFOCUSWriter(opts, export.FOCUSOptions{ProviderName: r.provider})
	}
	return export.NewCostDetailsWriter(opts)
}

// subscriptions are the subscriptions req selects, by id.
func (r *Runner) subscriptions(ctx context.Context, req Request) ([]string, error) {
	all, err := r.accounts.List(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range all {
		if (req.SubscriptionID == "" || s.SubscriptionID == req.SubscriptionID) && (req.BillingAccount == "" || s.BillingAccount == req.BillingAccount) {
			ids = append(ids, s.SubscriptionID)
		}
	}
	if req.SubscriptionID != "" && len(ids) == 0 {
		return nil, account.NotFound(req.SubscriptionID)
	}
	return ids, nil
}

// Run writes the cost rows of subs over [from, to) to w, calling progress
// after each subscription. The CLI and the jobs share it.
func Run(ctx context.Context, invoices *invoicing.Service, subs []string, from, to time.Time, granularity string, w Writer, progress func(done int, rows int64)) error {
	var rows int64
	for i, sub := range subs {
		rs, err := invoices.CostRows(ctx, sub, from, to, granularity)
		if err != nil {
			return fmt.Errorf("subscription %s: %w", sub, err)
		}
		for k := range rs {
			if err := w.Write(&rs[k]); err != nil {
				return err
			}
		}
		rows += int64(len(rs))
		if progress != nil {
			progress(i+1, rows)
		}
	}
	return nil
}

// Job returns a job by id.
func (r *Runner) Job(id string) (Job, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, ok := r.jobs[id]
	if !ok {
		return Job{}, false
	}
	return *j, true
}

// Jobs lists the jobs, newest first.
func (r *Runner) Jobs() []Job {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Job, 0, len(r.jobs))
	for _, j := range r.jobs {
		out = append(out, *j)
	}
	slices.SortFunc(out, func(a, b Job) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}

// File returns the path of a file of a finished job, when the job's
// manifest lists it (or it is the manifest).
func (r *Runner) File(id, name string) (string, bool) {
	j, ok := r.Job(id)
	if !ok || j.State != Succeeded || j.Manifest == nil {
		return "", false
	}
	if name == export.ManifestName {
		return filepath.Join(r.dir, id, name), true
	}
	for _, f := range j.Manifest.Files {
		if f.Name == name {
			return filepath.Join(r.dir, id, name), true
		}
	}
	return "", false
}

// Wait waits for the running jobs (for shutdown and tests).
func (r *Runner) Wait() { r.wg.Wait() }

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
