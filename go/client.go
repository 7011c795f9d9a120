package main

import (
	"context"
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
// sse_client.go) or raw TCP. Once connected it lives like an accepted
// connection (rtconn.go): the same write queue, events and callbacks; a
// client's WebSocket frames are masked. Dialing never blocks Ruby: on_open
// follows when it succeeds, on_close alone when it fails.

// Client kinds (Iodine::Connection passes them).
const (
	clientWebSocket = 1
	clientSSE       = 2
	clientRaw       = 3
)

type clientOptions struct {
	kind   int
	url    string
	header http.Header
	idle   time.Duration // WebSocket ping interval, or raw TCP on_timeout
	maxMsg int
}

// dialTimeout bounds the connection and the handshake.
const dialTimeout = 10 * time.Second

var clientWriteBufs = &sync.Pool{} // never used: nothing writes through the library

// connect dials in the background and serves the connection as id.
func connect(id uint64, o clientOptions) {
	go func() {
		var err error
		switch o.kind {
		case clientWebSocket:
			err = dialWebSocket(id, o)
		case clientSSE:
			err = dialSSE(id, o)
		default:
			err = dialRaw(id, o)
		}
		if err != nil {
			logf(levelWarn, "client connection to %s failed: %v", redactURL(o.url), err)
			pushEvent(taskConn, id, event{typ: evClose}) // on_close, and nothing else
		}
	}()
}

func newClientConn(id uint64, kind connKind, c net.Conn, o clientOptions) *rtConn {
	rc := newRTConn(id, kind, c, nil)
	rc.client, rc.timeout, rc.maxMsg = true, o.idle, o.maxMsg
	return rc
}

func dialWebSocket(id uint64, o clientOptions) error {
	d := websocket.Dialer{
		Proxy:             http.ProxyFromEnvironment,
		HandshakeTimeout:  dialTimeout,
		ReadBufferSize:    wsReadBuffer,
		WriteBufferPool:   clientWriteBufs,
		EnableCompression: true,
	}
	ws, resp, err := d.Dial(o.url, o.header)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("%w (HTTP %d)", err, resp.StatusCode)
		}
		return err
	}
	rc := newClientConn(id, connWebSocket, ws.NetConn(), o)
	rc.setupWebSocket(ws)
	rc.queueEvent(event{typ: evOpen})
	rc.readWebSocket(ws)
	return nil
}

func dialRaw(id uint64, o clientOptions) error {
	u, err := url.Parse(o.url)
	if err != nil {
		return err
	}
	network, address := "tcp", u.Host
	if u.Scheme == "unix" {
		network, address = "unix", u.Path
	}
	c, err := net.DialTimeout(network, address, dialTimeout)
	if err != nil {
		return err
	}
	rc := newClientConn(id, connRaw, c, o)
	rc.queueEvent(event{typ: evOpen})
	rc.readRaw()
	return nil
}

func dialSSE(id uint64, o clientOptions) error {
	var conn net.Conn // the socket under the response, which close and abort use
	dialer := &net.Dialer{Timeout: dialTimeout}
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			conn = c
			return c, err
		},
		TLSHandshakeTimeout:   dialTimeout,
		ResponseHeaderTimeout: dialTimeout,
		DisableCompression:    true,
		DisableKeepAlives:     true,
	}
	req, err := http.NewRequest(http.MethodGet, o.url, nil)
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
	rc := newClientConn(id, connSSE, conn, o)
	rc.timeout = 0 // a client sends nothing, not even pings
	rc.queueEvent(event{typ: evOpen})
	rc.readEventStream(resp.Body)
	return nil
}

// redactURL drops a password from a url before it is logged.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}
