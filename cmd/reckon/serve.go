package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// DemoAdminToken is the well-known operator token of demo mode, printed at
// start like Azurite's well-known account key. Only --demo accepts it.
const DemoAdminToken = "reckon-demo-operator-token"

type serveConfig struct {
	addr           string
	dataDir        string
	db             string
	tlsCert        string
	tlsKey         string
	tlsSelfSigned  bool
	demo           bool
	maxIngestBytes int64
	settleMargin   time.Duration
	sqliteCacheMiB int
	logFormat      string
	logLevel       string
	adminToken     string
	ingestToken    string
	pprofAddr      string
}

func runServe(ctx context.Context, env environment, args []string) error {
	var c serveConfig
	fs := newFlagSet(env, "serve")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "listen address HOST:PORT")
	fs.StringVar(&c.dataDir, "data-dir", "./reckon-data", "data directory (SQLite database, certificates)")
	fs.StringVar(&c.db, "db", "", "database: postgres://… for PostgreSQL; empty for SQLite in the data directory")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.BoolVar(&c.tlsSelfSigned, "tls-self-signed", false, "serve HTTPS with a development certificate kept in the data directory")
	fs.BoolVar(&c.demo, "demo", false, "load demo data and accept any bearer token for the read APIs")
	fs.Int64Var(&c.maxIngestBytes, "max-ingest-bytes", 64<<20, "largest ingest request body, in bytes")
	fs.DurationVar(&c.settleMargin, "settle-margin", usage.DefaultConfig.SettleMargin, "how long after its end a reported window becomes readable")
	fs.IntVar(&c.sqliteCacheMiB, "sqlite-cache-mib", 256, "SQLite page cache per connection, in MiB")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve Go profiling (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	c.adminToken = env.getenv("RECKON_ADMIN_TOKEN")
	c.ingestToken = env.getenv("RECKON_INGEST_TOKEN")
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	log, err := newLogger(env, c.logFormat, c.logLevel)
	if err != nil {
		return err
	}
	if (c.tlsCert == "") != (c.tlsKey == "") {
		return errors.New("serve: --tls-cert and --tls-key go together")
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return fmt.Errorf("serve: data directory: %w", err)
	}
	tokenNote, err := c.resolveAdminToken()
	if err != nil {
		return err
	}
	log.Info("configuration", "addr", c.addr, "dataDir", c.dataDir, "db", store.RedactDSN(c.db), "tls", c.tlsMode(),
		"demo", c.demo, "maxIngestBytes", c.maxIngestBytes, "settleMargin", c.settleMargin.String(),
		"sqliteCacheMiB", c.sqliteCacheMiB, "adminToken", redacted(c.adminToken), "ingestToken", redacted(c.ingestToken), "version", versionString())
	log.Warn("interim authentication: the operator bearer token (RECKON_ADMIN_TOKEN) may call everything; " + tokenNote)
	if c.demo {
		log.Warn("DEMO MODE: any bearer token may call the read APIs, and the well-known demo operator token is accepted. Never use --demo for real data.")
	}

	db, err := store.Open(ctx, c.db, c.dataDir, store.Options{SQLiteCacheMiB: c.sqliteCacheMiB})
	if err != nil {
		return err
	}
	defer db.Close()
	log.Info("store open", "store", db.String())
	tokenKey, err := db.Secret(ctx, "continuation-token")
	if err != nil {
		return err
	}
	clock := time.Now
	accounts := account.NewService(db, clock)
	cat := catalog.NewService(db, clock)
	usageSvc := usage.NewService(db, clock, log, usage.Config{SettleMargin: c.settleMargin})
	defer usageSvc.Close()
	chargesSvc := charges.NewService(accounts, cat, usageSvc, clock)

	api := httpapi.New(httpapi.Config{
		AdminToken: c.adminToken, IngestToken: c.ingestToken, Demo: c.demo, MaxIngestBytes: c.maxIngestBytes,
	}, httpapi.Deps{
		Log: log, Accounts: accounts, Catalog: cat, Usage: usageSvc, Charges: chargesSvc, TokenKey: tokenKey,
		Registry: prometheus.NewRegistry(), Ready: db.Ping, Now: clock,
	})

	var tlsConfig *tls.Config
	var certFile string
	switch {
	case c.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("serve: TLS: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		certFile = c.tlsCert
	case c.tlsSelfSigned:
		cert, path, err := selfSignedCertificate(filepath.Join(c.dataDir, "tls"), c.addr, time.Now())
		if err != nil {
			return fmt.Errorf("serve: self-signed certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		certFile = path
		log.Info("development certificate", "file", path, "trust", "SSL_CERT_FILE="+path+" (Go, az) or NODE_EXTRA_CA_CERTS="+path+" (Node)")
	}

	var demoSummary demo.Summary
	if c.demo {
		// Loaded before listening, so that the first request sees the data.
		start := time.Now()
		demoSummary, err = demo.Load(ctx, demo.Services{Accounts: accounts, Catalog: cat, Usage: usageSvc}, time.Now())
		if err != nil {
			return fmt.Errorf("serve: demo data: %w", err)
		}
		log.Info("demo data loaded", "subscriptions", len(demoSummary.Subscriptions), "meters", demoSummary.Meters,
			"records", demoSummary.Records, "newRecords", demoSummary.Accepted, "took", time.Since(start).Round(time.Millisecond).String())
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	base := scheme + "://" + displayAddr(ln.Addr().String())

	if c.pprofAddr != "" {
		go func() {
			log.Info("profiling endpoint", "url", "http://"+c.pprofAddr+"/debug/pprof/")
			if err := http.ListenAndServe(c.pprofAddr, pprofMux()); err != nil {
				log.Warn("profiling endpoint", "err", err)
			}
		}()
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "url", base)
	if c.demo {
		printDemoHelp(env, base, certFile, c.adminToken, demoSummary)
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	usageSvc.Close()
	log.Info("stopped")
	return nil
}

// resolveAdminToken settles the operator token and says where it came from.
func (c *serveConfig) resolveAdminToken() (string, error) {
	switch {
	case c.adminToken != "":
		return "it is set from RECKON_ADMIN_TOKEN.", nil
	case c.demo:
		c.adminToken = DemoAdminToken
		return "demo mode uses the well-known demo token.", nil
	}
	path := filepath.Join(c.dataDir, "admin-token")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		c.adminToken = strings.TrimSpace(string(b))
		return "it was read from " + path + ".", nil
	}
	buf := make([]byte, 24)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	c.adminToken = hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(c.adminToken+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("serve: write %s: %w", path, err)
	}
	return "RECKON_ADMIN_TOKEN was not set, so one was generated and written to " + path + " (mode 0600).", nil
}

func (c *serveConfig) tlsMode() string {
	switch {
	case c.tlsCert != "":
		return "certificate " + c.tlsCert
	case c.tlsSelfSigned:
		return "self-signed"
	}
	return "off"
}

func redacted(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "(set, redacted)"
}

func displayAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func newLogger(env environment, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("serve: --log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(env.stderr, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(env.stderr, opts)), nil
	}
	return nil, fmt.Errorf("serve: --log-format must be text or json")
}

func printDemoHelp(env environment, base, certFile, token string, sum demo.Summary) {
	w := env.stdout
	fmt.Fprintf(w, "\nReckon demo is running at %s\n\n", base)
	fmt.Fprintf(w, "Demo subscriptions:\n")
	for _, s := range sum.Subscriptions {
		fmt.Fprintf(w, "  %s  %s\n", s.SubscriptionID, s.DisplayName)
	}
	if len(sum.Subscriptions) == 0 {
		return
	}
	sub := sum.Subscriptions[0].SubscriptionID
	end := time.Now().UTC().Truncate(24 * time.Hour)
	start := end.AddDate(0, 0, -7)
	curlTLS := ""
	if certFile != "" {
		curlTLS = "--cacert " + certFile + " "
	}
	fmt.Fprintf(w, "\nUsage of the last 7 days (any bearer token works for reads in demo mode):\n")
	fmt.Fprintf(w, "  curl -s %s-H 'Authorization: Bearer demo' '%s/subscriptions/%s/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview&reportedStartTime=%s&reportedEndTime=%s&aggregationGranularity=Daily&showDetails=true'\n",
		curlTLS, base, sub, start.Format("2006-01-02T15:04:05Z"), end.Format("2006-01-02T15:04:05Z"))
	fmt.Fprintf(w, "\nThe subscription's RateCard (its own offer, currency, locale and region; add a $filter to choose):\n")
	fmt.Fprintf(w, "  curl -s --compressed %s-H 'Authorization: Bearer demo' '%s/subscriptions/%s/providers/Microsoft.Commerce/RateCard?api-version=2016-08-31-preview'\n",
		curlTLS, base, sub)
	fmt.Fprintf(w, "\nIts estimated charges for the current billing period:\n")
	fmt.Fprintf(w, "  curl -s %s-H 'Authorization: Bearer demo' '%s/subscriptions/%s/providers/Microsoft.Commerce/charges?api-version=2015-06-01-preview'\n",
		curlTLS, base, sub)
	fmt.Fprintf(w, "\nOperator API (well-known demo operator token):\n  curl -s %s-H 'Authorization: Bearer %s' %s/admin/v1/subscriptions\n", curlTLS, token, base)
	fmt.Fprintf(w, "\nAzure SDK for Go (armcommerce): set the cloud's ResourceManager endpoint to %s with audience\n", base)
	fmt.Fprintf(w, "https://management.core.windows.net/ and use any TokenCredential. The SDK sends credentials only over\n")
	fmt.Fprintf(w, "HTTPS: start with --tls-self-signed and trust the certificate with SSL_CERT_FILE (Go, az) or\n")
	fmt.Fprintf(w, "NODE_EXTRA_CA_CERTS (Node). See README.md, \"Pointing Azure clients at Reckon\".\n\n")
}

// pprofMux serves the Go profiler; it is only ever mounted on its own listener.
func pprofMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return m
}
