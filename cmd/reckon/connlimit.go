package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimiter is a listener that bounds the connections the server holds
// open. At the limit, accepting a connection first closes the connection
// that has waited longest without a request in progress (accepted but not
// yet sending one, or idle between keep-alive requests); when every
// connection has a request in progress, the new connection is answered 503
// (plain HTTP only) and closed at once. So piles of idle or half-open
// connections cannot lock well-behaved clients out, and a client sending
// its headers slowly is cut off by ReadHeaderTimeout.
type connLimiter struct {
	net.Listener
	max       int
	plainHTTP bool
	mu        sync.Mutex
	conns     map[net.Conn]*connEntry
}

type connEntry struct {
	state http.ConnState
	since time.Time
}

func newConnLimiter(ln net.Listener, max int, plainHTTP bool) *connLimiter {
	return &connLimiter{Listener: ln, max: max, plainHTTP: plainHTTP, conns: make(map[net.Conn]*connEntry)}
}

// Accept implements net.Listener.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		now := time.Now()
		l.mu.Lock()
		if len(l.conns) >= l.max {
			victim := l.longestWaiting()
			if victim == nil {
				l.mu.Unlock()
				go l.refuse(c)
				continue
			}
			delete(l.conns, victim)
			victim.Close() // the server's goroutine of that connection ends
		}
		l.conns[c] = &connEntry{state: http.StateNew, since: now}
		l.mu.Unlock()
		return c, nil
	}
}

// longestWaiting returns the connection without a request in progress that
// has waited longest, or nil. l.mu is held.
func (l *connLimiter) longestWaiting() net.Conn {
	var victim net.Conn
	var since time.Time
	for c, e := range l.conns {
		if (e.state == http.StateNew || e.state == http.StateIdle) && (victim == nil || e.since.Before(since)) {
			victim, since = c, e.since
		}
	}
	return victim
}

// refuse answers a connection over the limit and closes it.
func (l *connLimiter) refuse(c net.Conn) {
	defer c.Close()
	if l.plainHTTP {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	}
}

// connState is the server's http.Server.ConnState hook.
func (l *connLimiter) connState(c net.Conn, s http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.conns[c]
	if !ok {
		return // evicted, or not this listener's
	}
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
	default:
		e.state, e.since = s, time.Now()
	}
}
