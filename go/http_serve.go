package main

// The request hand-off: fasthttp parses, Go checks the request against the
// listener's rules, copies it into one C block and queues it for a Ruby
// thread, then waits for Ruby's answer (a response, an upgrade or a
// hijack).

import (
	"errors"
	"net"
	"sync"
	"syscall"

	"github.com/valyala/fasthttp"
)

// builderPool keeps the request-block builders (bridge_request_block.go).
var builderPool = sync.Pool{New: func() any { return new(taskBuilder) }}

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
	if int64(ctx.Request.Header.ContentLength()) > l.cfg.maxBodyBytes {
		l.refuse(ctx, fasthttp.StatusRequestEntityTooLarge, "Payload Too Large")
		return
	}
	body, err := readBody(ctx, l.cfg.bodySpillBytes, l.cfg.maxBodyBytes, l.cfg.keepAlive)
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
