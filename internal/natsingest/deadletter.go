package natsingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/reckon-billing/reckon/internal/usage"
)

// DeadLetter is the body of a message on the dead-letter subject: one
// rejected record, or one message that is not JSON records at all.
type DeadLetter struct {
	// Stream, StreamSequence and Subject locate the original message.
	Stream         string `json:"stream"`
	StreamSequence uint64 `json:"streamSequence"`
	Subject        string `json:"subject"`
	// Index is the record's position in its message (0-based); absent when
	// the whole message was rejected.
	Index *int `json:"index,omitempty"`
	// ID is the record's id, as far as it could be read.
	ID string `json:"id,omitempty"`
	// Code and Message are those the HTTP endpoint answers for the same
	// record (InvalidQuantity, SubscriptionNotFound, Conflict, …), or
	// InvalidRequestContent for a message that is not JSON records.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Record is the rejected element exactly as it was sent.
	Record json.RawMessage `json:"record,omitempty"`
	// Data is the whole message when it is not JSON records (as text when
	// it is UTF-8, otherwise DataBase64 holds it).
	Data       string    `json:"data,omitempty"`
	DataBase64 []byte    `json:"dataBase64,omitempty"`
	RejectedAt time.Time `json:"rejectedAt"`
}

// Headers of a dead-letter message, besides Nats-Msg-Id.
const (
	HeaderCode     = "Reckon-Rejection-Code"
	HeaderSequence = "Reckon-Stream-Sequence"
)

// decodeMessage decodes the records of one message with the decoder of the
// HTTP endpoint; a message that is not JSON records returns an error (and
// none of its records count).
func decodeMessage(data []byte) ([]entry, error) {
	var out []entry
	err := usage.DecodeRecords(bytes.NewReader(data), func(_ int, in *usage.RecordInput, rej *usage.Rejection) error {
		out = append(out, entry{in: in, rej: rej})
		return nil
	})
	return out, err
}

// elements splits a message into its elements, exactly as sent (the
// elements of a JSON array, or the values of NDJSON).
func elements(data []byte) []jsontext.Value {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	var out []jsontext.Value
	if dec.PeekKind() == '[' {
		if _, err := dec.ReadToken(); err != nil {
			return nil
		}
		for dec.PeekKind() != ']' && dec.PeekKind() != 0 {
			v, err := dec.ReadValue()
			if err != nil {
				return out
			}
			out = append(out, v.Clone())
		}
		return out
	}
	for dec.PeekKind() != 0 {
		v, err := dec.ReadValue()
		if err != nil {
			return out
		}
		out = append(out, v.Clone())
	}
	return out
}

// deadLetters publishes the dead letters of a committed batch and reports,
// by message, those whose dead letters could not be published.
func (c *Consumer) deadLetters(ws []work) []bool {
	failed := make([]bool, len(ws))
	now := time.Now().UTC()
	type sent struct {
		w   int
		fut jetstream.PubAckFuture
	}
	var pending []sent
	published := 0
	publish := func(w int, msgID string, dl *DeadLetter) {
		body, err := json.Marshal(dl)
		if err != nil {
			failed[w] = true
			return
		}
		m := nats.NewMsg(c.cfg.DeadLetterSubject)
		m.Data = body
		m.Header.Set(jetstream.MsgIDHeader, msgID)
		m.Header.Set(HeaderCode, dl.Code)
		m.Header.Set(HeaderSequence, strconv.FormatUint(dl.StreamSequence, 10))
		if c.dlJetStream {
			fut, err := c.js.PublishMsgAsync(m)
			if err != nil {
				failed[w] = true
				return
			}
			pending = append(pending, sent{w, fut})
		} else if err := c.nc.PublishMsg(m); err != nil {
			failed[w] = true
			return
		}
		published++
	}
	for i := range ws {
		w := &ws[i]
		if w.bad == nil && len(w.rej) == 0 {
			continue
		}
		base := DeadLetter{Stream: c.cfg.Stream, StreamSequence: w.seq, Subject: w.msg.Subject(), RejectedAt: now}
		if w.bad != nil {
			dl := base
			dl.Code = "InvalidRequestContent"
			dl.Message = fmt.Sprintf("The message is not a JSON record, a JSON array of records nor NDJSON; nothing of it was committed (%v).", w.bad)
			if data := w.msg.Data(); utf8.Valid(data) {
				dl.Data = string(data)
			} else {
				dl.DataBase64 = data
			}
			publish(i, fmt.Sprintf("reckon-dl:%s:%d", c.cfg.Stream, w.seq), &dl)
			continue
		}
		els := elements(w.msg.Data())
		for _, r := range w.rej {
			dl := base
			idx := r.Index
			dl.Index, dl.ID, dl.Code, dl.Message = &idx, r.ID, r.Code, r.Message
			if idx >= 0 && idx < len(els) {
				dl.Record = json.RawMessage(els[idx])
			}
			publish(i, fmt.Sprintf("reckon-dl:%s:%d:%d", c.cfg.Stream, w.seq, idx), &dl)
		}
	}
	if len(pending) > 0 {
		timeout := time.NewTimer(30 * time.Second)
		defer timeout.Stop()
		for _, p := range pending {
			select {
			case <-p.fut.Ok():
			case err := <-p.fut.Err():
				c.log.Warn("dead letter not published", "subject", c.cfg.DeadLetterSubject, "err", err)
				failed[p.w] = true
			case <-timeout.C:
				failed[p.w] = true
			}
		}
	} else if published > 0 {
		if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
			c.log.Warn("dead letters not flushed", "err", err)
			for i := range ws {
				if ws[i].bad != nil || len(ws[i].rej) > 0 {
					failed[i] = true
				}
			}
		}
	}
	c.n.deadLetters.Add(int64(published))
	c.m.deadLetters.Add(float64(published))
	return failed
}
