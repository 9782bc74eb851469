package exportjob_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/reckon-billing/reckon/internal/billing"
	"github.com/reckon-billing/reckon/internal/export"
	"github.com/reckon-billing/reckon/internal/exportjob"
	"github.com/reckon-billing/reckon/internal/reckontest"
)

const sub = "5e1f0000-0000-4000-8000-000000000001"

// TestSharedJobs: with the store as repository, a job started on node A is
// followed on node B (state, manifest) and B serves its files from the
// shared directory; a node that does not see the directory says why; a
// Running job whose node stopped renewing its heartbeat is marked Failed
// by the node that looks at it, exactly once, and the dead node can no
// longer write to it.
func TestSharedJobs(t *testing.T) {
	reckontest.ForEachBackend(t, func(t *testing.T, b reckontest.Backend) {
		clock := reckontest.NewClock(time.Date(2024, 4, 5, 0, 0, 0, 0, time.UTC))
		srv := reckontest.Start(t, reckontest.Options{Backend: b, Now: clock.Now})
		if resp, body := srv.Do(t, http.MethodPut, "/admin/v1/subscriptions/"+sub, srv.AdminToken, `{"displayName":"Export test","billingAccount":"contoso"}`); resp.StatusCode != http.StatusCreated {
			t.Fatalf("put subscription: %d %s", resp.StatusCode, body)
		}
		ctx := context.Background()
		dir := t.TempDir()
		runner := func(node, dir string) *exportjob.Runner {
			r := exportjob.NewRunner(dir, srv.Accounts, srv.Invoicing, "Test", clock.Now,
				exportjob.WithRepository(srv.DB), exportjob.WithNode(node), exportjob.WithHeartbeat(time.Second, 10*time.Second))
			t.Cleanup(r.Wait)
			return r
		}
		a, nb, other := runner("node-a", dir), runner("node-b", dir), runner("node-c", t.TempDir())

		started, err := a.Start(ctx, exportjob.Request{Dataset: "focus", From: "2024-03-01", To: "2024-04-01", SubscriptionID: sub})
		if err != nil || started.State != exportjob.Running || started.Node != "node-a" || started.Subscriptions != 1 {
			t.Fatalf("start: %+v %v", started, err)
		}
		a.Wait()
		j, ok, err := nb.Job(ctx, started.ID)
		if err != nil || !ok || j.State != exportjob.Succeeded || j.Manifest == nil || j.Done != 1 || j.Node != "node-a" || j.FinishedAt == nil {
			t.Fatalf("node B sees %+v (found %v, %v)", j, ok, err)
		}
		if j.Request.Dataset != "focus" || j.Request.SubscriptionID != sub || j.Request.Format != "csv" {
			t.Errorf("request on B: %+v", j.Request)
		}
		if len(j.Manifest.Files) == 0 {
			t.Fatalf("manifest without files: %+v", j.Manifest)
		}
		path, err := nb.File(ctx, started.ID, j.Manifest.Files[0].Name)
		if err != nil || path != filepath.Join(dir, started.ID, j.Manifest.Files[0].Name) {
			t.Fatalf("file on B: %q %v", path, err)
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatal(err)
		}
		var be *billing.Error
		if _, err := nb.File(ctx, started.ID, "../../etc/passwd"); !errors.As(err, &be) || be.Code != "ExportFileNotFound" {
			t.Errorf("a file outside the manifest: %v", err)
		}
		if _, err := other.File(ctx, started.ID, export.ManifestName); !errors.As(err, &be) || be.Code != "ExportFileUnavailable" || !strings.Contains(be.Message, "node-a") {
			t.Errorf("a node without the shared directory: %v", err)
		}
		list, err := nb.Jobs(ctx)
		if err != nil || len(list) != 1 || list[0].ID != started.ID {
			t.Fatalf("jobs on B: %+v %v", list, err)
		}

		// A job left Running by a node that died.
		now := clock.Now().UTC()
		dead := exportjob.Job{ID: "deadbeef", State: exportjob.Running, Request: exportjob.Request{Dataset: "focus", From: "2024-03-01", To: "2024-04-01"},
			CreatedAt: now, Subscriptions: 3, Node: "node-dead", Heartbeat: now}
		if err := srv.DB.CreateExportJob(ctx, dead); err != nil {
			t.Fatal(err)
		}
		clock.Advance(5 * time.Second) // not stale yet
		if j, _, err := nb.Job(ctx, dead.ID); err != nil || j.State != exportjob.Running {
			t.Fatalf("a fresh heartbeat: %+v %v", j, err)
		}
		// The node renews its heartbeat with progress.
		dead.Done, dead.Heartbeat = 1, clock.Now().UTC()
		if ok, err := srv.DB.UpdateExportJob(ctx, dead); !ok || err != nil {
			t.Fatalf("heartbeat: %v %v", ok, err)
		}
		clock.Advance(9 * time.Second)
		if j, _, err := nb.Job(ctx, dead.ID); err != nil || j.State != exportjob.Running || j.Done != 1 {
			t.Fatalf("a renewed heartbeat: %+v %v", j, err)
		}
		clock.Advance(2 * time.Second) // 11 s since the last heartbeat
		j, _, err = nb.Job(ctx, dead.ID)
		if err != nil || j.State != exportjob.Failed || !strings.Contains(j.Error, "node-dead") || j.FinishedAt == nil {
			t.Fatalf("a stale job: %+v %v", j, err)
		}
		// The dead node, back, cannot write to it any more; a second look
		// changes nothing.
		dead.State, dead.Heartbeat = exportjob.Succeeded, clock.Now().UTC()
		if ok, err := srv.DB.UpdateExportJob(ctx, dead); ok || err != nil {
			t.Errorf("the dead node updated its failed job: %v %v", ok, err)
		}
		if ok, err := srv.DB.FailStaleExportJob(ctx, dead.ID, j.Heartbeat, "again", clock.Now()); ok || err != nil {
			t.Errorf("failed twice: %v %v", ok, err)
		}
		j2, _, err := a.Job(ctx, dead.ID)
		if err != nil || j2.State != exportjob.Failed || j2.Error != j.Error {
			t.Errorf("node A sees %+v %v", j2, err)
		}

		// A running job that another node declares dead (its heartbeat, by
		// the shared clock, is the one it started with): the runner's
		// next heartbeat or its final update finds the job no longer its
		// own, and the Failed outcome stands.
		fast := exportjob.NewRunner(dir, srv.Accounts, srv.Invoicing, "Test", clock.Now,
			exportjob.WithRepository(srv.DB), exportjob.WithNode("node-fast"), exportjob.WithHeartbeat(time.Millisecond, 2*time.Millisecond))
		running, err := fast.Start(ctx, exportjob.Request{Dataset: "details", From: "2024-03-01", To: "2024-04-01"})
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := srv.DB.FailStaleExportJob(ctx, running.ID, running.Heartbeat, "declared dead", clock.Now()); !ok || err != nil {
			t.Fatalf("fail a running job: %v %v", ok, err)
		}
		fast.Wait()
		if j, _, err := nb.Job(ctx, running.ID); err != nil || j.State != exportjob.Failed || j.Error != "declared dead" || j.Manifest != nil {
			t.Errorf("the job declared dead ended as %+v %v", j, err)
		}
	})
}

