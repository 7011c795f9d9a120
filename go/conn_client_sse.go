package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"time"
)

// The SSE client's parser (the HTML Living Standard's event stream
// interpretation): data lines join with "\n", an empty line dispatches the
// event, comments (":") are skipped, the id persists across events. Each
// event reaches Ruby as on_eventsource(conn, message).

var errEventTooBig = errors.New("event stream line or event over the message limit")

// readEventStream reads events until the stream ends.
func (c *rtConn) readEventStream(body io.ReadCloser) {
	defer c.finish()
	defer body.Close()
	lines := sseLineReader{r: bufio.NewReaderSize(body, 4096), max: c.maxMsg}
	var id, name []byte
	var data bytes.Buffer
	hasData := false
	for {
		line, err := lines.next()
		if err != nil {
			if err == errEventTooBig {
				logf(levelWarn, "connection %d: %v (%d bytes); closing", c.id, err, c.maxMsg)
			}
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		if len(line) == 0 {
			if hasData {
				c.queueEvent(sseClientEvent(id, name, data.Bytes()))
				c.awaitReadAhead()
			}
			name, hasData = nil, false
			data.Reset()
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], bytes.TrimPrefix(line[i+1:], []byte(" "))
		}
		switch string(field) {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
			if data.Len() > c.maxMsg {
				logf(levelWarn, "connection %d: %v (%d bytes); closing", c.id, errEventTooBig, c.maxMsg)
				return
			}
		case "event":
			name = bytes.Clone(value)
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				id = bytes.Clone(value)
			}
		} // "retry", comments (empty field) and unknown fields are ignored
	}
}

// sseClientEvent carries an event to Ruby: channel is "id\nevent" (neither
// can hold a line break), data the data.
func sseClientEvent(id, name, data []byte) event {
	channel := make([]byte, 0, len(id)+1+len(name))
	channel = append(append(append(channel, id...), '\n'), name...)
	return event{typ: evSSE, channel: channel, data: bytes.Clone(data)}
}

// sseLineReader splits a stream into lines; CRLF, LF and a lone CR all
// end one.
type sseLineReader struct {
	r      *bufio.Reader
	line   []byte
	skipLF bool // the last line ended with CR: a LF right after belongs to it
	max    int
}

func (l *sseLineReader) next() ([]byte, error) {
	l.line = l.line[:0]
	for {
		b, err := l.r.ReadByte()
		if err != nil {
			return nil, err
		}
		if l.skipLF {
			l.skipLF = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return l.line, nil
		case '\r':
			l.skipLF = true
			return l.line, nil
		}
		if len(l.line) >= l.max {
			return nil, errEventTooBig
		}
		l.line = append(l.line, b)
	}
}
