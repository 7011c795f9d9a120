package main

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// RFC 9112 rules that fasthttp's parser lets through, checked on every
// request before anything else sees it. fasthttp already refuses (in the
// parse error handler): malformed request lines, a version that is not
// HTTP/d.d, invalid targets, duplicate or non-numeric Content-Length,
// Transfer-Encoding other than chunked or identity, Transfer-Encoding on
// HTTP/1.0, a repeated Host, a missing or empty Host on HTTP/1.1, invalid
// bytes in field names and values, whitespace before a colon, broken chunked
// bodies. It accepts, and we refuse here:
//
//   - an HTTP version other than 1.0 and 1.1 (505);
//   - Content-Length together with Transfer-Encoding (it lets chunked win,
//     RFC 9112 section 6.3 lets a server refuse; a smuggling vector);
//   - Transfer-Encoding other than exactly "chunked" ("identity" is no
//     coding any more; section 6.1: chunked must be the final coding);
//   - a bare LF ending a header line or the header section (section 2.2:
//     we choose not to take it for a line end);
//   - obs-fold (section 5.2: refuse it or replace it; we refuse);
//   - a field name that is not a token, such as one with a space inside;
//   - a Host that is not uri-host [":" port], such as one with userinfo.
//
// The framing, Host, line-end, fold and name rules are checked again on the
// wire bytes of the header section (RawHeaders), so they hold on their own
// whatever the parser checks; CTL bytes in values are left to the parser,
// which scans every value for them already (TestRequestRules fails if a
// fasthttp upgrade stops). About 150 ns and no allocation for a browser's
// request.
//
// The request line is not kept by fasthttp: a bare LF ending it is accepted
// (RFC 9112 section 2.2 allows it; the header section must still end in
// CRLFCRLF, so it cannot frame a message differently).

// Reasons: short, constant, logged and sent as the refusal's body.
const (
	reasonVersion       = "HTTP Version Not Supported"
	reasonBareLF        = "Bad Request: bare LF in the header section"
	reasonBareCR        = "Bad Request: bare CR in the header section"
	reasonObsFold       = "Bad Request: obs-fold (folded header line)"
	reasonName          = "Bad Request: invalid header name"
	reasonMalformed     = "Bad Request: malformed header section"
	reasonCLAndTE       = "Bad Request: both Content-Length and Transfer-Encoding"
	reasonCL            = "Bad Request: invalid Content-Length"
	reasonDupCL         = "Bad Request: more than one Content-Length"
	reasonTE            = "Bad Request: Transfer-Encoding other than chunked"
	reasonDupTE         = "Bad Request: more than one Transfer-Encoding"
	reasonTEOnHTTP10    = "Bad Request: Transfer-Encoding on HTTP/1.0"
	reasonNoHost        = "Bad Request: missing Host"
	reasonDupHost       = "Bad Request: more than one Host"
	reasonHost          = "Bad Request: invalid Host"
	statusBadRequest    = fasthttp.StatusBadRequest
	statusNotSupported  = fasthttp.StatusHTTPVersionNotSupported
	lenHost             = len("host")
	lenContentLength    = len("content-length")
	lenTransferEncoding = len("transfer-encoding")
)

// checkRequestRules returns 0 to accept the request, or the status and a
// short reason to refuse it with (the caller answers and closes).
func checkRequestRules(ctx *fasthttp.RequestCtx) (status int, reason string) {
	h := &ctx.Request.Header
	http11, ok := httpVersion(h.Protocol())
	if !ok {
		return statusNotSupported, reasonVersion
	}
	if reason := checkHeaderSection(h.RawHeaders(), http11); reason != "" {
		return statusBadRequest, reason
	}
	return 0, ""
}

// httpVersion accepts exactly HTTP/1.1 and HTTP/1.0 (fasthttp takes any
// HTTP/d.d).
func httpVersion(p []byte) (http11, ok bool) {
	if len(p) != 8 || string(p[:7]) != "HTTP/1." {
		return false, false
	}
	switch p[7] {
	case '1':
		return true, true
	case '0':
		return false, true
	}
	return false, false
}

