// Package exportjob runs exports (FOCUS, cost details) in the background:
// an operator asks for one, follows its progress, and downloads its files.
// The rows come from invoicing.Service.CostRows, so a closed period's
// export totals its invoice.
//
// With a shared Repository (the store), every node answers for every job:
// the job's row holds its state, progress and manifest, and the node that
// runs it renews a heartbeat in the row. A Running job whose heartbeat is
// older than the stale time is marked Failed by the first node that looks
// at it (its node died or lost the database); the operator starts it
// again. The files are written under the runner's directory, which must be
// shared storage (NFS, a mounted volume) when several nodes serve
// downloads. Without a Repository the jobs live in this process only.
package exportjob

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	// Node runs the job; Heartbeat is when it last said it still does.
	Node      string    `json:"node"`
	Heartbeat time.Time `json:"heartbeatTime"`
}

// Repository keeps the jobs where every node sees them (the store).
type Repository interface {
	// CreateExportJob stores a new job.
	CreateExportJob(ctx context.Context, j Job) error
	// UpdateExportJob writes j's state, progress, error, manifest and
	// heartbeat, only while the stored job is Running on j.Node; it
	// reports whether it did.
	UpdateExportJob(ctx context.Context, j Job) (bool, error)
	// FailStaleExportJob marks job id Failed with message, only while it is
	// Running with the given heartbeat; it reports whether it did.
	FailStaleExportJob(ctx context.Context, id string, heartbeat time.Time, message string, at time.Time) (bool, error)
	// ExportJob returns a job by id.
	ExportJob(ctx context.Context, id string) (Job, bool, error)
	// ExportJobs returns the newest limit jobs, newest first.
	ExportJobs(ctx context.Context, limit int) ([]Job, error)
}

// Defaults of the heartbeat.
const (
	DefaultHeartbeat  = 5 * time.Second
	DefaultStaleAfter = 60 * time.Second
)

// listLimit bounds Jobs.
const listLimit = 1000

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

	repo       Repository
	node       string
	heartbeat  time.Duration
	staleAfter time.Duration

	mu    sync.Mutex
	local map[string]*Job // the jobs running on this node
	wg    sync.WaitGroup
}

// Option configures a Runner.
type Option func(*Runner)

// WithRepository keeps the jobs in repo (the store), shared by every node
// on it. Without it they live in this process only.
func WithRepository(repo Repository) Option { return func(r *Runner) { r.repo = repo } }

// WithNode names this node in the jobs it runs (default: the host name and
// a random suffix, unique per process).
func WithNode(name string) Option { return func(r *Runner) { r.node = name } }

// WithHeartbeat sets how often a running job renews its heartbeat and how
// old a heartbeat must be for its job to count as abandoned.
func WithHeartbeat(every, staleAfter time.Duration) Option {
	return func(r *Runner) { r.heartbeat, r.staleAfter = every, staleAfter }
}

// NewRunner returns a runner writing its exports under dir. provider is
// the operator's name in FOCUS rows.
func NewRunner(dir string, accounts *account.Service, invoices *invoicing.Service, provider string, clock billing.Clock, opts ...Option) *Runner {
	r := &Runner{dir: dir, accounts: accounts, invoices: invoices, provider: provider, clock: clock,
		heartbeat: DefaultHeartbeat, staleAfter: DefaultStaleAfter, local: map[string]*Job{}}
	for _, o := range opts {
		o(r)
	}
	if r.repo == nil {
		r.repo = &memRepository{jobs: map[string]Job{}}
	}
	if r.node == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "node"
		}
		r.node = host + "-" + newID()[:8]
	}
	if r.heartbeat <= 0 {
		r.heartbeat = DefaultHeartbeat
	}
	if r.staleAfter < 2*r.heartbeat {
		r.staleAfter = 2 * r.heartbeat
	}
	return r
}

// Node is the name of this node in its jobs.
func (r *Runner) Node() string { return r.node }

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
// the caller's context (a node that stops waits for its jobs: see Wait).
func (r *Runner) Start(ctx context.Context, req Request) (Job, error) {
	p, err := req.check()
	if err != nil {
		return Job{}, err
	}
	subs, err := r.subscriptions(ctx, req)
	if err != nil {
		return Job{}, err
	}
	id := newID()
	now := r.clock().UTC().Truncate(time.Microsecond)
	j := &Job{ID: id, State: Running, Request: req, CreatedAt: now, Subscriptions: len(subs), Node: r.node, Heartbeat: now}
	dir := filepath.Join(r.dir, id)
	w, err := r.writer(req.Dataset, export.Options{Dir: dir, Format: p.format})
	if err != nil {
		return Job{}, err
	}
	if err := r.repo.CreateExportJob(ctx, *j); err != nil {
		w.Close()
		os.RemoveAll(dir)
		return Job{}, err
	}
	r.mu.Lock()
	r.local[id] = j
	snapshot := *j
	r.mu.Unlock()
	r.wg.Add(1)
	go r.run(j, subs, p, w)
	return snapshot, nil
}

