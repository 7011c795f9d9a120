package main

import "github.com/valyala/fasthttp"

// accessLog is the request log (-v). Placeholder: logs nothing yet.
type accessLog struct{ enabled bool }

func newAccessLog(enabled bool) *accessLog { return &accessLog{enabled: enabled} }

// wrap returns h, logging each request it serves when enabled.
func (a *accessLog) wrap(h fasthttp.RequestHandler) fasthttp.RequestHandler { return h }

// refused logs a request answered by the parse-error handler.
func (a *accessLog) refused(ctx *fasthttp.RequestCtx, status int) {}
