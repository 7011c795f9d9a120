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
// (conn.go), so Ruby never blocks and broadcasts share one encoded frame.

// wsReadBuffer is the reader's buffer: small, as most of an idle
// connection's memory is buffers. Bigger messages just take more reads, or
// are read past it. It must hold a whole control frame (131 bytes), and
// the Upgrader adopts our reader (see handshakeWriter) only above 256.
const wsReadBuffer = 288

const _ = uint(wsReadBuffer - 257) // does not compile at 256 or less

// unusedWriteBuffers keeps the library from allocating a write buffer per
// connection: nothing writes through it (our frames go through rtConn's queue).
var unusedWriteBuffers = &sync.Pool{}

var wsUpgrader = websocket.Upgrader{
	ReadBufferSize:    0, // read through handshakeWriter's reader, which we keep
	WriteBufferPool:   unusedWriteBuffers,
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
	hijackRaw(ctx, l.cfg.maxHeaderBytes, func(c net.Conn) func() {
		w := &handshakeWriter{conn: c, header: http.Header{}, in: new(bufio.Reader)}
		lendBuffer(w.in, c)
		ws, err := wsUpgrader.Upgrade(w, req, extra)
		rc := newRTConn(id, connWebSocket, c, l)
		if err != nil {
			logf(levelWarn, "WebSocket handshake failed: %v", err)
			rc.finish()
			return nil
		}
		rc.wsIn = w.in
		rc.setupWebSocket(ws)
		rc.queueEvent(event{typ: evOpen})
		return rc.serveReads
	})
}

// handshakeWriter lets websocket.Upgrader take over a connection fasthttp
// already gave up: it is the http.Hijacker the Upgrader expects. Its
// reader becomes the connection's, so a read pass can see what is buffered.
type handshakeWriter struct {
	conn   net.Conn
	header http.Header
	in     *bufio.Reader
}

func (w *handshakeWriter) Header() http.Header         { return w.header }
func (w *handshakeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *handshakeWriter) WriteHeader(int)             {}
func (w *handshakeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	// A tiny writer: the Upgrader writes the 101 itself.
	return w.conn, bufio.NewReadWriter(w.in, bufio.NewWriterSize(w.conn, 16)), nil
}

var wsMessageBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// A parked WebSocket with nothing buffered has no read buffer: it goes
// back to wsReadBuffers until the connection is woken. fasthttp/websocket
// keeps a pointer to the connection's bufio.Reader, so the buffer moves in
// and out of it by value, carried by spare Reader structs ("boxes").
var (
	wsReadBuffers sync.Pool // boxes holding a buffer
	wsEmptyBoxes  sync.Pool // boxes to carry a buffer back
)

// lendBuffer gives r (empty) a read buffer, reading from src.
func lendBuffer(r *bufio.Reader, src io.Reader) {
	box, _ := wsReadBuffers.Get().(*bufio.Reader)
	if box == nil {
		*r = *bufio.NewReaderSize(src, wsReadBuffer)
		return
	}
	box.Reset(src)
	*r, *box = *box, bufio.Reader{}
	wsEmptyBoxes.Put(box)
}

// returnReadBuffer takes a parked WebSocket's read buffer back, unless
// bytes of its next frame wait in it.
func (c *rtConn) returnReadBuffer() {
	if c.wsIn == nil || c.wsIn.Size() == 0 || c.wsIn.Buffered() > 0 {
		return
	}
	box, _ := wsEmptyBoxes.Get().(*bufio.Reader)
	if box == nil {
		box = new(bufio.Reader)
	}
	*box, *c.wsIn = *c.wsIn, bufio.Reader{}
	wsReadBuffers.Put(box)
}

// setupWebSocket routes the library's control-frame answers through the
// write queue and sets the message limit.
func (c *rtConn) setupWebSocket(ws *websocket.Conn) {
	c.ws = ws
	ws.SetReadLimit(int64(c.maxMsg))
	ws.SetPingHandler(func(data string) error {
		c.pinged([]byte(data))
		return nil
	})
	ws.SetPongHandler(func(string) error {
		c.lastRead.Store(time.Now().UnixNano())
		return nil
	})
	ws.SetCloseHandler(func(code int, text string) error {
		c.markPeerClosed()
		if code == websocket.CloseNoStatusReceived {
			c.closeGracefully(c.frame(websocket.CloseMessage, nil))
		} else {
			c.closeGracefully(c.closeFrame(code, ""))
		}
		return nil
	})
}

// pinged answers the client's ping (through the library's handler or a
// read pass's own reading of it).
func (c *rtConn) pinged(payload []byte) {
	c.lastRead.Store(time.Now().UnixNano())
	c.write(c.frame(websocket.PongMessage, payload), false)
}

// markPeerClosed notes the client's close frame: no linger at the end.
func (c *rtConn) markPeerClosed() {
	c.mu.Lock()
	c.peerClosed = true
	c.mu.Unlock()
}

// readWebSocket reads messages until the connection ends (a client, or a
// socket the poller cannot park).
func (c *rtConn) readWebSocket() {
	defer c.finish()
	if c.wsIn != nil && c.wsIn.Size() == 0 { // lent out while it was parked
		lendBuffer(c.wsIn, c.netConn)
	}
	for c.readMessage() {
		c.awaitReadAhead()
	}
}

