package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/reckon-billing/reckon/internal/bench"
)

const benchUsage = `Usage:
  reckon bench ingest [flags]       HTTP ingestion vs the raw idempotent bulk load of the same records
  reckon bench aggregates [flags]   UsageAggregates latency, paging rows/s and RSS vs a raw segment scan
  reckon bench nats [flags]         NATS JetStream → store ingestion (serve --ingest-nats) vs the raw bulk load
  reckon bench nodes --db URL       HTTP ingestion into PostgreSQL through 1 and 2 "reckon serve" nodes vs the raw bulk load

Each benchmark starts a Reckon server in this process (real store, real HTTP API on
127.0.0.1) and measures a baseline in the same run. SQLite runs in a temporary
directory; --db postgres://… uses fresh databases on that server, dropped afterwards.
--small runs a smoke-test size in well under a minute. See BENCHMARKS.md.
Run "reckon bench ingest -h" or "reckon bench aggregates -h" for the flags.
`

func runBench(ctx context.Context, env environment, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, benchUsage)
		return exitError(2)
	}
	switch args[0] {
	case "ingest":
		return runBenchIngest(ctx, env, args[1:])
	case "aggregates", "usageaggregates":
		return runBenchAggregates(ctx, env, args[1:])
	case "nats":
		return runBenchNats(ctx, env, args[1:])
	case "nodes":
		return runBenchNodes(ctx, env, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(env.stdout, benchUsage)
		return nil
	default:
		fmt.Fprintf(env.stderr, "reckon bench: unknown benchmark %q\n\n%s", args[0], benchUsage)
		return exitError(2)
	}
}

// benchCommon are the flags both benchmarks take.
type benchCommon struct {
	db, tmp, json string
	small, keep   bool
	quiet         bool
	cpuProfile    string
}

func (c *benchCommon) register(fs *flag.FlagSet) {
	fs.StringVar(&c.db, "db", "", "PostgreSQL server (postgres://…) to create fresh databases on; empty for SQLite in a temporary directory")
	fs.StringVar(&c.tmp, "tmp", "", "directory for temporary SQLite stores (default: the system's temporary directory)")
	fs.StringVar(&c.json, "json", "", "also write the results to this file as JSON")
	fs.BoolVar(&c.small, "small", false, "smoke-test sizes (flags given explicitly still apply)")
	fs.BoolVar(&c.keep, "keep", false, "keep the stores instead of removing them")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines on standard error")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
}

// profile starts the CPU profile when one was asked for; the returned
// function stops it.
func (c *benchCommon) profile() (stop func(), err error) {
	if c.cpuProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(c.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func (c *benchCommon) spec() bench.StoreSpec {
	return bench.StoreSpec{PostgresDSN: c.db, TempDir: c.tmp, Keep: c.keep}
}

// setFlags lists the flags given on the command line or through RECKON_*.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// sizeFlags are a benchmark's integer size flags, each bound to a field of
// the configuration being built. Their defaults are the full benchmark's
// values; under --small the configuration starts from the small sizes and
// only the flags given explicitly apply.
type sizeFlags struct {
	fs    *flag.FlagSet
	flags []sizeFlag
}

type sizeFlag struct {
	name  string
	value *int
	field *int
}

// int registers flag name, whose default is *field's current value.
func (s *sizeFlags) int(name, usage string, field *int) {
	s.flags = append(s.flags, sizeFlag{name, s.fs.Int(name, *field, usage), field})
}

// apply sets the fields from the flags, after the flags were parsed. With
// small, toSmall first replaces the configuration by the small one.
func (s *sizeFlags) apply(small bool, toSmall func()) {
	set := setFlags(s.fs)
	if small {
		toSmall()
	}
	for _, f := range s.flags {
		if !small || set[f.name] {
			*f.field = *f.value
		}
	}
}

func runBenchIngest(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "bench ingest")
	var common benchCommon
	common.register(fs)
	c := bench.DefaultIngest()
	sizes := sizeFlags{fs: fs}
	sizes.int("records", "records to send (N)", &c.Records)
	sizes.int("clients", "concurrent HTTP clients (C)", &c.Clients)
	sizes.int("batch", "records per request body (B)", &c.Batch)
	sizes.int("subscriptions", "subscriptions the records belong to", &c.Subscriptions)
	sizes.int("meters", "meters the records use", &c.Meters)
	sizes.int("instances", "resources (instances) per subscription", &c.InstancesPerSubscription)
	sizes.int("baseline-tx", "records per transaction of the raw baseline", &c.BaselineTxRecords)
	noBaseline := fs.Bool("no-baseline", false, "skip the raw baseline")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench ingest: unexpected argument %q", fs.Arg(0))
	}
	sizes.apply(common.small, func() { c = bench.SmallIngest() })
	c.SkipBaseline = *noBaseline
	c.Store = common.spec()
	if !common.quiet {
		c.Progress = env.stderr
	}
	stop, err := common.profile()
	if err != nil {
		return err
	}
	res, err := bench.RunIngest(ctx, c)
	stop()
	return finishBench(env, &common, res, err, func() { bench.WriteIngest(env.stdout, res) })
}

