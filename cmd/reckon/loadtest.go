package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/reckon-billing/reckon/internal/loadtest"
)

const loadtestUsage = `Usage:
  reckon loadtest --server URL [flags]     drive a running server with N clients for a bounded time
  reckon loadtest chart RESULT.json OUT.png   draw the curve of a run from its --json file
  reckon loadtest summary RESULT.json [5m]    the run's intervals in blocks, as a Markdown table

The load test discovers the subscriptions (GET /subscriptions and the operator API)
and the meters (GET /admin/v1/meters, else a RateCard), then each client loops over the
--mix until --duration ends (ctrl-C stops it early; the report is printed either way):
  ingest      POST /metering/v1/usage, --batch new records (random ids, usage of the last hour)
  aggregates  UsageAggregates over the last --aggregate-days days, Daily, every page (nextLink)
  ratecard    the subscription's RateCard, with Accept-Encoding: gzip
  invoices    Invoices_List with $expand=downloadUrl, every page
  download    an invoice PDF through its download link (no token)
It prints a line per --report-every interval and a final report: requests, errors, req/s,
items/s, latency p50/p95/p99/max per operation, errors by HTTP status and ARM code, and the
server's RSS (/proc/PID/status when the server runs on this machine or --pid is given, else
process_resident_memory_bytes of --metrics-url) and goroutines (go_goroutines).
The exit status is 1 when a request failed or a record was rejected. See docs/loadtest.md.
Flags:
`