// checkHeaderSection checks the header section as received: every field
// line ends in CRLF, none is folded, names are tokens directly followed by
// ':', values hold no CTL but HTAB, and the framing and Host fields are
// sound. raw runs from the first field line through the empty line that
// ends the section (it is empty for a request without fields). Returns ""
// when it is acceptable.
//
// Field values are not read byte by byte: fasthttp's parser refuses any CTL
// but HTAB, and DEL, in a value before we run (TestRequestRules keeps it
// honest), so only names are; line ends are found with bytes.IndexByte and
// a bare CR by counting CRs.
func checkHeaderSection(raw []byte, http11 bool) string {
	if len(raw) == 0 {
		if http11 {
			return reasonNoHost
		}
		return ""
	}
	var hosts, lengths, codings, lines int
	i := 0
	for {
		if i >= len(raw) {
			return reasonMalformed // no empty line ends the section
		}
		switch raw[i] {
		case '\r':
			// The empty line ends the section; a CR may stand nowhere else
			// than before an LF: there are as many of them as lines.
			if i+2 != len(raw) || raw[i+1] != '\n' {
				return reasonMalformed
			}
			if bytes.Count(raw, crByte) != lines+1 {
				return reasonBareCR
			}
			switch {
			case lengths > 1:
				return reasonDupCL
			case codings > 1:
				return reasonDupTE
			case codings > 0 && lengths > 0:
				return reasonCLAndTE
			case codings > 0 && !http11:
				return reasonTEOnHTTP10
			case hosts > 1:
				return reasonDupHost
			case hosts == 0 && http11:
				return reasonNoHost
			}
			return ""
		case '\n':
			return reasonBareLF
		case ' ', '\t':
			return reasonObsFold
		}
		// Field name: a token, then ':' at once.
		j := i
		for j < len(raw) && tchar[raw[j]] {
			j++
		}
		if j == i || j == len(raw) || raw[j] != ':' {
			return reasonName
		}
		name := raw[i:j]
		// Field value, up to CRLF.
		lf := bytes.IndexByte(raw[j:], '\n')
		if lf < 0 {
			return reasonMalformed
		}
		lf += j
		if raw[lf-1] != '\r' {
			return reasonBareLF
		}
		value := raw[j+1 : lf-1]
		i = lf + 1
		lines++
		switch len(name) {
		case lenHost:
			if caseEqual(name, "host") {
				hosts++
				if !validHost(trimOWS(value)) {
					return reasonHost
				}
			}
		case lenContentLength:
			if caseEqual(name, "content-length") {
				lengths++
				if !allDigits(trimOWS(value)) {
					return reasonCL
				}
			}
		case lenTransferEncoding:
			if caseEqual(name, "transfer-encoding") {
				codings++
				if !caseEqual(trimOWS(value), "chunked") {
					return reasonTE
				}
			}
		}
	}
}

var crByte = []byte{'\r'}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

func allDigits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validHost: uri-host [":" port] (RFC 3986 reg-name, IPv4 or IP-literal),
// as far as a byte class tells; empty is fasthttp's to judge.
func validHost(b []byte) bool {
	if len(b) > 0 && b[0] == '[' { // IP-literal: [v6 or vFuture] then :port
		n := 1
		for n < len(b) && b[n] != ']' {
			if !ipLiteralChar[b[n]] {
				return false
			}
			n++
		}
		if n == len(b) {
			return false
		}
		b = b[n+1:]
		if len(b) == 0 {
			return true
		}
		return b[0] == ':' && digitsOrEmpty(b[1:])
	}
	colon := -1
	for n, c := range b {
		if c == ':' {
			colon = n
			break
		}
		if !regNameChar[c] {
			return false
		}
	}
	return colon < 0 || digitsOrEmpty(b[colon+1:])
}

func digitsOrEmpty(b []byte) bool { return len(b) == 0 || allDigits(b) }

// Byte classes (RFC 9110 section 5.6.2 tchar; RFC 3986 reg-name and
// IP-literal).
var tchar, regNameChar, ipLiteralChar = func() (t, r, l [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c], r[c], l[c] = true, true, true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], r[c], l[c] = true, true, true
		t[c-32], r[c-32], l[c-32] = true, true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	for _, c := range "-._~%!$&'()*+,;=" { // unreserved, pct-encoded, sub-delims
		r[c], l[c] = true, true
	}
	l[':'] = true
	return t, r, l
}()
