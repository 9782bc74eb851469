package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ReadVmRSS returns the resident set size of process pid, in bytes, from
// /proc/PID/status (Linux).
func ReadVmRSS(pid int) (int64, error) {
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(data)
}

func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(rest))
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS line %q", line)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS in the process status (a kernel thread, or a process that has exited)")
}

// isLocalHost reports whether host names this machine.
func isLocalHost(host string) bool {
	if host == "localhost" || host == "" {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return false
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

// ListenerPID finds the process listening on TCP port on this machine:
// the inodes of the listening sockets of that port in /proc/net/tcp and
// tcp6, then the process holding one of them among those whose file
// descriptors can be read (the caller's own, or all as root).
func ListenerPID(port int) (int, error) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for k, v := range listeningInodes(data, port) {
			inodes[k] = v
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no listening socket on port %d in /proc/net/tcp", port)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	// This process first: a server started in-process (tests) is found at once.
	self := strconv.Itoa(os.Getpid())
	names := []string{self}
	for _, p := range procs {
		if p.Name() != self {
			names = append(names, p.Name())
		}
	}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		fdDir := filepath.Join("/proc", name, "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			if ino, ok := strings.CutPrefix(link, "socket:["); ok && inodes[strings.TrimSuffix(ino, "]")] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no readable process holds the listening socket of port %d", port)
}

// listeningInodes returns the inodes of the sockets in LISTEN state (0A)
// on port in a /proc/net/tcp table.
func listeningInodes(table []byte, port int) map[string]bool {
	out := map[string]bool{}
	want := fmt.Sprintf(":%04X", port)
	for i, line := range bytes.Split(table, []byte("\n")) {
		f := strings.Fields(string(line))
		if i == 0 || len(f) < 10 {
			continue
		}
		if strings.HasSuffix(f[1], want) && f[3] == "0A" {
			out[f[9]] = true
		}
	}
	return out
}

// ServerMetrics are the figures read from the server's /metrics; -1 when
// absent.
type ServerMetrics struct {
	RSSBytes   int64 // process_resident_memory_bytes
	Goroutines int64 // go_goroutines
	HeapBytes  int64 // go_memstats_heap_inuse_bytes: the Go heap's spans in use
}

// ReadMetrics fetches a Prometheus text endpoint and reads the process's
// RSS and goroutines from it.
func ReadMetrics(ctx context.Context, client *http.Client, url string) (ServerMetrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ServerMetrics{-1, -1, -1}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return ServerMetrics{-1, -1, -1}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		return ServerMetrics{-1, -1, -1}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (ServerMetrics, error) {
	m := ServerMetrics{-1, -1, -1}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "process_resident_memory_bytes "):
			dst = &m.RSSBytes
		case strings.HasPrefix(line, "go_goroutines "):
			dst = &m.Goroutines
		case strings.HasPrefix(line, "go_memstats_heap_inuse_bytes "):
			dst = &m.HeapBytes
		default:
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(f[1], 64) // Prometheus writes 1.2345e+08
		if err != nil {
			return m, fmt.Errorf("metrics line %q: %w", line, err)
		}
		*dst = int64(v)
	}
	return m, sc.Err()
}
