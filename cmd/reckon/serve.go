package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/reckon-billing/reckon/internal/account"
	"github.com/reckon-billing/reckon/internal/auth"
	"github.com/reckon-billing/reckon/internal/catalog"
	"github.com/reckon-billing/reckon/internal/charges"
	"github.com/reckon-billing/reckon/internal/demo"
	"github.com/reckon-billing/reckon/internal/exportjob"
	"github.com/reckon-billing/reckon/internal/httpapi"
	"github.com/reckon-billing/reckon/internal/invoicepdf"
	"github.com/reckon-billing/reckon/internal/invoicing"
	"github.com/reckon-billing/reckon/internal/portal"
	"github.com/reckon-billing/reckon/internal/store"
	"github.com/reckon-billing/reckon/internal/usage"
)

// The well-known credentials of demo mode, printed at start like Azurite's
// well-known account key. Only --demo creates them.
const (
	DemoOperatorID     = "reckon-demo-operator"
	DemoOperatorSecret = "reckon-demo-operator-secret"
	DemoReaderID       = "reckon-demo-reader"
	DemoReaderSecret   = "reckon-demo-reader-secret"
)

// defaultIssuer is the issuer of tokens when --issuer is not set: it must
// not depend on the listen address, or a restart on another address, or
// another node, would refuse the tokens issued before.
const defaultIssuer = "https://reckon.invalid/adfs"

// operatorCredentialsFile, in the data directory, holds the operator
// credentials generated at first start, for the CLI on the same machine.
const operatorCredentialsFile = "operator-credentials"

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
	pprofAddr      string
	issuer         string
	tokenLifetime  time.Duration
	external       auth.ExternalIssuer
	readsPerHour   int
	writesPerHour  int
	bootstrapID    string
	bootstrapKey   string
	invoices       invoiceFlags
	nats           natsFlags
	committers     int
	http           httpLimits
}

// httpLimits are serve's flags that protect the HTTP server from slow and
// abusive clients.
type httpLimits struct {
	readHeaderTimeout time.Duration
	readTimeout       time.Duration
	idleTimeout       time.Duration
	maxHeaderBytes    int
	maxConns          int
}