// wsReadReady is a parked WebSocket's read pass (conn_read.go). Pings and
// pongs alone are answered here: inside the library, the reader would go
// on to wait for the next frame and keep a goroutine for it. Messages,
// close frames and anything malformed go through fasthttp/websocket.
// It returns passMore, passPaused or passEnded (conn_read.go).
func (c *rtConn) wsReadReady(woken bool) int {
	if c.wsIn.Size() == 0 {
		lendBuffer(c.wsIn, c.netConn)
	}
	canFill := woken
	for !c.wsClosing {
		if c.pauseReading() {
			return passPaused // what is buffered waits in wsIn
		}
		b, _ := c.wsIn.Peek(c.wsIn.Buffered())
		switch kind, size := peekFrame(b, !c.client); kind {
		case peekIncomplete:
			if !canFill && !c.prefixPending() {
				return passMore
			}
			canFill = false
			if _, err := c.wsIn.Peek(len(b) + 1); err != nil { // one read, which has bytes
				c.readEnded(err)
				return passEnded
			}
		case peekPing:
			c.pinged(framePayload(b[:size]))
			c.wsIn.Discard(size)
		case peekPong:
			c.lastRead.Store(time.Now().UnixNano())
			c.wsIn.Discard(size)
		case peekShortClose: // the library would read it as "no status"
			logf(levelDebug, "connection %d: close frame with a 1-byte payload; closing (1002)", c.id)
			c.markPeerClosed()
			c.closeGracefully(c.closeFrame(websocket.CloseProtocolError, ""))
			return passEnded
		default:
			if !c.readMessage() {
				return passEnded
			}
			canFill = false
		}
	}
	// After a close of ours, read what the client still sends (dropped)
	// until its close reply, or until the linger ends the connection.
	for c.readMessage() {
	}
	return passEnded
}

// readMessage reads one message through the library and hands it to Ruby
// as an on_message event; false once reading ended. Once we sent a close
// (1009, 1007), messages are read and dropped.
func (c *rtConn) readMessage() bool {
	typ, r, err := c.ws.NextReader()
	if err != nil {
		c.readEnded(err)
		return false
	}
	c.lastRead.Store(time.Now().UnixNano())
	buf := wsMessageBufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			wsMessageBufs.Put(buf)
		}
	}()
	// The library's limit counts bytes on the wire; this one counts a
	// deflated message's inflated size too.
	limit := int64(c.maxMsg)
	n, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	switch {
	case err != nil:
		c.readEnded(err)
		return false
	case c.wsClosing:
	case n > limit:
		logf(levelInfo, "connection %d: message over %d bytes; closed (1009)", c.id, limit)
		c.closeOnError(websocket.CloseMessageTooBig, "")
	case typ == websocket.BinaryMessage:
		c.queueEvent(event{typ: evMessage, flags: evBinary, data: buf.Bytes()})
	case !utf8.Valid(buf.Bytes()):
		logf(levelDebug, "connection %d: text message is not UTF-8; closing (1007)", c.id)
		c.closeOnError(websocket.CloseInvalidFramePayloadData, "invalid UTF-8")
	default:
		c.queueEvent(event{typ: evMessage, data: buf.Bytes()})
	}
	return true
}

// closeOnError sends our close frame for a message we refuse; the client
// answers it, then the read fails.
func (c *rtConn) closeOnError(code int, reason string) {
	c.wsClosing = true
	c.closeGracefully(c.closeFrame(code, reason))
}

// Frames a read pass looks at before the library (peekFrame).
const (
	peekIncomplete = iota // the frame has not fully arrived
	peekOther             // a message, a close, anything the library judges
	peekPing
	peekPong
	peekShortClose // a close frame with a 1-byte payload: a protocol error
)

// peekFrame classifies the frame at the start of b (RFC 6455 5.2): a
// well-formed ping or pong, all there, is the read pass's to answer.
// masked: what a client must send (a server's frames are not masked).
func peekFrame(b []byte, masked bool) (kind, size int) {
	if len(b) < 2 {
		return peekIncomplete, 0
	}
	opcode, length := int(b[0]&0x0f), int(b[1]&0x7f)
	if opcode < websocket.CloseMessage || b[0]&0xf0 != 0x80 || (b[1]&0x80 != 0) != masked || length > 125 {
		return peekOther, 0 // data, fragments, reserved bits, bad masking: the library's
	}
	size = 2 + length
	if masked {
		size += 4
	}
	if len(b) < size {
		return peekIncomplete, 0
	}
	switch {
	case opcode == websocket.PingMessage:
		return peekPing, size
	case opcode == websocket.PongMessage:
		return peekPong, size
	case opcode == websocket.CloseMessage && length == 1:
		return peekShortClose, size
	}
	return peekOther, 0
}

// framePayload copies a short frame's payload (peekFrame), unmasked.
func framePayload(frame []byte) []byte {
	length := int(frame[1] & 0x7f)
	if frame[1]&0x80 == 0 {
		return bytes.Clone(frame[2 : 2+length])
	}
	key, p := frame[2:6], bytes.Clone(frame[6:6+length])
	for i := range p {
		p[i] ^= key[i&3]
	}
	return p
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
