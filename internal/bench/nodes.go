package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// NodesConfig configures the scaling benchmark: HTTP ingestion into one
// PostgreSQL database through one "reckon serve" process, then through two
// (the clients split between them), against the raw bulk load of the same
// records, all in one run.
type NodesConfig struct {
	// Ingest sizes the workload; Ingest.Store.PostgresDSN is required.
	Ingest IngestConfig
	// Binary is the reckon executable started as the nodes ("serve").
	Binary string
	// ProfileDir, when set, receives a CPU profile of every node of each
	// run (nodes<N>-<node>.pprof, from the node's --pprof-addr), taken
	// over most of the timed part.
	ProfileDir string
}

// NodesResult is the outcome of the scaling benchmark.
type NodesResult struct {
	Machine       Machine `json:"machine"`
	Store         string  `json:"store"`
	BaselineStore string  `json:"baselineStore,omitempty"`
	Records       int     `json:"records"`
	Clients       int     `json:"clients"`
	Batch         int     `json:"batch"`
	Subscriptions int     `json:"subscriptions"`
	Meters        int     `json:"meters"`
	Requests      int     `json:"requests"`
	BodyBytes     int64   `json:"bodyBytes"`
	// Runs are the one-node and the two-node runs.
	Runs     []NodesRun      `json:"runs"`
	Baseline *IngestBaseline `json:"baseline,omitempty"`
	// Scaling is the two-node records/s over the one-node records/s.
	Scaling  float64  `json:"scaling"`
	Failures []string `json:"failures,omitempty"`
}

// NodesRun is one run: n nodes on a fresh database.
type NodesRun struct {
	Nodes int        `json:"nodes"`
	HTTP  IngestHTTP `json:"http"`
	// Ratio is records/s over the baseline's.
	Ratio float64 `json:"ratio,omitempty"`
	// CPU is the CPU time each group of processes used during the timed
	// part, from /proc (see cpuSnapshot).
	CPU      []ProcessCPU `json:"cpu"`
	Profiles []string     `json:"profiles,omitempty"`
}

// ProcessCPU is the CPU time of a group of processes over a run.
type ProcessCPU struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	// Cores is Seconds over the run's wall time: how many CPUs it kept busy.
	Cores float64 `json:"cores"`
	// MicrosPerRecord is the CPU time per record ingested: unlike the
	// throughput, it hardly depends on what else the machine runs.
	MicrosPerRecord float64 `json:"microsPerRecord"`
}

// RunNodes runs the scaling benchmark.
func RunNodes(ctx context.Context, c NodesConfig) (*NodesResult, error) {
	ic := &c.Ingest
	if err := ic.check(); err != nil {
		return nil, err
	}
	if ic.Store.PostgresDSN == "" {
		return nil, errors.New("bench: nodes needs --db postgres://… (several nodes share one PostgreSQL database)")
	}
	if c.Binary == "" {
		return nil, errors.New("bench: nodes needs the reckon executable")
	}
	if c.ProfileDir != "" {
		if err := os.MkdirAll(c.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	res := &NodesResult{Machine: ThisMachine(), Records: ic.Records, Clients: ic.Clients, Batch: ic.Batch,
		Subscriptions: ic.Subscriptions, Meters: ic.Meters}
	var (
		w      *ingestWorkload
		bodies [][]byte
	)
	var oneSeconds float64
	for _, n := range []int{1, 2} {
		progressf(ic.Progress, "nodes: %d node(s): opening a fresh PostgreSQL database", n)
		bs, err := ic.Store.freshStore(ctx, fmt.Sprintf("nodes%d", n), SQLiteCacheMiB, ic.Progress)
		if err != nil {
			return nil, err
		}
		subIDs, meterIDs, err := populate(ctx, bs.DB, ic.Seed, ic.Subscriptions, ic.Meters)
		if err != nil {
			bs.close()
			return nil, err
		}
		if w == nil {
			// The same subscriptions and meters (their GUIDs derive from the
			// seed) in every database: the same bodies serve both runs.
			progressf(ic.Progress, "nodes: generating and encoding %d records (untimed)", ic.Records)
			w = newIngestWorkload(ic, subIDs, meterIDs, time.Now())
			bodies, res.BodyBytes = w.bodies(ic.Batch)
			res.Requests = len(bodies)
			res.Store = bs.Desc
		}
		profileFor := time.Duration(0)
		if c.ProfileDir != "" {
			// Most of the timed part: the two-node run should take no
			// longer than the one-node one.
			profileFor = max(time.Second, time.Duration(0.7*oneSeconds*float64(time.Second)).Truncate(time.Second))
			if n == 1 {
				profileFor = 0 // unknown yet; one-node runs are profiled with reckon bench ingest --cpuprofile
			}
		}
		run, err := nodesRun(ctx, &c, bs, n, bodies, profileFor)
		bs.close()
		if err != nil {
			return nil, err
		}
		if n == 1 {
			oneSeconds = run.HTTP.Seconds
		}
		progressf(ic.Progress, "nodes: %d node(s): %.0f records/s (%.1f s)", n, run.HTTP.RecordsPerSec, run.HTTP.Seconds)
		res.Runs = append(res.Runs, run)
	}
	bodies = nil
	if !ic.SkipBaseline {
		b, desc, err := ingestBaseline(ctx, ic, w)
		if err != nil {
			return nil, err
		}
		res.Baseline, res.BaselineStore = b, desc
		for i := range res.Runs {
			res.Runs[i].Ratio = res.Runs[i].HTTP.RecordsPerSec / b.RecordsPerSec
		}
		progressf(ic.Progress, "nodes: baseline %.0f records/s (%.1f s)", b.RecordsPerSec, b.Seconds)
	}
	res.Scaling = res.Runs[1].HTTP.RecordsPerSec / res.Runs[0].HTTP.RecordsPerSec
	n := int64(ic.Records)
	for _, r := range res.Runs {
		h := r.HTTP
		if h.Accepted != ic.Records || h.Duplicates != 0 || h.Rejected != 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("%d node(s): accepted %d, duplicates %d, rejected %d; want %d accepted", r.Nodes, h.Accepted, h.Duplicates, h.Rejected, ic.Records))
		}
		if h.Stored.Keys != n || h.Stored.Records != n {
			res.Failures = append(res.Failures, fmt.Sprintf("%d node(s): the store holds %d keys and %d records, want %d", r.Nodes, h.Stored.Keys, h.Stored.Records, n))
		}
	}
	if len(res.Failures) > 0 {
		return res, fmt.Errorf("bench: nodes checks failed: %v", res.Failures)
	}
	return res, nil
}

