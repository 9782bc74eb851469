package main

import (
	"context"
	"fmt"

	"github.com/reckon-billing/reckon/internal/bench"
)

// runBenchNats is "reckon bench nats": records published to a JetStream
// stream, consumed by the NATS ingestion path into a fresh store, against
// the raw bulk load of the same records.
func runBenchNats(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "bench nats")
	var common benchCommon
	common.register(fs)
	d := bench.DefaultNATS()
	natsURL := fs.String("nats", d.NATSURL, "NATS server with JetStream (e.g. started with: go tool nats-server -js -sd DIR)")
	records := fs.Int("records", d.Records, "records to publish and consume (N)")
	batch := fs.Int("batch", d.Batch, "records per NATS message")
	subs := fs.Int("subscriptions", d.Subscriptions, "subscriptions the records belong to")
	meters := fs.Int("meters", d.Meters, "meters the records use")
	instances := fs.Int("instances", d.InstancesPerSubscription, "resources (instances) per subscription")
	workers := fs.Int("workers", d.Workers, "consumer workers (batches in flight)")
	nodes := fs.Int("nodes", 1, "Reckon nodes consuming the stream together (more than one needs --db postgres://…)")
	fetch := fs.Int("fetch", d.FetchMessages, "most messages per fetched batch")
	baselineTx := fs.Int("baseline-tx", d.BaselineTxRecords, "records per transaction of the raw baseline")
	noBaseline := fs.Bool("no-baseline", false, "skip the raw baseline")
	consumeProfile := fs.String("consume-cpuprofile", "", "write a CPU profile of the consume phase only to this file")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench nats: unexpected argument %q", fs.Arg(0))
	}
	c := d
	if common.small {
		c = bench.SmallNATS()
	}
	set := setFlags(fs)
	apply := func(name string, dst *int, v int) {
		if set[name] || !common.small {
			*dst = v
		}
	}
	apply("records", &c.Records, *records)
	apply("batch", &c.Batch, *batch)
	apply("subscriptions", &c.Subscriptions, *subs)
	apply("meters", &c.Meters, *meters)
	apply("instances", &c.InstancesPerSubscription, *instances)
	apply("workers", &c.Workers, *workers)
	c.Nodes = *nodes
	apply("fetch", &c.FetchMessages, *fetch)
	apply("baseline-tx", &c.BaselineTxRecords, *baselineTx)
	c.NATSURL = *natsURL
	c.SkipBaseline = *noBaseline
	c.ConsumeCPUProfile = *consumeProfile
	c.Store = common.spec()
	if !common.quiet {
		c.Progress = env.stderr
	}
	stop, err := common.profile()
	if err != nil {
		return err
	}
	res, err := bench.RunNATS(ctx, c)
	stop()
	return finishBench(env, &common, res, err, func() { bench.WriteNATS(env.stdout, res) })
}
