package main

import (
	"bufio"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"unsafe"

	"github.com/valyala/fasthttp"
)

// decodedTask is a task block read back the way the C glue reads it.
type decodedTask struct {
	hdr     taskHeader
	fields  map[string]string
	headers map[string]string
	order   []string
}

func decodeTask(t testing.TB, b []byte) decodedTask {
	t.Helper()
	if len(b) < taskHeaderSize {
		t.Fatalf("block of %d bytes is shorter than its header", len(b))
	}
	h := *(*taskHeader)(unsafe.Pointer(&b[0]))
	str := func(s span) string {
		if int(s.off)+int(s.len) > len(b) {
			t.Fatalf("span %+v outside the %d-byte block", s, len(b))
		}
		return string(b[s.off : s.off+s.len])
	}
	d := decodedTask{hdr: h, fields: map[string]string{
		"method": str(h.method), "path": str(h.path), "query": str(h.query),
		"version": str(h.version), "remote": str(h.remoteAddr), "name": str(h.serverName),
		"port": str(h.serverPort), "uri": str(h.requestURI), "body": str(h.body),
	}, headers: map[string]string{}}
	for i := uint32(0); i < h.headerCount; i++ {
		at := int(h.headersOff) + int(i)*16
		name := span{binary.NativeEndian.Uint32(b[at:]), binary.NativeEndian.Uint32(b[at+4:])}
		value := span{binary.NativeEndian.Uint32(b[at+8:]), binary.NativeEndian.Uint32(b[at+12:])}
		d.headers[str(name)] = str(value)
		d.order = append(d.order, str(name))
	}
	return d
}

// parseRequest reads a raw request into a RequestCtx, as the server does.
func parseRequest(t testing.TB, raw string) *fasthttp.RequestCtx {
	t.Helper()
	var req fasthttp.Request
	req.Header.DisableNormalizing()
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 5555}, nil)
	return ctx
}

var testListener = &listener{id: 3, hostName: "localhost", port: 3000, cfg: listenConfig{maxLineBytes: 8192, maxHeaderCount: 128}}

func TestBuildRequest(t *testing.T) {
	ctx := parseRequest(t, "POST /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: example.com:8080\r\n"+
		"Content-Type: text/plain\r\nContent-Length: 5\r\nX-Forwarded-For: a\r\n"+
		"x-forwarded-for: b\r\nCookie: a=1\r\nCookie: b=2\r\nUser-Agent: t\r\n\r\nhello")
	var b taskBuilder
	d := decodeTask(t, b.build(ctx, testListener, 99, []byte("hello"), -1, 5))

	want := map[string]string{
		"method": "POST", "path": "/a/b%20c", "query": "x=1&y=2", "version": "HTTP/1.1",
		"remote": "10.1.2.3", "name": "example.com", "port": "8080", "uri": "/a/b%20c?x=1&y=2",
		"body": "hello",
	}
	for k, v := range want {
		if d.fields[k] != v {
			t.Errorf("%s = %q, want %q", k, d.fields[k], v)
		}
	}
	if d.hdr.handle != 99 || d.hdr.listener != 3 || d.hdr.kind != taskHTTP || d.hdr.bodyFd != -1 || d.hdr.bodyLen != 5 {
		t.Errorf("header fields wrong: %+v", d.hdr)
	}
	wantHeaders := map[string]string{
		"HTTP_HOST": "example.com:8080", "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "5",
		"HTTP_X_FORWARDED_FOR": "a, b", "HTTP_COOKIE": "a=1; b=2", "HTTP_USER_AGENT": "t",
	}
	for k, v := range wantHeaders {
		if d.headers[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, d.headers[k], v, d.headers)
		}
	}
	if len(d.headers) != len(wantHeaders) {
		t.Errorf("headers %v, want exactly %v", d.headers, wantHeaders)
	}
}

func TestBuildRequestDefaults(t *testing.T) {
	// HTTP/1.0 without Host: SERVER_NAME/PORT come from the listener.
	ctx := parseRequest(t, "HEAD / HTTP/1.0\r\n\r\n")
	var b taskBuilder
	d := decodeTask(t, b.build(ctx, testListener, 1, nil, -1, 0))
	if d.fields["name"] != "localhost" || d.fields["port"] != "3000" || d.fields["query"] != "" ||
		d.fields["version"] != "HTTP/1.0" || d.hdr.flags&reqHead == 0 {
		t.Errorf("got %v flags %d", d.fields, d.hdr.flags)
	}
	// A body in a file travels as a descriptor.
	ctx = parseRequest(t, "PUT /up HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
	d = decodeTask(t, b.build(ctx, testListener, 1, nil, 17, 1<<30))
	if d.hdr.flags&reqBodyFile == 0 || d.hdr.bodyFd != 17 || d.hdr.bodyLen != 1<<30 || d.fields["port"] != "80" {
		t.Errorf("file body: %+v %v", d.hdr, d.fields)
	}
}

func TestSplitHost(t *testing.T) {
	cases := []struct{ in, name, port string }{
		{"example.com", "example.com", ""},
		{"example.com:81", "example.com", "81"},
		{"[::1]:3000", "::1", "3000"},
		{"[::1]", "::1", ""},
		{"", "", ""},
		{"[broken", "[broken", ""},
	}
	for _, c := range cases {
		name, port := splitHost([]byte(c.in))
		if string(name) != c.name || string(port) != c.port {
			t.Errorf("splitHost(%q) = %q, %q; want %q, %q", c.in, name, port, c.name, c.port)
		}
	}
}

func TestCGINames(t *testing.T) {
	var b taskBuilder
	b.reset()
	for in, want := range map[string]string{
		"content-type": "CONTENT_TYPE", "Content-Length": "CONTENT_LENGTH",
		"x-a-b": "HTTP_X_A_B", "Accept": "HTTP_ACCEPT",
	} {
		s := b.cgiName([]byte(in))
		if got := string(b.buf[s.off : s.off+s.len]); got != want {
			t.Errorf("cgiName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestStartEnforcesLimits(t *testing.T) {
	l := &listener{hostName: "h", cfg: listenConfig{maxLineBytes: 64, maxHeaderCount: 3}}
	var b taskBuilder
	cases := []struct {
		raw  string
		want int
	}{
		{"GET /" + strings.Repeat("a", 64) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414},
		{"GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("v", 62) + "\r\n\r\n", 431},
		{"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", 431},
		{"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", 0},
	}
	for _, c := range cases {
		if got := b.start(parseRequest(t, c.raw), l); got != c.want {
			t.Errorf("start(%.40q...) = %d, want %d", c.raw, got, c.want)
		}
	}
}
