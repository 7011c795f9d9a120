package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// WebSockets: fasthttp/websocket does the handshake and reads frames
// (fragments, control frames, permessage-deflate, the size limit). Writes
// bypass its writer: every frame goes through the connection's queue
// (rtconn.go), so Ruby never blocks and broadcasts share one encoded frame.

// wsReadBuffer is the reader's buffer: small, as most of an idle
// connection's memory is buffers. Bigger messages just take more reads.
const wsReadBuffer = 512

var wsUpgrader = websocket.Upgrader{
	ReadBufferSize:    wsReadBuffer,
	WriteBufferPool:   &sync.Pool{}, // never used: nothing writes through it
	EnableCompression: true,
	// Like iodine, the app decides who may connect (it sees HTTP_ORIGIN).
	CheckOrigin: func(*http.Request) bool { return true },
}

// isWebSocketRequest checks the handshake (RFC 6455 4.2.1) before Ruby
// sees the request, so rack.upgrade? is only offered when it can succeed.
func isWebSocketRequest(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	if !ctx.IsGet() || !headerHasToken(h.Peek("Upgrade"), "websocket") ||
		!headerHasToken(h.Peek("Connection"), "upgrade") ||
		!bytes.Equal(bytes.TrimSpace(h.Peek("Sec-WebSocket-Version")), []byte("13")) {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(h.Peek("Sec-WebSocket-Key"))))
	return err == nil && len(key) == 16
}