// node is a "reckon serve" child process.
type node struct {
	name, url, pprof string
	cmd              *exec.Cmd
	done             chan struct{}
	dir              string
}

// nodesRun starts n nodes on bs, posts every body (client k to node k mod
// n), measures, and stops the nodes.
func nodesRun(ctx context.Context, c *NodesConfig, bs *benchStore, n int, bodies [][]byte, profileFor time.Duration) (run NodesRun, err error) {
	ic := &c.Ingest
	run.Nodes = n
	secret := randomToken()
	largest := 0
	for _, b := range bodies {
		largest = max(largest, len(b))
	}
	var nodes []*node
	defer func() {
		for _, nd := range nodes {
			nd.stop()
		}
	}()
	for i := range n {
		nd, err := startNode(ctx, c, bs.dsn, string(rune('A'+i)), secret, max(64<<20, 2*int64(largest)))
		if err != nil {
			return run, err
		}
		nodes = append(nodes, nd)
	}
	token, err := nodeToken(ctx, nodes[0].url, secret)
	if err != nil {
		return run, err
	}
	targets := make([]*server, n)
	for i, nd := range nodes {
		targets[i] = &server{URL: nd.url, IngestToken: token}
	}

	var profiles sync.WaitGroup
	if profileFor > 0 {
		for _, nd := range nodes {
			path := filepath.Join(c.ProfileDir, fmt.Sprintf("nodes%d-%s.pprof", n, nd.name))
			run.Profiles = append(run.Profiles, path)
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				if err := fetchProfile(ctx, nd.pprof, profileFor, path); err != nil {
					progressf(ic.Progress, "nodes: profile of node %s: %v", nd.name, err)
				}
			}()
		}
	}
	progressf(ic.Progress, "nodes: %d clients POST %d bodies of %d records to %d node(s)", ic.Clients, len(bodies), ic.Batch, n)
	runtime.GC()
	dbName := ""
	if u, err := url.Parse(bs.dsn); err == nil {
		dbName = strings.TrimPrefix(u.Path, "/")
	}
	before := cpuSnapshot(nodes, dbName)
	h, err := postSpread(ctx, targets, bodies, ic.Clients)
	after := cpuSnapshot(nodes, dbName)
	profiles.Wait()
	if err != nil {
		return run, err
	}
	h.RecordsPerSec = float64(ic.Records) / h.Seconds
	h.MiBPerSec = 0
	for _, b := range bodies {
		h.MiBPerSec += float64(len(b))
	}
	h.MiBPerSec = h.MiBPerSec / (1 << 20) / h.Seconds
	if h.Stored, err = countStored(ctx, bs.dsn); err != nil {
		return run, err
	}
	run.HTTP = h
	for _, g := range []string{cpuNodes, cpuBackends, cpuBackground, cpuClients} {
		s := cpuUsed(before[g], after[g])
		run.CPU = append(run.CPU, ProcessCPU{Name: g, Seconds: s, Cores: s / h.Seconds,
			MicrosPerRecord: s * 1e6 / float64(ic.Records)})
	}
	return run, nil
}

