// Command reckon is the Reckon billing service and its command-line tool:
// one binary for the server (reckon serve) and every operator task.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			os.Exit(int(ee))
		}
		fmt.Fprintln(os.Stderr, "reckon:", err)
		os.Exit(1)
	}
}

// exitError ends the program with a status and no further message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usageText = `reckon — a self-hosted billing service with Azure-compatible billing APIs.

Usage:
  reckon serve [flags]              run the server (reckon serve --demo for a demo)
  reckon ingest [flags] FILE        send usage records (JSON array or NDJSON) to a server or a store
  reckon publish [flags] FILE       send usage records to a NATS JetStream stream (serve --ingest-nats)
  reckon subscription put|get|list  manage subscriptions through a server
  reckon meter put|get|list         manage meters through a server
  reckon offer put|get|list         manage offers (currencies, regions) through a server
  reckon catalog import [flags] FILE  import prices: a RateCard body or Azure Retail Prices items
  reckon rate --subscription ID     a subscription's estimated charges for a period
  reckon principal put|get|list|delete   manage service principals and portal users
  reckon role assign|list|delete    manage role assignments
  reckon audit                      list sign-ins and changes of principals, roles and access
  reckon close --subscription ID --period NAME [--force]   close a billing period and issue its invoice
  reckon invoice list|show|pdf      a subscription's invoices, and an invoice's PDF
  reckon export focus|details --out DIR --from D --to D   FOCUS 1.2 or cost-details files (CSV, Parquet)
  reckon bench [flags]              measure ingestion and UsageAggregates (see BENCHMARKS.md)
  reckon loadtest --server URL [flags]   drive a running server with N clients for a time (docs/loadtest.md)
  reckon version                    print the version

Run "reckon COMMAND -h" for a command's flags. Every flag can also be set
through the environment as RECKON_<FLAG> (for example RECKON_DB, RECKON_ADDR).
`

// run is the whole program, with its dependencies on the process passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usageText)
		return exitError(2)
	}
	env := environment{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return runServe(ctx, env, rest)
	case "ingest":
		return runIngest(ctx, env, rest)
	case "publish":
		return runPublish(ctx, env, rest)
	case "subscription", "subscriptions":
		return runResource(ctx, env, "subscriptions", rest)
	case "meter", "meters":
		return runResource(ctx, env, "meters", rest)
	case "offer", "offers":
		return runResource(ctx, env, "offers", rest)
	case "catalog":
		return runCatalog(ctx, env, rest)
	case "rate":
		return runRate(ctx, env, rest)
	case "principal", "principals":
		return runPrincipal(ctx, env, rest)
	case "role", "roles":
		return runRole(ctx, env, rest)
	case "audit":
		return runAudit(ctx, env, rest)
	case "close":
		return runClose(ctx, env, rest)
	case "export":
		return runExport(ctx, env, rest)
	case "invoice", "invoices":
		return runInvoice(ctx, env, rest)
	case "bench":
		return runBench(ctx, env, rest)
	case "loadtest":
		return runLoadtest(ctx, env, rest)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "reckon", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usageText)
		return nil
	default:
		fmt.Fprintf(stderr, "reckon: unknown command %q\n\n%s", cmd, usageText)
		return exitError(2)
	}
}

type environment struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			return bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}
