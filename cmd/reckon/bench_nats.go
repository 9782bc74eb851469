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
	c := bench.DefaultNATS()
	natsURL := fs.String("nats", c.NATSURL, "NATS server with JetStream (e.g. started with: go tool nats-server -js -sd DIR)")
	sizes := sizeFlags{fs: fs}
	sizes.int("records", "records to publish and consume (N)", &c.Records)
	sizes.int("batch", "records per NATS message", &c.Batch)
	sizes.int("subscriptions", "subscriptions the records belong to", &c.Subscriptions)
	sizes.int("meters", "meters the records use", &c.Meters)
	sizes.int("instances", "resources (instances) per subscription", &c.InstancesPerSubscription)
	sizes.int("workers", "consumer workers (batches in flight)", &c.Workers)
	sizes.int("fetch", "most messages per fetched batch", &c.FetchMessages)
	sizes.int("baseline-tx", "records per transaction of the raw baseline", &c.BaselineTxRecords)
	nodes := fs.Int("nodes", 1, "Reckon nodes consuming the stream together (more than one needs --db postgres://…)")
	noBaseline := fs.Bool("no-baseline", false, "skip the raw baseline")
	consumeProfile := fs.String("consume-cpuprofile", "", "write a CPU profile of the consume phase only to this file")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench nats: unexpected argument %q", fs.Arg(0))
	}
	sizes.apply(common.small, func() { c = bench.SmallNATS() })
	c.Nodes = *nodes
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
