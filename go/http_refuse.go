package main

import (
	"errors"
	"net"

	"github.com/valyala/fasthttp"
)

// refuse answers with an error status and closes the connection: after a
// refused request the rest of the stream cannot be trusted.
func (l *listener) refuse(ctx *fasthttp.RequestCtx, status int, msg string) {
	logf(levelWarn, "refused %s %s from %s: %d %s", ctx.Method(), clip(ctx.Request.Header.RequestURI()), ctx.RemoteAddr(), status, msg)
	ctx.Response.Reset()
	answerPlain(ctx, status, msg)
	ctx.SetConnectionClose()
}

// answerPlain sets a status and its short text/plain explanation.
func answerPlain(ctx *fasthttp.RequestCtx, status int, msg string) {
	ctx.SetStatusCode(status)
	ctx.SetContentType("text/plain")
	ctx.SetBodyString(msg)
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
	answerPlain(ctx, status, msg)
	l.access.refused(ctx, status)
}

// expectContinue answers "Expect: 100-continue": a body that is announced
// too big is refused before the client sends it. (Without Expect, fasthttp
// reads the first 8 KB of a body before the handler refuses it.)
func (l *listener) expectContinue(ctx *fasthttp.RequestCtx) int {
	if int64(ctx.Request.Header.ContentLength()) > l.cfg.maxBodyBytes {
		logf(levelWarn, "refused %s %s from %s: 413 Payload Too Large (Content-Length %d)",
			ctx.Method(), clip(ctx.Request.Header.RequestURI()), ctx.RemoteAddr(), ctx.Request.Header.ContentLength())
		answerPlain(ctx, fasthttp.StatusRequestEntityTooLarge, "Payload Too Large")
		return fasthttp.StatusRequestEntityTooLarge
	}
	return fasthttp.StatusContinue
}
