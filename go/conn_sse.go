package main

import (
	"bytes"
	"net"
	"net/http"
	"time"

	"github.com/valyala/fasthttp"
)

// Server-Sent Events: after Ruby accepts the request, Go answers with an
// unterminated text/event-stream response and keeps the socket; Ruby's
// writes become `data:` events, pub/sub messages too, and a comment goes
// out when nothing else did for the ping interval, so proxies keep the
// stream open.

// isSSERequest: a GET that accepts text/event-stream.
func isSSERequest(ctx *fasthttp.RequestCtx) bool {
	return ctx.IsGet() && bytes.Contains(ctx.Request.Header.Peek("Accept"), []byte("text/event-stream"))
}

var ssePingComment = []byte(": ping\n\n")

// upgradeSSE starts the stream and serves the connection as id.
func (l *listener) upgradeSSE(ctx *fasthttp.RequestCtx, id uint64, extra http.Header) {
	lastID := bytes.Clone(ctx.Request.Header.Peek("Last-Event-ID"))
	head := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n" +
		"Connection: keep-alive\r\nX-Accel-Buffering: no\r\n")
	for name, values := range extra {
		if caseEqual([]byte(name), "content-type") || caseEqual([]byte(name), "content-length") ||
			caseEqual([]byte(name), "transfer-encoding") || caseEqual([]byte(name), "connection") {
			continue
		}
		for _, v := range values {
			head = append(append(append(append(head, name...), ": "...), v...), "\r\n"...)
		}
	}
	head = append(head, "\r\n"...)
	hijackRaw(ctx, l.cfg.maxHeaderBytes, func(c net.Conn) func() {
		rc := newRTConn(id, connSSE, c, l)
		rc.write(head, false)
		rc.queueEvent(event{typ: evOpen})
		if len(lastID) > 0 {
			rc.queueEvent(event{typ: evReconnect, data: lastID})
		}
		return rc.serveReads
	})
}

// readSSE waits for the client to go: it sends nothing after the request.
func (c *rtConn) readSSE() {
	defer c.finish()
	for c.discardRead() {
	}
}

// discardRead reads once and drops what came; false once the client went.
func (c *rtConn) discardRead() bool {
	bp := rawBufs.Get().(*[]byte)
	_, err := c.netConn.Read(*bp)
	rawBufs.Put(bp)
	if err != nil {
		return false
	}
	c.lastRead.Store(time.Now().UnixNano())
	return true
}

// sseEvent formats one event; every line of data gets its own `data:`.
func sseEvent(id, name, data []byte) []byte {
	b := make([]byte, 0, len(data)+len(id)+len(name)+24)
	if len(id) > 0 {
		b = append(append(append(b, "id: "...), oneLine(id)...), '\n')
	}
	if len(name) > 0 {
		b = append(append(append(b, "event: "...), oneLine(name)...), '\n')
	}
	// CRLF, LF and a lone CR all end a line for the client: each line
	// gets its own `data:`, so data can never start a field of its own.
	for {
		i := bytes.IndexAny(data, "\r\n")
		line := data
		if i >= 0 {
			line = data[:i]
		}
		b = append(append(append(b, "data: "...), line...), '\n')
		if i < 0 {
			break
		}
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

// oneLine cuts a field at its first line break (an id or event name
// cannot hold one).
func oneLine(b []byte) []byte {
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		return b[:i]
	}
	return b
}
