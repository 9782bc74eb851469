package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"context"
	"flag"
	"log/slog"
	"time"

	"github.com/reckon-billing/reckon/internal/natsingest"
	"github.com/reckon-billing/reckon/internal/usage"
)

// natsFlags configure the NATS JetStream ingestion path of serve.
type natsFlags struct {
	url           string
	stream        string
	subject       string
	durable       string
	deadLetter    string
	credsFile     string
	tokenFile     string
	workers       int
	fetch         int
	maxAckPending int
	ackWait       time.Duration
}

func (n *natsFlags) register(fs *flag.FlagSet) {
	d := natsingest.Defaults
	fs.StringVar(&n.url, "ingest-nats", "", "also ingest usage records from this NATS JetStream server, e.g. nats://127.0.0.1:4222 (see docs/nats.md)")
	fs.StringVar(&n.stream, "ingest-nats-stream", d.Stream, "JetStream stream of usage records (created with file storage when missing)")
	fs.StringVar(&n.subject, "ingest-nats-subject", d.Subject, "subject filter of the usage consumer (and subject of a stream it creates)")
	fs.StringVar(&n.durable, "ingest-nats-durable", d.Durable, "name of the durable pull consumer (shared by every node)")
	fs.StringVar(&n.deadLetter, "ingest-nats-dead-letter", d.DeadLetterSubject, "subject receiving one message per rejected record")
	fs.StringVar(&n.credsFile, "ingest-nats-creds", "", "NATS credentials file (JWT and NKey), if the server needs one")
	fs.StringVar(&n.tokenFile, "ingest-nats-token-file", "", "file holding a NATS authentication token, if the server needs one")
	fs.IntVar(&n.workers, "ingest-nats-workers", d.Workers, "batches in flight at once (each is fetched, committed, then acknowledged)")
	fs.IntVar(&n.fetch, "ingest-nats-batch", d.FetchMessages, "most messages fetched and committed as one batch")
	fs.IntVar(&n.maxAckPending, "ingest-nats-max-ack-pending", d.MaxAckPending, "most messages delivered and not yet acknowledged")
	fs.DurationVar(&n.ackWait, "ingest-nats-ack-wait", d.AckWait, "how long NATS waits for an acknowledgement before redelivering (after a crash, unacknowledged messages come back after it)")
}

// start starts consuming when --ingest-nats is set; the returned function
// stops the consumer (it finishes the batches in flight) and waits for it.
func (n *natsFlags) start(ctx context.Context, log *slog.Logger, reg prometheus.Registerer, u *usage.Service) (stop func(), err error) {
	if n.url == "" {
		return func() {}, nil
	}
	c, err := natsingest.Start(ctx, natsingest.Config{
		URL: n.url, Stream: n.stream, Subject: n.subject, Durable: n.durable, DeadLetterSubject: n.deadLetter,
		CredsFile: n.credsFile, TokenFile: n.tokenFile, Workers: n.workers, FetchMessages: n.fetch,
		MaxAckPending: n.maxAckPending, AckWait: n.ackWait, Log: log, Registerer: reg,
	}, u)
	if err != nil {
		return nil, err
	}
	return c.Stop, nil
}
