package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// listenConfig is a listener's settings, copied from iodine_listen_cfg_t.
type listenConfig struct {
	address    string
	port       int
	unix       bool
	maxBody    int64
	maxHeader  int
	maxLine    int
	maxHeaders int
	keepAlive  time.Duration
	bodySpill  int64
	fd         int           // an inherited listening socket (cluster worker), or -1
	public     string        // static files folder ("" for none)
	maxAge     int           // static files' Cache-Control max-age, seconds
	log        bool          // access log
	maxMsg     int           // WebSocket message limit, bytes
	ping       time.Duration // WebSocket/SSE keep-alive ping interval
	raw        bool          // a raw TCP service (raw.go), no HTTP
}

// listener is one Iodine.listen: a bound socket and its fasthttp server.
type listener struct {
	id       int
	cfg      listenConfig
	ln       net.Listener
	srv      *fasthttp.Server // nil for a raw TCP service
	shared   *sharedListener  // set when serving an inherited socket
	conns    *connTracker
	access   *accessLog
	static   *staticFiles // -www, or nil
	draining atomic.Bool  // stopping: every response closes its connection
	hostName string       // SERVER_NAME when a request has no Host
	port     int
}

var (
	listenersMu sync.Mutex
	listeners   []*listener
	serving     sync.WaitGroup
	stopOnce    sync.Once
	stopped     atomic.Bool
)

var keepAliveStop = make(chan struct{})

// closeRealtime runs every WebSocket/SSE connection's on_shutdown, closes
// it and waits for its on_close; at the deadline the rest are cut.
func closeRealtime(ctx context.Context) {
	shutdownConns()
	closed := make(chan struct{})
	go func() {
		liveConns.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		connsMu.RLock()
		for _, c := range conns {
			c.abort()
		}
		connsMu.RUnlock()
		select { // on_close still runs for each, briefly
		case <-closed:
		case <-time.After(2 * time.Second):
		}
	}
	close(keepAliveStop)
}

var builderPool = sync.Pool{New: func() any { return new(taskBuilder) }}

// listen binds now, so a taken port fails at once, and serves on start.
func listen(cfg listenConfig) (*listener, error) {
	var (
		ln     net.Listener
		shared *sharedListener
		err    error
	)
	if cfg.fd >= 0 {
		shared, err = newSharedListener(cfg.fd)
		ln = shared
	} else if cfg.unix {
		os.Remove(cfg.address) // a stale socket file from a dead process
		ln, err = net.Listen("unix", cfg.address)
	} else {
		ln, err = net.Listen("tcp", net.JoinHostPort(cfg.address, strconv.Itoa(cfg.port)))
	}
	if err != nil {
		return nil, err
	}
	var static *staticFiles
	if cfg.public != "" {
		if static, err = newStaticFiles(cfg.public, cfg.maxAge); err != nil {
			ln.Close()
			return nil, fmt.Errorf("public folder: %w", err)
		}
	}
	l := &listener{cfg: cfg, ln: ln, shared: shared, conns: newConnTracker(shared != nil),
		access: newAccessLog(cfg.log), static: static, hostName: cfg.address, port: cfg.port}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		l.port = a.Port
	}
	if l.hostName == "" || l.hostName == "0.0.0.0" || l.hostName == "::" || cfg.unix {
		l.hostName = "localhost"
	}
	if !cfg.raw {
		l.srv = l.httpServer()
	}
	listenersMu.Lock()
	l.id = len(listeners)
	listeners = append(listeners, l)
	listenersMu.Unlock()
	return l, nil
}

func (l *listener) httpServer() *fasthttp.Server {
	cfg := l.cfg
	return &fasthttp.Server{
		Handler:                       l.access.wrap(l.serveHTTP),
		ErrorHandler:                  l.parseErrorHandler,
		ExpectHandler:                 l.expectContinue,
		Name:                          "",
		NoDefaultServerHeader:         true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: true,
		DisablePreParseMultipartForm:  true,
		StreamRequestBody:             true,
		CloseOnShutdown:               true,
		ReadBufferSize:                cfg.maxHeader,
		MaxRequestBodySize:            int(cfg.maxBody),
		IdleTimeout:                   cfg.keepAlive,
		ReadTimeout:                   cfg.keepAlive,
		Logger:                        quietLogger{},
		ConnState:                     l.conns.onState,
		// WebSocket/SSE connections outlive fasthttp's hijack handler
		// (hijack.go); the rack.hijack handler closes its own.
		KeepHijackedConns: true,
	}
}

// quietLogger routes fasthttp's own messages to our log at debug level.
type quietLogger struct{}

func (quietLogger) Printf(format string, args ...any) { logf(levelDebug, format, args...) }

// gcPercent is how far the Go heap may grow past what is live before the
// next collection, unless GOGC says otherwise. Go's 100 lets a heap of
// idle connections' state take twice its size in memory; 50 keeps an idle
// WebSocket near 5 KB. The request path allocates little, so collections
// stay rare under load.
const gcPercent = 50