// run runs job j, renewing its heartbeat (with its progress) until done. When
// the row says the job is no longer Running here (another node found its
// heartbeat stale), it stops.
func (r *Runner) run(j *Job, subs []string, p parsed, w Writer) {
	defer r.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop, beating := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(beating)
		t := time.NewTicker(r.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if ok, err := r.flush(j); err == nil && !ok {
					cancel() // taken away from this node: stop writing
					return
				}
			}
		}
	}()
	err := Run(ctx, r.invoices, subs, p.from, p.to, p.granularity, w, func(done int, rows int64) {
		r.mu.Lock()
		j.Done, j.Rows = done, rows
		r.mu.Unlock()
	})
	var m *export.Manifest
	if err == nil {
		m, err = w.Close()
	} else {
		w.Close()
	}
	close(stop)
	<-beating
	r.mu.Lock()
	now := r.clock().UTC().Truncate(time.Microsecond)
	j.FinishedAt = &now
	if err != nil {
		j.State, j.Error = Failed, err.Error()
	} else {
		j.State, j.Manifest = Succeeded, m
	}
	r.mu.Unlock()
	// The outcome must reach the row: retry a database that is briefly away.
	for attempt := 0; attempt < 5; attempt++ {
		if _, err := r.flush(j); err == nil {
			break
		}
		time.Sleep(time.Duration(attempt+1) * time.Second)
	}
	r.mu.Lock()
	delete(r.local, j.ID)
	r.mu.Unlock()
}

// flush writes j (with a fresh heartbeat) to the repository.
func (r *Runner) flush(j *Job) (bool, error) {
	r.mu.Lock()
	j.Heartbeat = r.clock().UTC().Truncate(time.Microsecond)
	snapshot := *j
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return r.repo.UpdateExportJob(ctx, snapshot)
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

// Job returns a job by id, from whichever node runs it.
func (r *Runner) Job(ctx context.Context, id string) (Job, bool, error) {
	j, ok, err := r.repo.ExportJob(ctx, id)
	if err != nil || !ok {
		return Job{}, ok, err
	}
	j, err = r.current(ctx, j)
	return j, err == nil, err
}

// current completes a stored job: the freshest progress when it runs here,
// or Failed when it runs nowhere any more (its node's heartbeat is stale).
func (r *Runner) current(ctx context.Context, j Job) (Job, error) {
	if j.State != Running {
		return j, nil
	}
	r.mu.Lock()
	l, here := r.local[j.ID]
	if here {
		j.Done, j.Rows, j.Heartbeat = l.Done, l.Rows, l.Heartbeat
	}
	r.mu.Unlock()
	now := r.clock().UTC().Truncate(time.Microsecond)
	if here || now.Sub(j.Heartbeat) <= r.staleAfter {
		return j, nil
	}
	msg := fmt.Sprintf("The node %s that ran this export stopped (no heartbeat since %s). Start the export again.", j.Node, j.Heartbeat.Format(time.RFC3339))
	if _, err := r.repo.FailStaleExportJob(ctx, j.ID, j.Heartbeat, msg, now); err != nil {
		return Job{}, err
	}
	// Whoever won (this node, another one, or the job's own node finishing
	// just in time), the row now says what happened.
	id := j.ID
	j, ok, err := r.repo.ExportJob(ctx, id)
	if err == nil && !ok {
		err = fmt.Errorf("export job %s vanished", id)
	}
	return j, err
}

// Jobs lists the newest jobs (up to 1000), newest first.
func (r *Runner) Jobs(ctx context.Context) ([]Job, error) {
	all, err := r.repo.ExportJobs(ctx, listLimit)
	if err != nil {
		return nil, err
	}
	for i := range all {
		if all[i], err = r.current(ctx, all[i]); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// File returns the path of a file of a finished job, when the job's
// manifest lists it (or it is the manifest). A job written by another node
// into an export directory this node does not see is an error that says so.
func (r *Runner) File(ctx context.Context, id, name string) (string, error) {
	notFound := billing.NotFound("ExportFileNotFound", "file", "The export file could not be found.")
	j, ok, err := r.Job(ctx, id)
	if err != nil {
		return "", err
	}
	if !ok || j.State != Succeeded || j.Manifest == nil {
		return "", notFound
	}
	listed := name == export.ManifestName
	for _, f := range j.Manifest.Files {
		listed = listed || f.Name == name
	}
	if !listed {
		return "", notFound
	}
	path := filepath.Join(r.dir, id, name)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return "", billing.NotFound("ExportFileUnavailable", "file",
			"The export was written by node %s into an export directory this node (%s) does not see: with several nodes, --export-dir must be storage they share.", j.Node, r.node)
	} else if err != nil {
		return "", err
	}
	return path, nil
}

// Wait waits for the jobs running on this node (for shutdown and tests).
func (r *Runner) Wait() { r.wg.Wait() }

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// memRepository keeps the jobs of a runner without a store.
type memRepository struct {
	mu   sync.Mutex
	jobs map[string]Job
}

func (m *memRepository) CreateExportJob(_ context.Context, j Job) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.jobs[j.ID] = j
	return nil
}

func (m *memRepository) UpdateExportJob(_ context.Context, j Job) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.jobs[j.ID]
	if !ok || old.State != Running || old.Node != j.Node {
		return false, nil
	}
	j.Request, j.CreatedAt, j.Subscriptions = old.Request, old.CreatedAt, old.Subscriptions
	m.jobs[j.ID] = j
	return true, nil
}

func (m *memRepository) FailStaleExportJob(_ context.Context, id string, heartbeat time.Time, message string, at time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	if !ok || j.State != Running || !j.Heartbeat.Equal(heartbeat) {
		return false, nil
	}
	j.State, j.Error, j.FinishedAt = Failed, message, &at
	m.jobs[id] = j
	return true, nil
}

func (m *memRepository) ExportJob(_ context.Context, id string) (Job, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[id]
	return j, ok, nil
}

func (m *memRepository) ExportJobs(_ context.Context, limit int) ([]Job, error) {
	m.mu.Lock()
	out := make([]Job, 0, len(m.jobs))
	for _, j := range m.jobs {
		out = append(out, j)
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b Job) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out[:min(len(out), limit)], nil
}
