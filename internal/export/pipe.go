package export

import (
	"hash"
	"os"
)

// chunkWriter buffers encoded bytes in large chunks and hands full chunks
// to a goroutine that hashes them and writes them to the file, so that
// encoding (one core) overlaps hashing and the write system calls (the
// other). Memory is bounded: chunkCount chunks of chunkSize bytes.
type chunkWriter struct {
	f     *os.File
	h     hash.Hash
	cur   []byte
	full  chan []byte
	free  chan []byte
	done  chan error
	sent  int64 // bytes handed to the goroutine
	wrote int64 // bytes written (valid after close)
	err   error
}

const (
	chunkSize  = 1 << 20
	chunkCount = 3
)

func newChunkWriter(f *os.File, h hash.Hash) *chunkWriter {
	w := &chunkWriter{f: f, h: h, full: make(chan []byte, chunkCount), free: make(chan []byte, chunkCount), done: make(chan error, 1)}
	for range chunkCount - 1 {
		w.free <- make([]byte, 0, chunkSize)
	}
	w.cur = make([]byte, 0, chunkSize)
	go func() {
		var err error
		for b := range w.full {
			if err == nil {
				w.h.Write(b)
				_, err = w.f.Write(b)
			}
			w.free <- b[:0]
		}
		w.done <- err
	}()
	return w
}

// Write buffers p; it never fails here (a write error shows at close).
func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		room := chunkSize - len(w.cur)
		if room == 0 {
			w.send()
			continue
		}
		if room > len(p) {
			room = len(p)
		}
		w.cur = append(w.cur, p[:room]...)
		p = p[room:]
	}
	return n, nil
}

func (w *chunkWriter) send() {
	w.sent += int64(len(w.cur))
	w.full <- w.cur
	w.cur = <-w.free
}

// size is the number of bytes written so far, buffered ones included.
func (w *chunkWriter) size() int64 { return w.sent + int64(len(w.cur)) }

// close writes what is buffered and waits for the goroutine.
func (w *chunkWriter) close() error {
	if len(w.cur) > 0 {
		w.sent += int64(len(w.cur))
		w.full <- w.cur
		w.cur = nil
	}
	close(w.full)
	err := <-w.done
	w.wrote = w.sent
	return err
}