func runBenchAggregates(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "bench aggregates")
	var common benchCommon
	common.register(fs)
	c := bench.DefaultAggregates()
	reuse := fs.String("reuse", "", "keep the data set in this directory and reuse it in later runs of the same size")
	sizes := sizeFlags{fs: fs}
	sizes.int("records", "records in the data set (N)", &c.Records)
	sizes.int("subscriptions", "subscriptions (S)", &c.Subscriptions)
	sizes.int("series", "instance×meter series per subscription", &c.Series)
	sizes.int("meters", "meters", &c.Meters)
	sizes.int("load-batch", "records per load transaction", &c.LoadBatch)
	sizes.int("load-cache-mib", "SQLite page cache while loading, in MiB", &c.LoadCacheMiB)
	sizes.int("first-page-requests", "first pages timed in (a), over different subscriptions", &c.FirstPageRequests)
	sizes.int("page-subscriptions", "subscriptions paged through in (b), per granularity", &c.PageSubscriptions)
	sizes.int("clients", "concurrent clients in (b) and (c)", &c.Clients)
	rssDuration := fs.Duration("rss-duration", c.RSSDuration, "how long (c) pages while sampling the RSS (0 skips it)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench aggregates: unexpected argument %q", fs.Arg(0))
	}
	sizes.apply(common.small, func() { c = bench.SmallAggregates() })
	if setFlags(fs)["rss-duration"] || !common.small {
		c.RSSDuration = *rssDuration
	}
	c.Reuse = *reuse
	c.Store = common.spec()
	if !common.quiet {
		c.Progress = env.stderr
	}
	stop, err := common.profile()
	if err != nil {
		return err
	}
	res, err := bench.RunAggregates(ctx, c)
	stop()
	return finishBench(env, &common, res, err, func() { bench.WriteAggregates(env.stdout, res) })
}

// finishBench prints a result (also when its checks failed), writes the
// JSON file, and returns the benchmark's error.
func finishBench[R any](env environment, common *benchCommon, res *R, err error, write func()) error {
	if res == nil {
		return err
	}
	write()
	if common.json != "" {
		if jerr := bench.WriteJSON(common.json, res); jerr != nil && err == nil {
			err = fmt.Errorf("bench: --json: %w", jerr)
		}
	}
	return err
}

// runBenchNodes is "reckon bench nodes": the ingest workload through one
// and then two "reckon serve" processes (this executable) on one
// PostgreSQL database, against the raw bulk load.
func runBenchNodes(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "bench nodes")
	var common benchCommon
	common.register(fs)
	c := bench.DefaultIngest()
	sizes := sizeFlags{fs: fs}
	sizes.int("records", "records to send (N)", &c.Records)
	sizes.int("clients", "concurrent HTTP clients (C), split evenly between the nodes", &c.Clients)
	sizes.int("batch", "records per request body (B)", &c.Batch)
	sizes.int("subscriptions", "subscriptions the records belong to", &c.Subscriptions)
	sizes.int("baseline-tx", "records per transaction of the raw baseline", &c.BaselineTxRecords)
	noBaseline := fs.Bool("no-baseline", false, "skip the raw baseline")
	profiles := fs.String("profile-dir", "", "write a CPU profile of each node of the two-node run into this directory")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench nodes: unexpected argument %q", fs.Arg(0))
	}
	sizes.apply(common.small, func() { c = bench.SmallIngest() })
	c.SkipBaseline = *noBaseline
	c.Store = common.spec()
	if !common.quiet {
		c.Progress = env.stderr
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench nodes: %w", err)
	}
	stop, err := common.profile()
	if err != nil {
		return err
	}
	res, err := bench.RunNodes(ctx, bench.NodesConfig{Ingest: c, Binary: exe, ProfileDir: *profiles})
	stop()
	return finishBench(env, &common, res, err, func() { bench.WriteNodes(env.stdout, res) })
}
