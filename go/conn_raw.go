package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Raw TCP services (Iodine.listen(service: :raw) or a tcp:// url): no HTTP.
// Go accepts and reads; each read becomes an on_message event with the
// bytes as they came (a binary string), writes go through the connection's
// queue like a WebSocket's, and the listener's timeout (seconds without
// traffic) becomes an on_timeout event; a handler without one is closed.

// rawReadBuffer is the most one on_message receives.
const rawReadBuffer = 16 << 10

var rawBufs = sync.Pool{New: func() any { b := make([]byte, rawReadBuffer); return &b }}

// Connection ids for connections that never were a request (raw TCP,
// clients): the top bit keeps them apart from request handles.
var nextOwnID atomic.Uint64

func newConnID() uint64 { return 1<<63 | nextOwnID.Add(1) }

// serveRaw accepts connections until the listener closes.
func (l *listener) serveRaw() error {
	ln := retryListener{l.ln}
	for {
		c, err := ln.Accept()
		if err != nil {
			if l.draining.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		rc := newRTConn(newConnID(), connRaw, c, l)
		rc.queueEvent(event{typ: evAccept, sub: uint64(l.id), data: []byte(remoteIP(c))})
		go rc.serveReads()
	}
}

// remoteIP is a connection's peer address without the port, as REMOTE_ADDR.
func remoteIP(c net.Conn) string { return string(appendPeerIP(nil, c.RemoteAddr(), "127.0.0.1")) }

// readRaw hands what the client sends to Ruby until it goes (a client, or
// a socket the poller cannot park). The buffer is taken only once data is
// there (awaitBytes, on plain sockets), so an idle connection holds none.
func (c *rtConn) readRaw() {
	defer c.finish()
	for (c.sysConn == nil || awaitBytes(c.sysConn) == nil) && c.readRawOnce() {
		c.awaitReadAhead()
	}
}

// readRawOnce hands one read's bytes to Ruby; false once the client went.
func (c *rtConn) readRawOnce() bool {
	bp := rawBufs.Get().(*[]byte)
	n, err := c.netConn.Read(*bp)
	if n > 0 {
		c.lastRead.Store(time.Now().UnixNano())
		c.queueEvent(event{typ: evMessage, flags: evBinary, data: (*bp)[:n]}) // copied on the way
	}
	rawBufs.Put(bp)
	if err != nil {
		c.peerEOF = errors.Is(err, io.EOF) // replies still go out (finish)
		return false
	}
	return true
}

// awaitBytes waits in Go's poller until the socket has bytes, EOF or an
// error to report (a read deadline ends the wait too).
func awaitBytes(raw syscall.RawConn) error {
	var peek [1]byte
	return raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return !errors.Is(err, syscall.EAGAIN) // data, EOF or an error: Read reports it
	})
}

// timedOut is the keep-alive check of a raw connection: after its timeout
// without traffic either way, Ruby gets on_timeout (once per timeout).
func (c *rtConn) timedOut(now int64, timeout time.Duration) bool {
	last := max(c.lastRead.Load(), c.lastWrite.Load())
	if now-last < int64(timeout) {
		return false
	}
	c.lastRead.Store(now)
	return true
}
