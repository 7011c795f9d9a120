package main

import (
	"bytes"
	"net"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// hijackRaw takes a connection over from fasthttp once its response to
// the upgrade request is out of the way and calls open with the bare
// socket, in fasthttp's hijack goroutine; open does the handshake and
// returns the function that serves the connection from then on, which runs
// on a fresh goroutine (a small stack that handshake code never grew).
// fasthttp keeps its request context and read buffer (tens of KB) until its
// hijack handler returns, which a long-lived connection must not pin; bytes
// fasthttp already read past the request are handed on before the socket.
func hijackRaw(ctx *fasthttp.RequestCtx, readBuffer int, open func(net.Conn) func()) {
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(hc net.Conn) {
		raw := hc
		if u, ok := hc.(interface{ UnsafeConn() net.Conn }); ok {
			raw = u.UnsafeConn()
		}
		var conn net.Conn = raw
		if raw != hc {
			// A read at least as big as fasthttp's buffer returns what it
			// holds, or goes to the socket, which the past deadline stops.
			raw.SetReadDeadline(time.Unix(1, 0))
			bp := drainBufs.Get().(*[]byte)
			if need := max(readBuffer, 4096) + 1; len(*bp) < need {
				*bp = make([]byte, need)
			}
			if n, _ := hc.Read(*bp); n > 0 {
				conn = &prefixConn{Conn: raw, prefix: bytes.Clone((*bp)[:n])}
			}
			drainBufs.Put(bp)
			raw.SetReadDeadline(time.Time{})
		}
		if serve := open(conn); serve != nil {
			go serve()
		}
	})
}

// drainBufs: the buffers that take fasthttp's read-ahead (one per upgrade
// would be tens of KB of garbage per connection).
var drainBufs = sync.Pool{New: func() any { return new([]byte) }}

// prefixConn reads prefix before the socket.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
