package main

import "github.com/valyala/fasthttp"

// checkRequestRules applies the RFC 9112 rules fasthttp's parser lets
// through. Placeholder: accepts everything yet.
func checkRequestRules(ctx *fasthttp.RequestCtx) (status int, reason string) { return 0, "" }