// startNode starts "reckon serve" on the database and waits until healthy.
func startNode(ctx context.Context, c *NodesConfig, dsn, name, secret string, maxIngest int64) (*node, error) {
	dir, err := os.MkdirTemp(c.Ingest.Store.TempDir, "reckon-bench-node-")
	if err != nil {
		return nil, err
	}
	addr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := freeLoopback()
	if err != nil {
		return nil, err
	}
	nd := &node{name: name, url: "http://" + addr, pprof: pprofAddr, done: make(chan struct{}), dir: dir}
	nd.cmd = exec.Command(c.Binary, "serve", "--addr", addr, "--db", dsn, "--data-dir", dir, "--log-level", "warn",
		"--close-interval", "0", "--reads-per-hour", "0", "--writes-per-hour", "0",
		"--max-ingest-bytes", strconv.FormatInt(maxIngest, 10), "--pprof-addr", pprofAddr)
	env := []string{"RECKON_BOOTSTRAP_CLIENT_ID=bench-operator", "RECKON_BOOTSTRAP_CLIENT_SECRET=" + secret}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RECKON_") {
			env = append(env, kv)
		}
	}
	nd.cmd.Env = env
	out := c.Ingest.Progress
	if out == nil {
		out = io.Discard
	}
	nd.cmd.Stdout, nd.cmd.Stderr = out, out
	if err := nd.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("bench: start node %s: %w", name, err)
	}
	go func() { nd.cmd.Wait(); close(nd.done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-nd.done:
			os.RemoveAll(dir)
			return nil, fmt.Errorf("bench: node %s exited at start (%v)", name, nd.cmd.ProcessState)
		case <-ctx.Done():
			nd.stop()
			return nil, ctx.Err()
		default:
		}
		resp, err := http.Get(nd.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nd, nil
			}
		}
		if time.Now().After(deadline) {
			nd.stop()
			return nil, fmt.Errorf("bench: node %s not healthy after 60 s", name)
		}
		time.Sleep(50 * time.Millisecond) // a starting server: nothing to wait on but time
	}
}

// stop interrupts the node (a clean shutdown), kills it after 30 s, and
// removes its data directory.
func (nd *node) stop() {
	nd.cmd.Process.Signal(os.Interrupt)
	select {
	case <-nd.done:
	case <-time.After(30 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.done
	}
	os.RemoveAll(nd.dir)
}

func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// nodeToken signs the bootstrap operator in (client credentials).
func nodeToken(ctx context.Context, base, secret string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"bench-operator"}, "client_secret": {secret},
		"resource": {"https://management.core.windows.net/"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/adfs/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	const key = `"access_token":"`
	i := strings.Index(string(body), key)
	if resp.StatusCode != http.StatusOK || i < 0 {
		return "", fmt.Errorf("bench: sign in: %d %.200s", resp.StatusCode, body)
	}
	tok, _, _ := strings.Cut(string(body[i+len(key):]), `"`)
	return tok, nil
}

// fetchProfile saves a CPU profile of d from a node's pprof endpoint.
func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(d/time.Second)), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// The process groups whose CPU time a run reports.
const (
	cpuNodes      = "reckon nodes"
	cpuBackends   = "postgres backends"
	cpuBackground = "postgres background"
	cpuClients    = "bench clients"
)

// cpuSnapshot reads the CPU seconds used so far, by process, in groups:
// the nodes; the PostgreSQL backends connected to database db (their
// process title names it); PostgreSQL's background processes (WAL writer,
// checkpointer, background writer, autovacuum), which work for every
// database; and this process (the clients). Backends of other databases
// on the same server are left out.
func cpuSnapshot(nodes []*node, db string) map[string]map[int]float64 {
	out := map[string]map[int]float64{cpuNodes: {}, cpuBackends: {}, cpuBackground: {}, cpuClients: {}}
	for _, nd := range nodes {
		out[cpuNodes][nd.cmd.Process.Pid] = procCPU(nd.cmd.Process.Pid)
	}
	out[cpuClients][os.Getpid()] = procCPU(os.Getpid())
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		title, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		t := strings.ReplaceAll(string(title), "\x00", " ")
		switch {
		case db != "" && strings.Contains(t, " "+db+" "):
			out[cpuBackends][pid] = procCPU(pid)
		case strings.Contains(t, "walwriter"), strings.Contains(t, "checkpointer"), strings.Contains(t, "background writer"),
			strings.Contains(t, "autovacuum"), strings.Contains(t, "walsender"):
			out[cpuBackground][pid] = procCPU(pid)
		}
	}
	return out
}

