package compat_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// track1Dir is the separate module of the track-1 Azure SDK for Go tests.
const track1Dir = "track1"

// TestAzureSDKForGoTrack1 runs the tests of compat/track1, a module of its
// own (see compat/track1/doc.go), with "go test" as a subprocess, so that
// the README's "go test ./..." covers the track-1 client without putting
// its 69 MB module in the main go.mod. -short skips it. When the modules
// cannot be downloaded it skips, except in CI (CI=true), where it fails.
//
// The subprocess runs with -count=1: whether it runs at all is decided by
// this test's own cache entry, which go test keys on the files and
// environment variables this test reads, so every file of compat/track1,
// the main go.mod and go.sum, and the variables the subprocess depends on
// are read here. It uses copies of compat/track1/go.mod and go.sum
// (-modfile) with -mod=mod, so that a change of the main module's
// requirements does not break it, and the working tree is never written.
func TestAzureSDKForGoTrack1(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the track-1 Azure SDK for Go (compat/track1, a 69 MB module)")
	}
	goTool := requireTool(t, "go")
	modfile := filepath.Join(t.TempDir(), "go.mod")
	readForCache(t, modfile)
	env := append(os.Environ(), "GOWORK=off")

	deadline := time.Now().Add(9 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-15 * time.Second)
	}
	ctx, cancel := context.WithDeadline(t.Context(), deadline)
	defer cancel()
	run := func(args ...string) (string, time.Duration, error) {
		start := time.Now()
		cmd := exec.CommandContext(ctx, goTool, args...)
		cmd.Dir, cmd.Env = track1Dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), time.Since(start).Round(time.Millisecond), err
	}

	out, took, err := run("mod", "download", "-modfile="+modfile)
	if err != nil {
		msg := "cannot download the modules of compat/track1 (github.com/Azure/azure-sdk-for-go v68, 69 MB): " + err.Error() + "\n" + out
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Logf("go mod download: %v", took)

	out, took, err = run("vet", "-mod=mod", "-modfile="+modfile, "./...")
	if err != nil {
		t.Fatalf("go vet in compat/track1 (%v): %v\n%s", took, err, out)
	}
	t.Logf("go vet: %v", took)

	timeout := max(time.Until(deadline)-10*time.Second, time.Minute)
	out, took, err = run("test", "-mod=mod", "-modfile="+modfile, "-count=1", "-v", "-timeout="+timeout.Round(time.Second).String(), "./...")
	if err != nil {
		t.Fatalf("go test in compat/track1 (%v): %v\n%s", took, err, out)
	}
	var summary []string // the results of the tests and subtests
	for _, line := range strings.Split(out, "\n") {
		if trimmed := strings.TrimSpace(line); strings.HasPrefix(trimmed, "--- ") || strings.HasPrefix(line, "ok ") {
			summary = append(summary, line)
		}
	}
	t.Logf("go test: %v\n%s", took, strings.Join(summary, "\n"))

	if changed, err := os.ReadFile(modfile); err == nil {
		if orig, _ := os.ReadFile(filepath.Join(track1Dir, "go.mod")); !bytes.Equal(changed, orig) {
			t.Logf("compat/track1/go.mod lags behind the main module; update it with: cd compat/track1 && GOFLAGS=-mod=mod go mod tidy")
		}
	}
}

// readForCache reads what the track-1 subprocess depends on, so that go
// test's cache of this test notices a change, and copies compat/track1's
// go.mod and go.sum next to modfile.
func readForCache(t *testing.T, modfile string) {
	t.Helper()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(track1Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		dst := strings.TrimSuffix(modfile, ".mod") + filepath.Ext(name)
		if err := os.WriteFile(dst, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.WalkDir(track1Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		_, err = os.ReadFile(path)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"../go.mod", "../go.sum"} {
		if _, err := os.ReadFile(name); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range []string{"RECKON_TEST_POSTGRES_DSN", "CI", "GOFLAGS", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE",
		"GONOPROXY", "GOINSECURE", "GOTOOLCHAIN", "GOCACHE", "GOMODCACHE", "GOPATH", "GOROOT", "PATH", "HOME", "SSL_CERT_FILE"} {
		os.Getenv(v)
	}
}