// start serves every listener in the background.
func start(gomaxprocs int) {
	if gomaxprocs > 0 {
		runtime.GOMAXPROCS(gomaxprocs)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	go keepAlive(keepAliveStop)
	listenersMu.Lock()
	defer listenersMu.Unlock()
	for _, l := range listeners {
		serving.Add(1)
		go func(l *listener) {
			defer serving.Done()
			var err error
			if l.srv == nil {
				err = l.serveRaw()
			} else {
				err = l.srv.Serve(retryListener{l.ln})
			}
			if err != nil && !l.draining.Load() {
				logf(levelError, "listener %s stopped: %v", l.ln.Addr(), err)
			}
		}(l)
	}
}

// stop shuts every server down gracefully in the background: listeners
// close at once, requests in flight finish, idle connections close. After
// timeout the remaining connections are closed. It never waits itself: the
// caller holds the GVL. Timers are dropped at once.
func stop(timeout time.Duration) {
	timersStop()
	stopOnce.Do(func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				closeRealtime(ctx)
			}()
			listenersMu.Lock()
			for _, l := range listeners {
				wg.Add(1)
				go func(l *listener) {
					defer wg.Done()
					l.drain(ctx)
					// drain closed the listener already: that error is expected.
					// A raw TCP service has no server: closeRealtime ends its connections.
					if l.srv != nil {
						if err := l.srv.ShutdownWithContext(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
							logf(levelWarn, "shutdown of %s: %v", l.ln.Addr(), err)
						}
					}
					if l.cfg.unix && l.shared == nil { // a worker's socket is the master's
						os.Remove(l.cfg.address)
					}
				}(l)
			}
			listenersMu.Unlock()
			wg.Wait()
			serving.Wait()
			listenersMu.Lock()
			for _, l := range listeners {
				l.access.flush() // the last lines before the exit
			}
			listenersMu.Unlock()
			stopped.Store(true)
		}()
	})
}

// serveHTTP hands one request to a Ruby thread and waits for its answer.
func (l *listener) serveHTTP(ctx *fasthttp.RequestCtx) {
	if l.draining.Load() {
		ctx.SetConnectionClose()
	}
	if status, reason := checkRequestRules(ctx); status != 0 {
		l.refuse(ctx, status, reason)
		return
	}
	b := builderPool.Get().(*taskBuilder)
	defer builderPool.Put(b)
	if status := b.start(ctx, l); status != 0 {
		l.refuse(ctx, status, fasthttp.StatusMessage(status))
		return
	}
	if l.static != nil && l.static.serve(ctx) {
		return
	}
	// In streaming mode fasthttp hands over a body of any announced size;
	// refuse an oversized one before reading it.
	if int64(ctx.Request.Header.ContentLength()) > l.cfg.maxBody {
		l.refuse(ctx, fasthttp.StatusRequestEntityTooLarge, "Payload Too Large")
		return
	}
	body, err := readBody(ctx, l.cfg.bodySpill, l.cfg.maxBody, l.cfg.keepAlive)
	if err != nil {
		var netErr net.Error
		if err == errBodyTooLarge {
			l.refuse(ctx, fasthttp.StatusRequestEntityTooLarge, "Payload Too Large")
		} else if err == errBodyTimeout || errors.As(err, &netErr) && netErr.Timeout() {
			l.refuse(ctx, fasthttp.StatusRequestTimeout, "Request Timeout")
		} else {
			l.refuse(ctx, fasthttp.StatusBadRequest, "Bad Request")
		}
		return
	}
	p := acquirePending(ctx)
	p.id = requests.add(p)
	queuePush(b.finish(p.id, body.mem, body.fd, body.n))
	body.release()

	switch <-p.done {
	case replyHijack:
		l.hijack(ctx, p)
		return
	case replyUpgrade:
		if b.hdr.flags&reqWS != 0 {
			l.upgradeWebSocket(ctx, p.id, p.extra)
		} else {
			l.upgradeSSE(ctx, p.id, p.extra)
		}
	}
	if p.stream == nil { // a stream's pending lives until Ruby ends it
		releasePending(p)
	}
}

// hijack gives Ruby a duplicate of the socket once fasthttp lets go of it.
func (l *listener) hijack(ctx *fasthttp.RequestCtx, p *pending) {
	conn := ctx.Conn()
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(hc net.Conn) {
		fd := -1 // a TLS connection has no plain socket to give
		if c, ok := conn.(syscall.Conn); ok {
			if d, err := dupFd(c); err == nil {
				fd = d
			}
		}
		p.fd <- fd
		hc.Close() // Ruby has its duplicate (KeepHijackedConns: ours to close)
	})
}

func (l *listener) String() string { return fmt.Sprintf("listener %d on %s", l.id, l.ln.Addr()) }

// retryListener keeps accepting when the process runs out of descriptors:
// fasthttp takes EMFILE from Accept for a permanent error and stops serving
// for good. Here the accept loop backs off (up to 1 s) until connections
// close and descriptors come back. Before it comes to that, connections
// accepted while few descriptors are left get a 503 (busy.go).
type retryListener struct{ net.Listener }

func (l retryListener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if fd := connFd(c); fd >= 0 && lowOnDescriptors(fd) {
				go refuseBusyConn(c) // busy.go: 503 and close, keeping the last descriptors
				continue
			}
			return c, nil
		}
		if !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) ||
			errors.Is(err, syscall.ENOBUFS) || errors.Is(err, syscall.ENOMEM)) {
			return c, err
		}
		if delay == 5*time.Millisecond {
			logf(levelWarn, "accept on %s: %v; waiting for descriptors", l.Addr(), err)
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
}