// cpuUsed is the CPU seconds a group used between two snapshots: the
// growth of the processes alive at the end (a process that started in
// between counts whole; one that ended in between is missed).
func cpuUsed(before, after map[int]float64) float64 {
	var s float64
	for pid, t := range after {
		s += max(0, t-before[pid])
	}
	return s
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux.
const clockTicks = 100

// procCPU is the user + system CPU seconds of a process (0 when unknown).
func procCPU(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadString('\n')
	// The command may hold spaces: fields start after its closing ')'.
	i := strings.LastIndexByte(line, ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(line[i+1:])
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks
}

// WriteNodes prints the scaling benchmark's result as a plain-text table.
func WriteNodes(w io.Writer, r *NodesResult) {
	fmt.Fprintf(w, "\nReckon scaling benchmark: HTTP ingestion into one PostgreSQL database through 1 and 2 nodes (reckon bench nodes)\n")
	m := r.Machine
	fmt.Fprintf(w, "  machine   %d CPUs (nproc), %s, %.1f GiB RAM, %s %s/%s\n", m.NProc, orUnknown(m.CPUModel), float64(m.MemTotalMiB)/1024, m.GoVersion, m.OS, m.Arch)
	fmt.Fprintf(w, "  load      load average at start %s; the nodes, PostgreSQL and the clients share the CPUs\n", orUnknown(m.LoadAverage))
	fmt.Fprintf(w, "  nodes     separate \"reckon serve\" processes on 127.0.0.1; the %d clients (in this process) split evenly between them\n", r.Clients)
	fmt.Fprintf(w, "  store     %s (a fresh database per run)\n", r.Store)
	if r.BaselineStore != "" {
		fmt.Fprintf(w, "  baseline  %s\n", r.BaselineStore)
	}
	fmt.Fprintf(w, "  workload  %s records, %s subscriptions, %d meters; %d NDJSON bodies of up to %s records (%s)\n\n",
		group(int64(r.Records)), group(int64(r.Subscriptions)), r.Meters, r.Requests, group(int64(r.Batch)), mib(r.BodyBytes))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\trecords/s\ttime\tp50 request\tp99 request\tvs raw\t\n", label(""))
	for _, run := range r.Runs {
		ratio := ""
		if r.Baseline != nil {
			ratio = fmt.Sprintf("%.1f %%", 100*run.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f s\t%s\t%s\t%s\t\n", label(fmt.Sprintf("HTTP → PostgreSQL, %d node(s)", run.Nodes)),
			groupf(run.HTTP.RecordsPerSec), run.HTTP.Seconds, ms(run.HTTP.Latency.P50), ms(run.HTTP.Latency.P99), ratio)
	}
	if b := r.Baseline; b != nil {
		fmt.Fprintf(tw, "%s\t%s\t%.2f s\t\t\t\t\n", label("raw   store ingest transactions (baseline)"), groupf(b.RecordsPerSec), b.Seconds)
	}
	fmt.Fprintf(tw, "%s\t%.2f ×\t\t\t\t\t\n", label("2 nodes / 1 node"), r.Scaling)
	tw.Flush()
	fmt.Fprintf(w, "\n  CPU over the timed part (user+system from /proc; cores = CPU seconds / wall seconds):\n\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t", label(""))
	for _, p := range r.Runs[0].CPU {
		fmt.Fprintf(tw, "%s\t", p.Name)
	}
	fmt.Fprintf(tw, "\n")
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t", label(fmt.Sprintf("%d node(s): cores", run.Nodes)))
		for _, p := range run.CPU {
			fmt.Fprintf(tw, "%.2f\t", p.Cores)
		}
		fmt.Fprintf(tw, "\n%s\t", label(fmt.Sprintf("%d node(s): µs CPU per record", run.Nodes)))
		for _, p := range run.CPU {
			fmt.Fprintf(tw, "%.1f\t", p.MicrosPerRecord)
		}
		fmt.Fprintf(tw, "\n")
	}
	tw.Flush()
	fmt.Fprintln(w)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(w, "  baseline  %s\n", b.Method)
	}
	fmt.Fprintf(w, "  CPU       postgres backends: the processes serving this run's database; background: WAL writer, checkpointer,\n")
	fmt.Fprintf(w, "            background writer, autovacuum (shared with any other database on the server)\n")
	for _, run := range r.Runs {
		for _, p := range run.Profiles {
			fmt.Fprintf(w, "  profile   %s (go tool pprof -top %s)\n", p, p)
		}
	}
	if len(r.Failures) == 0 {
		fmt.Fprintf(w, "  checks    all passed (every record accepted once, stored once, in each run)\n")
	}
	for _, f := range r.Failures {
		fmt.Fprintf(w, "  FAILED    %s\n", f)
	}
}
