package main

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// Clients: Iodine::Connection.new(url, handler:) dials out: a WebSocket
// (fasthttp/websocket's Dialer), an SSE stream (net/http, parsed in
// conn_client_sse.go) or raw TCP. Once connected it lives like an accepted
// connection (conn.go): the same write queue, events and callbacks; a
// client's WebSocket frames are masked. Dialing never blocks Ruby: on_open
// follows when it succeeds, on_close alone when it fails.

type clientOptions struct {
	kind   int
	url    string
	header http.Header
	idle   time.Duration // WebSocket ping interval, or raw TCP on_timeout
	maxMsg int
}

// dialTimeout bounds the connection and the handshake.
const dialTimeout = 10 * time.Second

// connect dials in the background and serves the connection as id. The
// connection exists from now on, dialing: a close or a stopping server
// cancels the dial. When the dial fails, on_close follows alone.
func connect(id uint64, o clientOptions) {
	kind := map[int]connKind{clientWebSocket: connWebSocket, clientSSE: connSSE}[o.kind]
	if kind == 0 {
		kind = connRaw
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &dialing{cancel: cancel}
	rc := &rtConn{id: id, kind: kind, netConn: d, dialing: true,
		client: true, timeout: o.idle, maxMsg: o.maxMsg}
	if rc.kind == connSSE {
		rc.timeout = 0 // an SSE client sends nothing, not even pings
	}
	rc.register()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				logf(levelError, "client connection %d: panic: %v", id, r)
				rc.abort()
				rc.finish() // on_close (a no-op if the reader's own finish ran)
			}
		}()
		var err error
		switch rc.kind {
		case connWebSocket:
			err = rc.dialWebSocket(ctx, d, o)
		case connSSE:
			err = rc.dialSSE(ctx, d, o)
		default:
			err = rc.dialRaw(ctx, d, o)
		}
		if err != nil {
			if ctx.Err() == nil {
				logf(levelWarn, "client connection to %s failed: %v", redactURL(o.url), err)
			}
			rc.finish()
		}
	}()
}

// attach gives a dialing client its socket, and Ruby its on_open; false
// when it was closed meanwhile (the caller closes the socket).
func (c *rtConn) attach(nc net.Conn) bool {
	c.mu.Lock()
	if c.closed || c.closeAfter {
		c.mu.Unlock()
		return false
	}
	c.netConn, c.sysConn, c.dialing = nc, syscallConn(nc), false
	c.mu.Unlock()
	c.lastRead.Store(time.Now().UnixNano())
	c.queueEvent(event{typ: evOpen})
	return true
}

var errClosedWhileDialing = errors.New("closed while dialing")

func (c *rtConn) dialWebSocket(ctx context.Context, d *dialing, o clientOptions) error {
	wd := websocket.Dialer{
		NetDialContext:    d.dial,
		Proxy:             http.ProxyFromEnvironment,
		HandshakeTimeout:  dialTimeout,
		ReadBufferSize:    wsReadBuffer,
		WriteBufferPool:   unusedWriteBuffers,
		EnableCompression: true,
	}
	ws, resp, err := wd.DialContext(ctx, o.url, o.header)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return err
	}
	if !c.attach(ws.NetConn()) {
		ws.NetConn().Close()
		return errClosedWhileDialing
	}
	c.setupWebSocket(ws)
	c.readWebSocket()
	return nil
}

func (c *rtConn) dialRaw(ctx context.Context, d *dialing, o clientOptions) error {
	u, err := url.Parse(o.url)
	if err != nil {
		return err
	}
	network, address := "tcp", u.Host
	if u.Scheme == "unix" {
		// unix:///abs.sock, unix://./rel.sock and unix://rel/x.sock
		network, address = "unix", u.Host+u.Path
	}
	nc, err := d.dial(ctx, network, address)
	if err != nil {
		return err
	}
	if !c.attach(nc) {
		nc.Close()
		return errClosedWhileDialing
	}
	c.readRaw()
	return nil
}

func (c *rtConn) dialSSE(ctx context.Context, d *dialing, o clientOptions) error {
	var conn net.Conn // the socket under the response, which close and abort use
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := d.dial(ctx, network, addr)
			conn = nc
			return nc, err
		},
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: dialTimeout,
		DisableCompression:    true,
		DisableKeepAlives:     true,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url, nil)
	if err != nil {
		return err
	}
	for name, values := range o.header {
		req.Header[name] = values
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return err
	}
	media, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode != http.StatusOK || media != "text/event-stream" || conn == nil {
		resp.Body.Close()
		return fmt.Errorf("not an event stream (HTTP %d, %q)", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if !c.attach(conn) {
		resp.Body.Close()
		return errClosedWhileDialing
	}
	c.readEventStream(resp.Body)
	return nil
}

// dialing stands for a client's socket until the dial succeeds: it
// carries no bytes, and closing it cancels the dial, cutting the socket a
// handshake is still using (the WebSocket handshake ignores the context).
type dialing struct {
	cancel context.CancelFunc
	mu     sync.Mutex
	socket net.Conn
	closed bool
}

// dial opens a socket for the dial in progress, which Close can then cut.
func (d *dialing) dial(ctx context.Context, network, address string) (net.Conn, error) {
	nc, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		nc.Close()
		return nil, net.ErrClosed
	}
	d.socket = nc
	return nc, nil
}

func (d *dialing) Close() error {
	d.cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	if d.socket != nil {
		d.socket.Close()
	}
	return nil
}

func (d *dialing) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (d *dialing) Write([]byte) (int, error)        { return 0, net.ErrClosed }
func (d *dialing) LocalAddr() net.Addr              { return nil }
func (d *dialing) RemoteAddr() net.Addr             { return nil }
func (d *dialing) SetDeadline(time.Time) error      { return nil }
func (d *dialing) SetReadDeadline(time.Time) error  { return nil }
func (d *dialing) SetWriteDeadline(time.Time) error { return nil }

// redactURL drops a password from a url before it is logged.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}
