package main

// The pure-Go reference ("hub"): fasthttp + fasthttp/websocket, what the Go
// core could reach with no Ruby involved.
//
//	/echo : echoes each message back on the reading goroutine.
//	other : broadcast: each message goes to every connection, the sender
//	        included, like bench/ws_broadcast.ru (Iodine.publish to a channel
//	        every connection subscribed to).
//	plain HTTP: 200 "ok".
//
// Broadcast, the same structure as the Go core (go/rtconn.go): the server
// frame is built once per message and appended to every connection's outbox
// (mutex + byte buffer); a writer goroutine, started only while the outbox is
// not empty, writes all that accumulated with one Write. (fasthttp/websocket's
// WriteMessage is one syscall per message, which would dominate fan-out; an
// earlier version with a channel and a writer goroutine per connection reached
// only about half the deliveries/s.) Sending never blocks; a client more than
// maxBacklog behind is dropped.

import (
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/valyala/fasthttp"
)

// maxBacklog bounds a connection's outbox: a client that stops reading is
// dropped past it instead of growing memory without limit.
const maxBacklog = 16 << 20

type hubConn struct {
	ws *websocket.Conn

	mu      sync.Mutex
	out     []byte // frames waiting for the writer, back to back
	spare   []byte // the writer's previous buffer, reused
	writing bool   // a writer goroutine is running
	closed  bool
}

type hub struct {
	mu    sync.Mutex                 // serializes joins and leaves
	conns atomic.Pointer[[]*hubConn] // copy-on-write: broadcasters read without a lock
}

func (h *hub) join(c *hubConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.list()
	next := make([]*hubConn, len(old), len(old)+1)
	copy(next, old)
	next = append(next, c)
	h.conns.Store(&next)
}

func (h *hub) leave(c *hubConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.list()
	next := make([]*hubConn, 0, len(old))
	for _, o := range old {
		if o != c {
			next = append(next, o)
		}
	}
	h.conns.Store(&next)
}

func (h *hub) list() []*hubConn {
	if p := h.conns.Load(); p != nil {
		return *p
	}
	return nil
}

func (h *hub) broadcast(frame []byte) {
	for _, c := range h.list() {
		c.send(frame)
	}
}

// serverFrame builds an unmasked, unfragmented frame.
func serverFrame(op byte, payload []byte) []byte {
	n := len(payload)
	b := make([]byte, 0, n+10)
	b = append(b, 0x80|op)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// send appends a frame to the outbox and starts a writer unless one runs.
// It never blocks, so one slow client cannot stall a broadcast.
func (c *hubConn) send(frame []byte) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if len(c.out)+len(frame) > maxBacklog {
		c.closed = true
		c.mu.Unlock()
		_ = c.ws.NetConn().Close() // the reader fails next and cleans up
		return
	}
	c.out = append(c.out, frame...)
	start := !c.writing
	c.writing = true
	c.mu.Unlock()
	if start {
		go c.write()
	}
}

// write empties the outbox, one Write per batch, and exits when it is empty:
// an idle connection has no writer goroutine.
func (c *hubConn) write() {
	nc := c.ws.NetConn()
	for {
		c.mu.Lock()
		if len(c.out) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		buf := c.out
		c.out, c.spare = c.spare[:0], nil // spare is now out: never hand one array out twice
		c.mu.Unlock()
		_, err := nc.Write(buf)
		c.mu.Lock()
		if cap(buf) <= 64<<10 { // do not keep a burst's buffer for an idle connection
			c.spare = buf
		}
		if err != nil {
			c.closed = true
		}
		c.mu.Unlock()
		if err != nil {
			_ = nc.Close()
		}
	}
}

func (h *hub) serveBroadcast(ws *websocket.Conn) {
	c := &hubConn{ws: ws}
	// all writes go through the outbox, pongs and close frames included
	ws.SetPingHandler(func(data string) error {
		c.send(serverFrame(websocket.PongMessage, []byte(data)))
		return nil
	})
	ws.SetCloseHandler(func(code int, text string) error {
		c.send(serverFrame(websocket.CloseMessage, websocket.FormatCloseMessage(code, "")))
		return nil
	})
	h.join(c)
	var buf []byte
	for {
		op, r, err := ws.NextReader()
		if err != nil {
			break
		}
		buf = buf[:0]
		for { // read the whole message into the reused buffer
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				break
			}
		}
		h.broadcast(serverFrame(byte(op), buf))
	}
	h.leave(c)
	// let a running writer finish what is queued (the close frame) briefly
	_ = ws.NetConn().SetWriteDeadline(time.Now().Add(time.Second))
	for i := 0; i < 100; i++ {
		c.mu.Lock()
		busy := c.writing
		if !busy {
			c.closed = true
		}
		c.mu.Unlock()
		if !busy {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = ws.Close()
}

func serveEcho(ws *websocket.Conn) {
	defer ws.Close()
	var buf []byte
	for {
		op, r, err := ws.NextReader()
		if err != nil {
			return
		}
		buf = buf[:0]
		for {
			if len(buf) == cap(buf) {
				buf = append(buf, 0)[:len(buf)]
			}
			n, err := r.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+n]
			if err != nil {
				break
			}
		}
		if err := ws.WriteMessage(op, buf); err != nil {
			return
		}
	}
}

func runHub(args []string) error {
	fs := flag.NewFlagSet("hub", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	_ = fs.Parse(args)
	ln, err := net.Listen("tcp4", *addr)
	if err != nil {
		return err
	}
	h := &hub{}
	up := &websocket.FastHTTPUpgrader{
		// small buffers: 10,000 idle connections each hold one reader
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     func(*fasthttp.RequestCtx) bool { return true },
	}
	srv := &fasthttp.Server{
		NoDefaultServerHeader: true,
		Handler: func(ctx *fasthttp.RequestCtx) {
			if !websocket.FastHTTPIsWebSocketUpgrade(ctx) {
				ctx.SetBodyString("ok")
				return
			}
			handler := h.serveBroadcast
			if string(ctx.Path()) == "/echo" {
				handler = serveEcho
			}
			_ = up.Upgrade(ctx, handler)
		},
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)
	go func() {
		for sig := range stop {
			if sig != syscall.SIGUSR1 {
				os.Exit(0) // no graceful Shutdown: it would wait on hijacked WebSockets
			}
			// kill -USR1: where the memory goes (for the idle case)
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Fprintf(os.Stderr, "hub: %d connections, %d goroutines, heap in use %d KB, stacks %d KB, runtime total %d KB\n",
				len(h.list()), runtime.NumGoroutine(), m.HeapInuse>>10, m.StackInuse>>10, m.Sys>>10)
		}
	}()
	fmt.Fprintf(os.Stderr, "hub listening on ws://%s (GOMAXPROCS=%d)\n", ln.Addr(), runtime.GOMAXPROCS(0))
	return srv.Serve(ln)
}
