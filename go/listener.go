package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// A listener is one Iodine.listen: its settings, its bound socket and the
// fasthttp server (or raw TCP accept loop) that serves it.

// listenConfig is a listener's settings, copied from iodine_listen_cfg_t.
// Their defaults live in one place, lib/iodine/listener_settings.rb.
type listenConfig struct {
	address        string
	port           int
	unix           bool
	maxBodyBytes   int64         // 413 above
	maxHeaderBytes int           // the whole header block; 431 above
	maxLineBytes   int           // one header line or the request target; 431/414 above
	maxHeaderCount int           // 431 above
	keepAlive      time.Duration // idle keep-alive; also the raw TCP on_timeout
	bodySpillBytes int64         // bodies above go to a temp file
	fd             int           // an inherited listening socket (cluster worker), or -1
	public         string        // static files folder ("" for none)
	maxAgeSeconds  int           // static files' Cache-Control max-age
	log            bool          // access log
	maxMsgBytes    int           // WebSocket message limit; close 1009 above
	ping           time.Duration // WebSocket/SSE keep-alive ping interval
	raw            bool          // a raw TCP service (conn_raw.go), no HTTP
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
		if static, err = newStaticFiles(cfg.public, cfg.maxAgeSeconds); err != nil {
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
		ReadBufferSize:                cfg.maxHeaderBytes,
		MaxRequestBodySize:            int(cfg.maxBodyBytes),
		IdleTimeout:                   cfg.keepAlive,
		ReadTimeout:                   cfg.keepAlive,
		Logger:                        quietLogger{},
		ConnState:                     l.conns.onState,
		// WebSocket/SSE connections outlive fasthttp's hijack handler
		// (http_hijack.go); the rack.hijack handler closes its own.
		KeepHijackedConns: true,
	}
}

// quietLogger routes fasthttp's own messages to our log at debug level.
type quietLogger struct{}

func (quietLogger) Printf(format string, args ...any) { logf(levelDebug, format, args...) }

func (l *listener) String() string { return fmt.Sprintf("listener %d on %s", l.id, l.ln.Addr()) }

// retryListener keeps accepting when the process runs out of descriptors:
// fasthttp takes EMFILE from Accept for a permanent error and stops serving
// for good. Here the accept loop backs off (up to 1 s) until connections
// close and descriptors come back. Before it comes to that, connections
// accepted while few descriptors are left get a 503 (listener_busy.go).
type retryListener struct{ net.Listener }

func (l retryListener) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			if fd := connFd(c); fd >= 0 && lowOnDescriptors(fd) {
				go refuseBusyConn(c) // listener_busy.go: 503 and close, keeping the last descriptors
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