func runLoadtest(ctx context.Context, env environment, args []string) error {
	if len(args) > 0 && args[0] == "chart" {
		if len(args) != 3 {
			fmt.Fprintln(env.stderr, "usage: reckon loadtest chart RESULT.json OUT.png")
			return exitError(2)
		}
		res, err := loadtest.ReadJSON(args[1])
		if err != nil {
			return err
		}
		return loadtest.WriteChart(res, args[2])
	}
	if len(args) > 0 && args[0] == "summary" {
		if len(args) != 2 && len(args) != 3 {
			fmt.Fprintln(env.stderr, "usage: reckon loadtest summary RESULT.json [BLOCK]   (BLOCK: e.g. 5m, the default)")
			return exitError(2)
		}
		res, err := loadtest.ReadJSON(args[1])
		if err != nil {
			return err
		}
		block := 5 * time.Minute
		if len(args) == 3 {
			if block, err = time.ParseDuration(args[2]); err != nil || block <= 0 {
				return fmt.Errorf("loadtest summary: block %q is not a positive duration", args[2])
			}
		}
		res.WriteSummary(env.stdout, block)
		return nil
	}
	fs := newFlagSet(env, "loadtest")
	fs.Usage = func() {
		fmt.Fprint(env.stderr, loadtestUsage)
		fs.PrintDefaults()
	}
	var cf clientFlags
	cf.register(fs)
	dataDir := fs.String("data-dir", "./reckon-data", "data directory whose operator-credentials to sign in with when no client id or token is given")
	clients := fs.Int("clients", 4, "concurrent clients")
	duration := fs.Duration("duration", time.Minute, "how long the measured load runs")
	warmup := fs.Duration("warmup", 0, "run the same load this long before measuring (not counted), e.g. 10s")
	mixFlag := fs.String("mix", loadtest.DefaultMix.String(), "relative weights of the operations")
	rate := fs.Float64("rate", 0, "at most this many operations per second, all clients together (0: as fast as they go)")
	subs := fs.String("subscriptions", "auto", "subscriptions to load: auto (discover) or ID,ID,…")
	meters := fs.String("meters", "auto", "meters to ingest usage for: auto (discover) or ID,ID,…")
	batch := fs.Int("batch", 100, "records per ingest request")
	instances := fs.Int("instances", 20, "resources per subscription the ingested usage is spread over")
	aggDays := fs.Int("aggregate-days", 7, "UsageAggregates window: whole days ending at the last midnight UTC at least an hour ago")
	every := fs.Duration("report-every", 10*time.Second, "length of an interval (a progress line and a point of the curve)")
	timeout := fs.Duration("timeout", time.Minute, "timeout of one request")
	jsonOut := fs.String("json", "", "write the result with every interval to this file")
	chartOut := fs.String("chart", "", "draw the curve of the run (RSS, goroutines, percentiles, throughput) to this PNG")
	pid := fs.Int("pid", 0, "the server's process id, for its RSS from /proc (default: the listener of the server's port, when local)")
	var metricsURL string
	fs.StringVar(&metricsURL, "metrics-url", "", "the server's Prometheus endpoint (default SERVER/metrics)")
	fs.StringVar(&metricsURL, "rss-url", "", "same as --metrics-url")
	seed := fs.Uint64("seed", 0, "seed of the clients' random choices (0: random)")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("loadtest: unexpected argument %q", fs.Arg(0))
	}
	mix, err := loadtest.ParseMix(*mixFlag)
	if err != nil {
		return fmt.Errorf("loadtest: --%w", err)
	}
	if *clients < 1 || *clients > 10_000 {
		return errors.New("loadtest: --clients must be between 1 and 10000")
	}
	if *batch < 1 || *batch > 100_000 {
		return errors.New("loadtest: --batch must be between 1 and 100000")
	}
	if *duration <= 0 || *every <= 0 {
		return errors.New("loadtest: --duration and --report-every must be positive")
	}

	// The HTTP client of the server (with --cacert), and a token source
	// that signs in again before the token expires.
	c, err := cf.client(env, *dataDir)
	if err != nil {
		return err
	}
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 2**clients+4, 2**clients+4
	httpClient := &http.Client{Transport: tr}
	token := func(context.Context) (string, error) { return c.token, nil }
	if cf.token == "" {
		if id, secret := loadtestCredentials(env, &cf, *dataDir); id != "" && secret != "" {
			first := c.token
			token = loadtest.CachedToken(func(context.Context) (string, time.Time, error) {
				t := first
				if t == "" {
					var err error
					if t, err = c.signIn(id, secret); err != nil {
						return "", time.Time{}, err
					}
				}
				first = ""
				return t, tokenExpiry(t), nil
			})
		}
	}

	cfg := loadtest.Config{
		Server: c.base, HTTP: httpClient, Token: token, Clients: *clients, Duration: *duration, Warmup: *warmup,
		Mix: mix, Rate: *rate, Batch: *batch, Instances: *instances, AggregateDays: *aggDays, ReportEvery: *every, Timeout: *timeout,
		PID: *pid, MetricsURL: metricsURL, Progress: env.stdout, Seed: *seed,
		Subscriptions: listFlag(*subs), Meters: listFlag(*meters),
	}
	fmt.Fprintf(env.stdout, "reckon loadtest: %d clients for %s (warm-up %s) against %s, mix %s, rate %s\n", *clients, *duration, *warmup, c.base, mix, rateText(*rate))
	res, err := loadtest.Run(ctx, cfg)
	if err != nil {
		return err
	}
	res.WriteReport(env.stdout)
	if *jsonOut != "" {
		if err := res.WriteJSON(*jsonOut); err != nil {
			return fmt.Errorf("loadtest: %w", err)
		}
	}
	if *chartOut != "" {
		if err := loadtest.WriteChart(res, *chartOut); err != nil {
			return fmt.Errorf("loadtest: chart: %w", err)
		}
	}
	if res.Failed() {
		return exitError(1)
	}
	return nil
}

func rateText(r float64) string {
	if r <= 0 {
		return "unlimited"
	}
	return strconv.FormatFloat(r, 'g', -1, 64) + " operations/s"
}

// listFlag reads "auto" (or nothing) as nil, else a comma-separated list.
func listFlag(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "auto") {
		return nil
	}
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// loadtestCredentials are the client id and secret the CLI signs in with,
// found as clientFlags.client finds them.
func loadtestCredentials(env environment, cf *clientFlags, dataDir string) (string, string) {
	id := cf.clientID
	if id == "" {
		id = env.getenv("RECKON_CLIENT_ID")
	}
	if id != "" {
		return id, env.getenv("RECKON_CLIENT_SECRET")
	}
	if dataDir != "" {
		if b, err := os.ReadFile(filepath.Join(dataDir, operatorCredentialsFile)); err == nil {
			if f := strings.Fields(string(b)); len(f) == 2 {
				return f[0], f[1]
			}
		}
	}
	return "", ""
}

// tokenExpiry reads the exp claim of a JWT without verifying it (the
// server does that); zero when there is none.
func tokenExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return time.Time{}
	}
	return time.Unix(claims.Exp, 0)
}
