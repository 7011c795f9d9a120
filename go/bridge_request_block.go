package main

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// The Go mirror of iodine_task_t's fixed part (see iodine.h). Its layout is
// checked against the C struct in bridge_abi_check.go.
type taskHeader struct {
	next                                                             uint64
	handle                                                           uint64
	kind, listener, flags                                            uint32
	bodyFd                                                           int32
	bodyLen                                                          uint64
	method, path, query, version, remoteAddr, serverName, serverPort span
	requestURI, body                                                 span
	headerCount, headersOff                                          uint32
}

type span struct{ off, len uint32 }

const taskHeaderSize = int(unsafe.Sizeof(taskHeader{}))

// taskBuilder lays out one request block: the fixed header, then the
// strings, then the header span table. It is reused between requests.
type taskBuilder struct {
	buf   []byte
	hdr   taskHeader
	pairs []span // name, value spans
}

func (b *taskBuilder) reset() {
	b.buf = append(b.buf[:0], make([]byte, taskHeaderSize)...)
	b.hdr = taskHeader{bodyFd: -1}
	b.pairs = b.pairs[:0]
}

func (b *taskBuilder) str(p []byte) span {
	s := span{uint32(len(b.buf)), uint32(len(p))}
	b.buf = append(b.buf, p...)
	return s
}

// cgiName appends HTTP_NAME (or CONTENT_TYPE/CONTENT_LENGTH) for a header.
func (b *taskBuilder) cgiName(name []byte) span {
	start := len(b.buf)
	if !caseEqual(name, "content-type") && !caseEqual(name, "content-length") {
		b.buf = append(b.buf, "HTTP_"...)
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		}
		b.buf = append(b.buf, c)
	}
	return span{uint32(start), uint32(len(b.buf) - start)}
}

func caseEqual(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// addHeader adds one request header; a repeated header is joined to the
// first with ", " ("; " for cookies), as Rack expects one value per key.
func (b *taskBuilder) addHeader(name, value []byte) {
	n := b.cgiName(name)
	for i := 0; i < len(b.pairs); i += 2 {
		p := b.pairs[i]
		if !bytes.Equal(b.buf[p.off:p.off+p.len], b.buf[n.off:n.off+n.len]) {
			continue
		}
		sep := ", "
		if string(b.buf[n.off:n.off+n.len]) == "HTTP_COOKIE" {
			sep = "; "
		}
		b.buf = b.buf[:n.off] // drop the repeated name
		old := b.pairs[i+1]
		start := len(b.buf)
		b.buf = append(b.buf, b.buf[old.off:old.off+old.len]...)
		b.buf = append(b.buf, sep...)
		b.buf = append(b.buf, value...)
		b.pairs[i+1] = span{uint32(start), uint32(len(b.buf) - start)}
		return
	}
	b.pairs = append(b.pairs, n, b.str(value))
}

// splitHost splits a Host header into name and port ("[::1]:80" keeps the
// brackets out of the name). An absent port is reported as empty.
func splitHost(host []byte) (name, port []byte) {
	if len(host) > 0 && host[0] == '[' {
		if end := bytes.IndexByte(host, ']'); end > 0 {
			name = host[1:end]
			rest := host[end+1:]
			if len(rest) > 1 && rest[0] == ':' {
				port = rest[1:]
			}
			return name, port
		}
		return host, nil
	}
	if i := bytes.LastIndexByte(host, ':'); i >= 0 {
		return host[:i], host[i+1:]
	}
	return host, nil
}

// start copies a request's line and headers into the builder, enforcing
// the per-line and header-count limits fasthttp does not have (it bounds
// the whole header block by its read buffer, sized to max_header). It
// returns 0, or the status to refuse the request with.
func (b *taskBuilder) start(ctx *fasthttp.RequestCtx, l *listener) int {
	b.reset()
	h := &b.hdr
	h.kind = taskHTTP
	h.listener = uint32(l.id)
	req := &ctx.Request
	uri := req.Header.RequestURI()
	if len(uri) > l.cfg.maxLineBytes {
		return fasthttp.StatusRequestURITooLong
	}
	h.method = b.str(req.Header.Method())
	h.requestURI = b.str(uri)
	path, query := uri, []byte(nil)
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		path, query = uri[:i], uri[i+1:]
	}
	if len(path) > 0 && path[0] != '/' { // absolute-form: http://host/path
		if u := req.URI(); u != nil {
			path = u.PathOriginal()
			if i := bytes.IndexByte(path, '?'); i >= 0 {
				path = path[:i]
			}
		}
	}
	h.path = b.str(path)
	h.query = b.str(query)
	h.version = b.str(req.Header.Protocol())
	h.remoteAddr = b.remoteIP(ctx)
	name, port := splitHost(req.Header.Host())
	if len(name) == 0 {
		name = []byte(l.hostName)
	}
	if len(port) == 0 {
		if ctx.IsTLS() {
			port = []byte("443")
		} else if len(req.Header.Host()) == 0 {
			port = strconv.AppendInt(nil, int64(l.port), 10)
		} else {
			port = []byte("80")
		}
	}
	h.serverName = b.str(name)
	h.serverPort = b.str(port)
	if ctx.IsTLS() {
		h.flags |= reqTLS
	}
	if req.Header.IsHead() {
		h.flags |= reqHead
	}
	if !req.Header.IsHTTP11() {
		h.flags |= reqHTTP10
	}
	if ctx.IsGet() {
		if isWebSocketRequest(ctx) {
			h.flags |= reqWS
		} else if isSSERequest(ctx) {
			h.flags |= reqSSE
		}
	}
	count := 0
	for k, v := range req.Header.AllInOrder() {
		count++
		if len(k)+len(v)+2 > l.cfg.maxLineBytes || count > l.cfg.maxHeaderCount {
			return fasthttp.StatusRequestHeaderFieldsTooLarge
		}
		b.addHeader(k, v)
	}
	return 0
}

// finish adds the body (in memory, or bodyFd >= 0 for a temp file) and the
// header table, and returns the finished block.
func (b *taskBuilder) finish(handle uint64, body []byte, bodyFd int, bodyLen int64) []byte {
	h := &b.hdr
	h.handle = handle
	if bodyFd >= 0 {
		h.flags |= reqBodyFile
		h.bodyFd = int32(bodyFd)
	} else {
		h.body = b.str(body)
	}
	h.bodyLen = uint64(bodyLen)
	h.headerCount = uint32(len(b.pairs) / 2)
	h.headersOff = uint32(len(b.buf))
	for _, s := range b.pairs {
		b.buf = binary.NativeEndian.AppendUint32(b.buf, s.off)
		b.buf = binary.NativeEndian.AppendUint32(b.buf, s.len)
	}
	*(*taskHeader)(unsafe.Pointer(&b.buf[0])) = *h
	return b.buf
}

// build is start and finish in one step (tests, and requests known to be
// within the limits).
func (b *taskBuilder) build(ctx *fasthttp.RequestCtx, l *listener, handle uint64, body []byte, bodyFd int, bodyLen int64) []byte {
	b.start(ctx, l)
	return b.finish(handle, body, bodyFd, bodyLen)
}

// remoteIP appends the peer's address to the block.
func (b *taskBuilder) remoteIP(ctx *fasthttp.RequestCtx) span {
	start := len(b.buf)
	b.buf = appendPeerIP(b.buf, ctx.RemoteAddr(), "127.0.0.1") // as other servers do for a Unix socket
	return span{uint32(start), uint32(len(b.buf) - start)}
}
