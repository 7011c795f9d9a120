package main

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"
)

// checkRequestLimits enforces the per-line and header-count limits that
// fasthttp does not have (it bounds the whole header block by its read
// buffer, which we size to max_header). It answers the client itself and
// returns false when a limit is exceeded.
func (l *listener) checkRequestLimits(ctx *fasthttp.RequestCtx) bool {
	if len(ctx.Request.Header.RequestURI()) > l.cfg.maxLine {
		l.refuse(ctx, fasthttp.StatusRequestURITooLong, "URI Too Long")
		return false
	}
	count := 0
	for k, v := range ctx.Request.Header.AllInOrder() {
		count++
		if len(k)+len(v)+2 > l.cfg.maxLine {
			l.refuse(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large")
			return false
		}
	}
	if count > l.cfg.maxHeaders {
		l.refuse(ctx, fasthttp.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large")
		return false
	}
	return true
}

// refuse answers with an error status and closes the connection: after a
// refused request the rest of the stream cannot be trusted.
func (l *listener) refuse(ctx *fasthttp.RequestCtx, status int, msg string) {
	logf(levelWarn, "refused %s %s from %s: %d %s", ctx.Method(), clip(ctx.Request.Header.RequestURI()), ctx.RemoteAddr(), status, msg)
	ctx.Response.Reset()
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(msg)
	ctx.SetConnectionClose()
}

// clip shortens what we echo into the log from a hostile request.
func clip(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

// parseErrorHandler answers requests fasthttp could not parse.
func (l *listener) parseErrorHandler(ctx *fasthttp.RequestCtx, err error) {
	status, msg := fasthttp.StatusBadRequest, "Bad Request"
	var small *fasthttp.ErrSmallBuffer
	var netErr net.Error
	switch {
	case errors.As(err, &small):
		status, msg = fasthttp.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, msg = fasthttp.StatusRequestEntityTooLarge, "Payload Too Large"
	case errors.As(err, &netErr) && netErr.Timeout():
		status, msg = fasthttp.StatusRequestTimeout, "Request Timeout"
	}
	logf(levelWarn, "refused a request from %s: %d %s (%v)", ctx.RemoteAddr(), status, msg, err)
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(msg)
}