// TestMemoryRunner: without a repository the runner keeps its jobs in
// memory and behaves the same for one node.
func TestMemoryRunner(t *testing.T) {
	clock := reckontest.NewClock(time.Date(2024, 4, 5, 0, 0, 0, 0, time.UTC))
	srv := reckontest.Start(t, reckontest.Options{Now: clock.Now})
	if resp, body := srv.Do(t, http.MethodPut, "/admin/v1/subscriptions/"+sub, srv.AdminToken, `{"displayName":"Export test","billingAccount":"contoso"}`); resp.StatusCode != http.StatusCreated {
		t.Fatalf("put subscription: %d %s", resp.StatusCode, body)
	}
	ctx := context.Background()
	r := exportjob.NewRunner(t.TempDir(), srv.Accounts, srv.Invoicing, "Test", clock.Now)
	j, err := r.Start(ctx, exportjob.Request{Dataset: "details", Format: "parquet", From: "2024-03-01", To: "2024-04-01"})
	if err != nil {
		t.Fatal(err)
	}
	r.Wait()
	j, ok, err := r.Job(ctx, j.ID)
	if err != nil || !ok || j.State != exportjob.Succeeded || j.Manifest == nil || j.Subscriptions != 1 || j.Done != 1 {
		t.Fatalf("job: %+v %v %v", j, ok, err)
	}
	if _, err := r.File(ctx, j.ID, export.ManifestName); err != nil {
		t.Fatal(err)
	}
	if list, err := r.Jobs(ctx); err != nil || len(list) != 1 {
		t.Fatalf("jobs: %+v %v", list, err)
	}
	if _, ok, err := r.Job(ctx, "nope"); ok || err != nil {
		t.Fatalf("unknown job: %v %v", ok, err)
	}
}