func (h *httpLimits) register(fs *flag.FlagSet) {
	fs.DurationVar(&h.readHeaderTimeout, "read-header-timeout", 10*time.Second, "how long a client may take to send a request's headers; slower ones are cut off")
	fs.DurationVar(&h.readTimeout, "read-timeout", 5*time.Minute, "how long a client may take to send a whole request, body included; slower ones are cut off")
	fs.DurationVar(&h.idleTimeout, "idle-timeout", 2*time.Minute, "how long an idle keep-alive connection stays open")
	fs.IntVar(&h.maxHeaderBytes, "max-header-bytes", 64<<10, "largest request header block, in bytes; larger ones are answered 431")
	fs.IntVar(&h.maxConns, "max-conns", 4096, "most connections held open at once; beyond it the connection idle the longest is closed, or the new one is refused (0: no limit)")
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
	fs.BoolVar(&c.demo, "demo", false, "load demo data and create the well-known demo principals (never for real data)")
	fs.Int64Var(&c.maxIngestBytes, "max-ingest-bytes", 64<<20, "largest ingest request body, in bytes")
	fs.IntVar(&c.committers, "ingest-committers", 0, "ingest transactions that may run at once (0: 1 on SQLite, whose writer is single, 4 on PostgreSQL)")
	fs.DurationVar(&c.settleMargin, "settle-margin", usage.DefaultConfig.SettleMargin, "how long after its end a reported window becomes readable")
	fs.IntVar(&c.sqliteCacheMiB, "sqlite-cache-mib", 256, "SQLite page cache per connection, in MiB")
	fs.StringVar(&c.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve Go profiling (net/http/pprof) on this separate address, e.g. 127.0.0.1:6060")
	fs.StringVar(&c.issuer, "issuer", defaultIssuer, "issuer (iss) of Reckon's tokens; every node sharing a store must use the same, e.g. https://billing.example.com/adfs")
	fs.DurationVar(&c.tokenLifetime, "token-lifetime", time.Hour, "lifetime of the access tokens Reckon issues")
	fs.StringVar(&c.external.Issuer, "external-issuer", "", "also trust tokens of this OIDC issuer (exact iss)")
	fs.StringVar(&c.external.JWKSURL, "external-jwks-url", "", "JWKS URL of the external issuer")
	fs.StringVar(&c.external.Audience, "external-audience", "", "audience the external issuer's tokens must carry")
	fs.StringVar(&c.external.PrincipalClaim, "external-principal-claim", "oid", "claim of external tokens that names the principal in role assignments")
	fs.IntVar(&c.readsPerHour, "reads-per-hour", 12000, "read requests a principal may make per subscription and hour (0: no limit)")
	fs.IntVar(&c.writesPerHour, "writes-per-hour", 12000, "write requests a principal may make per subscription and hour (0: no limit)")
	exportDir := fs.String("export-dir", "", "directory of background exports (default <data-dir>/exports); with several nodes, storage they all share")
	c.invoices.register(fs)
	c.nats.register(fs)
	c.http.register(fs)
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	c.bootstrapID = env.getenv("RECKON_BOOTSTRAP_CLIENT_ID")
	c.bootstrapKey = env.getenv("RECKON_BOOTSTRAP_CLIENT_SECRET")
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
	if (c.external.Issuer == "") != (c.external.JWKSURL == "") {
		return errors.New("serve: --external-issuer and --external-jwks-url go together")
	}
	log.Info("configuration", "addr", c.addr, "dataDir", c.dataDir, "db", store.RedactDSN(c.db), "tls", c.tlsMode(),
		"demo", c.demo, "maxIngestBytes", c.maxIngestBytes, "settleMargin", c.settleMargin.String(),
		"sqliteCacheMiB", c.sqliteCacheMiB, "issuer", c.issuer, "tokenLifetime", c.tokenLifetime.String(),
		"externalIssuer", c.external.Issuer, "readsPerHour", c.readsPerHour, "writesPerHour", c.writesPerHour,
		"readHeaderTimeout", c.http.readHeaderTimeout.String(), "readTimeout", c.http.readTimeout.String(),
		"idleTimeout", c.http.idleTimeout.String(), "maxHeaderBytes", c.http.maxHeaderBytes, "maxConns", c.http.maxConns,
		"bootstrapClientId", c.bootstrapID, "bootstrapClientSecret", redacted(c.bootstrapKey), "version", versionString())
	if c.demo {
		log.Warn("DEMO MODE: the well-known demo credentials are valid. Never use --demo for real data.")
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
	committers := c.committers
	if committers <= 0 {
		committers = db.IngestCommitters()
	}
	log.Info("ingest", "committers", committers)
	usageSvc := usage.NewService(db, clock, log, usage.Config{SettleMargin: c.settleMargin, Committers: committers})
	defer usageSvc.Close()
	chargesSvc := charges.NewService(accounts, cat, usageSvc, clock)
	ac := auth.Config{Issuer: c.issuer, TokenLifetime: c.tokenLifetime}
	if c.external.Issuer != "" {
		ext := c.external
		ac.External = &ext
	}
	authSvc := auth.NewService(db, clock, ac)
	if err := authSvc.Init(ctx); err != nil {
		return fmt.Errorf("serve: identity: %w", err)
	}
	demoToken, err := c.bootstrap(ctx, env, log, authSvc)
	if err != nil {
		return err
	}

	invCfg, err := c.invoices.config()
	if err != nil {
		return err
	}
	invCfg.SettleMargin, invCfg.Log = c.settleMargin, log
	invoiceSvc := invoicing.NewService(db, accounts, chargesSvc, invoicepdf.New(invoicepdf.Options{}), clock, invCfg)
	exports := exportjob.NewRunner(cmp.Or(*exportDir, filepath.Join(c.dataDir, "exports")), accounts, invoiceSvc, invCfg.Seller.Name, clock, exportjob.WithRepository(db))
	defer exports.Wait()
	downloadKey, err := db.Secret(ctx, "invoice-download")
	if err != nil {
		return err
	}
	registry := prometheus.NewRegistry()
	api := httpapi.New(httpapi.Config{
		MaxIngestBytes: c.maxIngestBytes, ReadsPerHour: c.readsPerHour, WritesPerHour: c.writesPerHour,
		DownloadLinkLifetime: c.invoices.downloadExpiry,
	}, httpapi.Deps{
		Log: log, Accounts: accounts, Catalog: cat, Usage: usageSvc, Charges: chargesSvc, Auth: authSvc,
		Invoicing: invoiceSvc, Exports: exports, DownloadKey: downloadKey, TokenKey: tokenKey,
		Registry: registry, Ready: db.Ping, Now: clock,
	})

	var tlsConfig *tls.Config
	handler := portal.Mount(api, portal.New(portal.Config{SecureCookies: c.tlsCert != "" || c.tlsSelfSigned}, portal.Deps{
		Log: log, DB: db, Accounts: accounts, Catalog: cat, Usage: usageSvc, Charges: chargesSvc, Auth: authSvc,
		Invoicing: invoiceSvc, Now: clock,
	}))
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

	stopNATS, err := c.nats.start(ctx, log, registry, usageSvc)
	if err != nil {
		return err
	}
	defer stopNATS()

	if c.invoices.closeInterval > 0 {
		// After the demo data: the demo's ended periods close at once.
		go invoiceSvc.RunScheduler(ctx, c.invoices.closeInterval)
	}

	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("serve: listen: %w", err)
	}
	// The connection limit counts TCP connections: it sits under TLS.
	var limiter *connLimiter
	if c.http.maxConns > 0 {
		limiter = newConnLimiter(ln, c.http.maxConns, tlsConfig == nil)
		ln = limiter
	}
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
	}
	srv := &http.Server{
		// Every body is bounded, whatever its route (413 beyond).
		Handler:           httpapi.LimitBodies(handler, c.maxIngestBytes),
		ReadHeaderTimeout: c.http.readHeaderTimeout,
		ReadTimeout:       c.http.readTimeout,
		IdleTimeout:       c.http.idleTimeout,
		MaxHeaderBytes:    c.http.maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	if limiter != nil {
		srv.ConnState = limiter.connState
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
		printDemoHelp(env, base, certFile, demoToken, demoSummary)
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
	stopNATS() // finish the NATS batches in flight while the usage service still takes them
	usageSvc.Close()
	log.Info("stopped")
	return nil
}

// bootstrap makes sure an operator can sign in. In demo mode it creates the
// well-known demo principals and returns a ready token of the demo reader.
// Otherwise the operator is RECKON_BOOTSTRAP_CLIENT_ID / _SECRET when given;
// when no operator exists yet, one is generated, printed once, and written
// to the data directory (mode 0600) for the CLI on this machine.
func (c *serveConfig) bootstrap(ctx context.Context, env environment, log *slog.Logger, a *auth.Service) (string, error) {
	if c.demo {
		if _, _, _, err := a.Bootstrap(ctx, DemoOperatorID, DemoOperatorSecret); err != nil {
			return "", fmt.Errorf("serve: demo operator: %w", err)
		}
		if _, _, err := a.PutPrincipal(ctx, DemoOperatorID, DemoReaderID, auth.PrincipalInput{DisplayName: "Demo reader", Secret: DemoReaderSecret}); err != nil {
			return "", fmt.Errorf("serve: demo reader: %w", err)
		}
		if _, _, err := a.PutAssignment(ctx, DemoOperatorID, "0d0d0000-0d0d-4d0d-8d0d-00000000a001",
			auth.Assignment{PrincipalID: DemoReaderID, RoleDefinitionName: auth.RoleReader, Scope: auth.ScopeRoot}); err != nil {
			return "", fmt.Errorf("serve: demo reader role: %w", err)
		}
		tok, err := a.IssueFor(ctx, DemoReaderID, "", 30*24*time.Hour)
		if err != nil {
			return "", err
		}
		return tok.AccessToken, nil
	}
	id, secret, generated, err := a.Bootstrap(ctx, c.bootstrapID, c.bootstrapKey)
	if err != nil {
		return "", fmt.Errorf("serve: bootstrap operator: %w", err)
	}
	if generated {
		path := filepath.Join(c.dataDir, operatorCredentialsFile)
		if err := os.WriteFile(path, []byte(id+"\n"+secret+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("serve: write %s: %w", path, err)
		}
		fmt.Fprintf(env.stderr, "\nNo operator existed, so one was created. Its secret is shown only this once:\n  client id:     %s\n  client secret: %s\n"+
			"It was also written to %s (mode 0600) for the reckon CLI on this machine.\n\n", id, secret, path)
		log.Warn("bootstrap operator created", "clientId", id, "credentialsFile", path)
	} else if id != "" {
		log.Info("bootstrap operator", "clientId", id)
	}
	return "", nil
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

func printDemoHelp(env environment, base, certFile, readerToken string, sum demo.Summary) {
	w := env.stdout
	fmt.Fprintf(w, "\nReckon demo is running at %s\n", base)
	fmt.Fprintf(w, "The portal: %s/portal (sign in with either demo credential below: client id and secret)\n\n", base)
	fmt.Fprintf(w, "Demo subscriptions:\n")
	for _, s := range sum.Subscriptions {
		fmt.Fprintf(w, "  %s  %s\n", s.SubscriptionID, s.DisplayName)
	}
	fmt.Fprintf(w, "\nWell-known demo credentials (service principals; tokens from %s/adfs/oauth2/token):\n", base)
	fmt.Fprintf(w, "  operator  client id %s  secret %s  (Operator)\n", DemoOperatorID, DemoOperatorSecret)
	fmt.Fprintf(w, "  reader    client id %s    secret %s    (Reader of every subscription)\n", DemoReaderID, DemoReaderSecret)
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
	fmt.Fprintf(w, "\nA token of the demo reader, valid for 30 days:\n  export TOKEN=%s\n", readerToken)
	fmt.Fprintf(w, "\nUsage of the last 7 days:\n")
	fmt.Fprintf(w, "  curl -s %s-H \"Authorization: Bearer $TOKEN\" '%s/subscriptions/%s/providers/Microsoft.Commerce/UsageAggregates?api-version=2015-06-01-preview&reportedStartTime=%s&reportedEndTime=%s&aggregationGranularity=Daily&showDetails=true'\n",
		curlTLS, base, sub, start.Format("2006-01-02T15:04:05Z"), end.Format("2006-01-02T15:04:05Z"))
	fmt.Fprintf(w, "\nThe subscription's RateCard (its own offer, currency, locale and region; add a $filter to choose):\n")
	fmt.Fprintf(w, "  curl -s --compressed %s-H \"Authorization: Bearer $TOKEN\" '%s/subscriptions/%s/providers/Microsoft.Commerce/RateCard?api-version=2016-08-31-preview'\n",
		curlTLS, base, sub)
	fmt.Fprintf(w, "\nIts estimated charges for the current billing period:\n")
	fmt.Fprintf(w, "  curl -s %s-H \"Authorization: Bearer $TOKEN\" '%s/subscriptions/%s/providers/Microsoft.Commerce/charges?api-version=2015-06-01-preview'\n",
		curlTLS, base, sub)
	fmt.Fprintf(w, "\nAn operator token, then the operator API:\n")
	fmt.Fprintf(w, "  curl -s %s-d grant_type=client_credentials -d client_id=%s -d client_secret=%s -d resource=https://management.core.windows.net/ %s/adfs/oauth2/token\n",
		curlTLS, DemoOperatorID, DemoOperatorSecret, base)
	fmt.Fprintf(w, "  RECKON_CLIENT_ID=%s RECKON_CLIENT_SECRET=%s reckon subscription list --server %s\n", DemoOperatorID, DemoOperatorSecret, base)
	fmt.Fprintf(w, "\nAzure SDKs and az: the token service is %s/adfs (ADFS style, client credentials). The SDKs send\n", base)
	fmt.Fprintf(w, "credentials only over HTTPS: start with --tls-self-signed and trust the certificate with SSL_CERT_FILE (Go),\n")
	fmt.Fprintf(w, "REQUESTS_CA_BUNDLE (az) or NODE_EXTRA_CA_CERTS (Node). See README.md, \"Pointing Azure clients at Reckon\".\n\n")
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