// headerHasToken: a comma-separated header value holds token (any case).
func headerHasToken(v []byte, token string) bool {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		part := v
		if i >= 0 {
			part, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		if caseEqual(bytes.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// upgradeWebSocket completes the handshake Ruby accepted, with the app's
// extra response headers, and serves the connection as id.
func (l *listener) upgradeWebSocket(ctx *fasthttp.RequestCtx, id uint64, extra http.Header) {
	req := &http.Request{Method: "GET", Host: string(ctx.Host()), Header: http.Header{}}
	for _, name := range []string{"Connection", "Upgrade", "Sec-WebSocket-Version", "Sec-WebSocket-Key",
		"Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol"} {
		if v := ctx.Request.Header.Peek(name); len(v) > 0 {
			req.Header.Set(name, string(v))
		}
	}
	hijackRaw(ctx, l.cfg.maxHeader, func(c net.Conn) func() {
		w := &handshakeWriter{conn: c, header: http.Header{}}
		ws, err := wsUpgrader.Upgrade(w, req, extra)
		rc := newRTConn(id, connWebSocket, c, l)
		if err != nil {
			logf(levelWarn, "WebSocket handshake failed: %v", err)
			rc.finish()
			return nil
		}
		rc.setupWebSocket(ws)
		rc.queueEvent(event{typ: evOpen})
		return func() { rc.readWebSocket(ws) }
	})
}

// handshakeWriter lets websocket.Upgrader take over a connection fasthttp
// already gave up: it is the http.Hijacker the Upgrader expects.
type handshakeWriter struct {
	conn   net.Conn
	header http.Header
}

func (w *handshakeWriter) Header() http.Header         { return w.header }
func (w *handshakeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *handshakeWriter) WriteHeader(int)             {}
func (w *handshakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	// Tiny buffers: the Upgrader reads with its own and writes the 101 itself.
	return w.conn, bufio.NewReadWriter(bufio.NewReaderSize(w.conn, 16), bufio.NewWriterSize(w.conn, 16)), nil
}

var wsMessageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// setupWebSocket routes the library's control-frame answers through the
// write queue and sets the message limit.
func (c *rtConn) setupWebSocket(ws *websocket.Conn) {
	ws.SetReadLimit(int64(c.maxMsg))
	ws.SetPingHandler(func(data string) error {
		c.lastRead.Store(time.Now().UnixNano())
		c.write(c.frame(websocket.PongMessage, []byte(data)), false)
		return nil
	})
	ws.SetPongHandler(func(string) error {
		c.lastRead.Store(time.Now().UnixNano())
		return nil
	})
	ws.SetCloseHandler(func(code int, text string) error {
		if code == websocket.CloseNoStatusReceived {
			c.closeGracefully(c.frame(websocket.CloseMessage, nil))
		} else {
			c.closeGracefully(c.closeFrame(code, ""))
		}
		return nil
	})
}

// readWebSocket reads messages until the connection ends, handing each to
// Ruby as an on_message event.
func (c *rtConn) readWebSocket(ws *websocket.Conn) {
	defer c.finish()
	for {
		typ, r, err := ws.NextReader()
		if err != nil {
			c.readEnded(err)
			return
		}
		c.lastRead.Store(time.Now().UnixNano())
		buf := wsMessageBufs.Get().(*bytes.Buffer)
		buf.Reset()
		// The library's limit counts bytes on the wire; this one counts a
		// deflated message's inflated size too.
		limit := int64(c.maxMsg)
		n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
		if err != nil {
			wsMessageBufs.Put(buf)
			c.readEnded(err)
			return
		}
		if n > limit {
			wsMessageBufs.Put(buf)
			logf(levelInfo, "connection %d: message over %d bytes; closed (1009)", c.id, limit)
			c.closeGracefully(c.closeFrame(websocket.CloseMessageTooBig, ""))
			continue // the client answers the close, then the read fails
		}
		e := event{typ: evMessage, data: buf.Bytes()}
		if typ == websocket.BinaryMessage {
			e.flags = evBinary
		} else if !utf8.Valid(e.data) {
			wsMessageBufs.Put(buf)
			logf(levelDebug, "connection %d: text message is not UTF-8; closing (1007)", c.id)
			c.closeGracefully(c.closeFrame(websocket.CloseInvalidFramePayloadData, "invalid UTF-8"))
			continue // the client answers the close, then the read fails
		}
		c.queueEvent(e)
		if buf.Cap() <= 64<<10 {
			wsMessageBufs.Put(buf)
		}
	}
}

// readEnded explains why a WebSocket stopped reading, at debug level: the
// library already answered protocol errors (1002) and oversized messages
// (1009) with a close frame.
func (c *rtConn) readEnded(err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce), errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.Is(err, websocket.ErrReadLimit):
		logf(levelInfo, "connection %d: message over %d bytes; closed (1009)", c.id, c.maxMsg)
	default:
		logf(levelDebug, "connection %d: %v", c.id, err)
	}
}

// WebSocket frames the server sends: unmasked, never fragmented.
func wsFrame(opcode int, payload []byte) []byte {
	return appendFrame(make([]byte, 0, len(payload)+10), opcode, payload, false)
}

// appendFrame appends one final frame; masked (a client's, RFC 6455 5.3)
// with a fresh random key.
func appendFrame(b []byte, opcode int, payload []byte, masked bool) []byte {
	n := len(payload)
	b = append(b, 0x80|byte(opcode))
	var maskBit byte
	if masked {
		maskBit = 0x80
	}
	switch {
	case n < 126:
		b = append(b, maskBit|byte(n))
	case n < 1<<16:
		b = append(b, maskBit|126, byte(n>>8), byte(n))
	default:
		b = append(b, maskBit|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !masked {
		return append(b, payload...)
	}
	var key [4]byte
	rand.Read(key[:])
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	for i := range payload {
		b[start+i] ^= key[i&3]
	}
	return b
}

func wsCloseFrame(code int, reason string) []byte {
	return wsFrame(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason))
}

var wsPingFrame = wsFrame(websocket.PingMessage, nil)

// wsMessage frames a message as text or binary.
func wsMessage(data []byte, binaryData bool) []byte {
	if binaryData {
		return wsFrame(websocket.BinaryMessage, data)
	}
	return wsFrame(websocket.TextMessage, data)
}

// frame builds a frame for this connection: masked when it is a client.
func (c *rtConn) frame(opcode int, payload []byte) []byte {
	if !c.client {
		return wsFrame(opcode, payload)
	}
	return appendFrame(make([]byte, 0, len(payload)+14), opcode, payload, true)
}

func (c *rtConn) closeFrame(code int, reason string) []byte {
	return c.frame(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason))
}

// message frames data as text or binary for this connection.
func (c *rtConn) message(data []byte, binaryData bool) []byte {
	if binaryData {
		return c.frame(websocket.BinaryMessage, data)
	}
	return c.frame(websocket.TextMessage, data)
}
