package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// runPublish is "reckon publish FILE": it sends usage records (a JSON
// array or NDJSON, like reckon ingest) to a NATS JetStream stream, several
// records per message, for a server started with --ingest-nats.
//
// Each message is NDJSON and carries a Nats-Msg-Id that is a hash of its
// content, so that JetStream drops a message it already stored (within the
// stream's duplicate window): publishing a file again after a failure
// resends nothing twice, and Reckon's record ids make any record that does
// reach it twice a duplicate anyway.
func runPublish(ctx context.Context, env environment, args []string) error {
	fs := newFlagSet(env, "publish")
	url := fs.String("nats", "nats://127.0.0.1:4222", "NATS server URL")
	subject := fs.String("subject", "reckon.usage.records", "subject to publish to; a JetStream stream must capture it (reckon serve --ingest-nats creates RECKON_USAGE on reckon.usage.>)")
	batch := fs.Int("batch", 500, "records per message (fewer when a message would exceed the server's max payload)")
	window := fs.Int("window", 256, "messages published and not yet acknowledged by JetStream, at most")
	creds := fs.String("creds", "", "NATS credentials file, if the server needs one")
	tokenFile := fs.String("token-file", "", "file holding a NATS authentication token, if the server needs one")
	if err := parseFlags(fs, env, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "usage: reckon publish [--nats URL] [--subject S] [--batch N] FILE   (FILE may be - for standard input)")
		return exitError(2)
	}
	if *batch <= 0 || *window <= 0 {
		return errors.New("publish: --batch and --window must be positive")
	}
	var in io.Reader = env.stdin
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}

	opts := []nats.Option{nats.Name("reckon-publish"), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if *creds != "" {
		opts = append(opts, nats.UserCredentials(*creds))
	}
	if *tokenFile != "" {
		tok, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("publish: token file: %w", err)
		}
		opts = append(opts, nats.Token(strings.TrimSpace(string(tok))))
	}
	nc, err := nats.Connect(*url, opts...)
	if err != nil {
		return fmt.Errorf("publish: connect to NATS: %w", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2**window))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	stream, err := js.StreamNameBySubject(sctx, *subject)
	cancel()
	if err != nil {
		return fmt.Errorf("publish: no JetStream stream captures the subject %q (start reckon serve --ingest-nats first, which creates RECKON_USAGE on reckon.usage.>): %w", *subject, err)
	}

	p := &publisher{ctx: ctx, js: js, subject: *subject, window: *window}
	start := time.Now()
	maxPayload := int(nc.MaxPayload()) - 1024 // room for the headers
	readErr := splitRecords(in, *batch, maxPayload, p.publish)
	flushErr := p.drain()
	took := time.Since(start)
	fmt.Fprintf(env.stdout, "published %d records in %d messages to %s (stream %s) in %s; %d messages (%d records) were already in the stream\n",
		p.records, p.messages, *subject, stream, took.Round(time.Millisecond), p.dupMessages, p.dupRecords)
	if readErr != nil {
		return fmt.Errorf("publish: %w (the messages before it were published; publishing the corrected file again sends nothing twice)", readErr)
	}
	return flushErr
}

// splitRecords reads a JSON array or NDJSON and calls send with messages of
// up to batch records (NDJSON, the elements exactly as read), each under
// maxBytes.
func splitRecords(r io.Reader, batch, maxBytes int, send func(msg []byte, records int) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\xef\xbb\xbf" {
		br.Discard(3)
	}
	dec := jsontext.NewDecoder(br, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	var buf bytes.Buffer
	n := 0
	flush := func() error {
		if n == 0 {
			return nil
		}
		msg := bytes.Clone(buf.Bytes())
		err := send(msg, n)
		buf.Reset()
		n = 0
		return err
	}
	array := false
	switch dec.PeekKind() {
	case '[':
		if _, err := dec.ReadToken(); err != nil {
			return fmt.Errorf("the input is not a JSON array nor NDJSON: %w", err)
		}
		array = true
	case 0:
		if _, err := dec.ReadToken(); err != nil && err != io.EOF {
			return fmt.Errorf("the input is not a JSON array nor NDJSON: %w", err)
		}
		return nil
	}
	for index := 0; ; index++ {
		k := dec.PeekKind()
		if array && k == ']' {
			break
		}
		if k == 0 {
			if _, err := dec.ReadToken(); !array && err == io.EOF {
				break
			} else if err != nil {
				return fmt.Errorf("record %d: %w", index, err)
			}
		}
		v, err := dec.ReadValue()
		if err != nil {
			return fmt.Errorf("record %d: %w", index, err)
		}
		if len(v)+1 > maxBytes {
			return fmt.Errorf("record %d is %d bytes, more than a NATS message may carry", index, len(v))
		}
		if n > 0 && (n >= batch || buf.Len()+len(v)+1 > maxBytes) {
			if err := flush(); err != nil {
				return err
			}
		}
		buf.Write(v)
		buf.WriteByte('\n')
		n++
	}
	return flush()
}

// publisher publishes messages asynchronously with a bounded window.
type publisher struct {
	ctx      context.Context
	js       jetstream.JetStream
	subject  string
	window   int
	inflight []inflight

	messages, records, dupMessages, dupRecords int
}

type inflight struct {
	msg     *nats.Msg
	records int
	fut     jetstream.PubAckFuture
}

func (p *publisher) publish(data []byte, records int) error {
	sum := sha256.Sum256(data)
	m := nats.NewMsg(p.subject)
	m.Data = data
	m.Header.Set(jetstream.MsgIDHeader, "reckon-"+hex.EncodeToString(sum[:16]))
	for len(p.inflight) >= p.window {
		if err := p.settle(); err != nil {
			return err
		}
	}
	fut, err := p.js.PublishMsgAsync(m)
	if err != nil {
		return p.retry(inflight{msg: m, records: records}, err)
	}
	p.inflight = append(p.inflight, inflight{msg: m, records: records, fut: fut})
	return nil
}

// settle waits for the oldest message in flight.
func (p *publisher) settle() error {
	f := p.inflight[0]
	p.inflight = p.inflight[1:]
	select {
	case ack := <-f.fut.Ok():
		p.count(f, ack)
		return nil
	case err := <-f.fut.Err():
		return p.retry(f, err)
	case <-p.ctx.Done():
		return p.ctx.Err()
	}
}

// retry publishes a message synchronously until it is stored: its
// Nats-Msg-Id makes a second copy a duplicate.
func (p *publisher) retry(f inflight, cause error) error {
	delay := 250 * time.Millisecond
	for attempt := 0; attempt < 20; attempt++ {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		ack, err := p.js.PublishMsg(ctx, f.msg)
		cancel()
		if err == nil {
			p.count(f, ack)
			return nil
		}
		if p.ctx.Err() != nil {
			return p.ctx.Err()
		}
		cause = err
		time.Sleep(delay)
		delay = min(2*delay, 5*time.Second)
	}
	return fmt.Errorf("a message of %d records could not be published: %w", f.records, cause)
}

func (p *publisher) count(f inflight, ack *jetstream.PubAck) {
	p.messages++
	p.records += f.records
	if ack.Duplicate {
		p.dupMessages++
		p.dupRecords += f.records
	}
}

// drain waits for every message in flight.
func (p *publisher) drain() error {
	var first error
	for len(p.inflight) > 0 {
		if err := p.settle(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
