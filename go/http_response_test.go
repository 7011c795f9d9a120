package main

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// pack serialises headers the way the C glue does.
func pack(kv ...string) []byte {
	var b []byte
	for _, s := range kv {
		b = binary.NativeEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

func TestApplyHeaders(t *testing.T) {
	var resp fasthttp.Response
	resp.Header.DisableNormalizing()
	file, cl := applyHeaders(&resp, pack(
		"Content-Type", "text/html",
		"Set-Cookie", "a=1\nb=2",
		"X-Multi", "one",
		"X-Multi", "two",
		"Bad Name", "dropped",
		"X-Split", "ok\r\nInjected: yes",
		"Content-Length", "12",
		"X-Sendfile", "/tmp/file",
	))
	if string(file) != "/tmp/file" || cl != 12 {
		t.Errorf("sendfile %q, content length %d", file, cl)
	}
	out := resp.Header.String()
	for _, want := range []string{"Content-Type: text/html", "Set-Cookie: a=1", "Set-Cookie: b=2",
		"X-Multi: one", "X-Multi: two"} {
		if !strings.Contains(out, want+"\r\n") {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	for _, bad := range []string{"Bad Name", "Injected", "X-Sendfile"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q should have been dropped:\n%s", bad, out)
		}
	}
}

func TestResponseHeadersStopsAtTruncation(t *testing.T) {
	full := pack("A", "1", "B", "2")
	var names []string
	responseHeaders(full[:len(full)-1], func(n, v []byte) { names = append(names, string(n)) })
	if len(names) != 1 || names[0] != "A" {
		t.Errorf("truncated list gave %v", names)
	}
}

func FuzzResponseHeaders(f *testing.F) {
	f.Add(pack("Content-Type", "text/plain", "Set-Cookie", "a\nb"))
	f.Add([]byte{255, 255, 255, 255})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		responseHeaders(b, func(n, v []byte) { total += 8 + len(n) + len(v) })
		if total > len(b) {
			t.Fatalf("walked %d bytes of a %d-byte buffer", total, len(b))
		}
		var resp fasthttp.Response
		applyHeaders(&resp, b) // must never panic
		if strings.ContainsAny(resp.Header.String()[strings.Index(resp.Header.String(), "\r\n")+2:], "\x00") {
			t.Fatal("NUL reached the response header")
		}
	})
}

func FuzzSplitHost(f *testing.F) {
	for _, s := range []string{"a:1", "[::1]:2", "[", "]:", ":::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		name, port := splitHost([]byte(host))
		if len(name)+len(port) > len(host) {
			t.Fatalf("splitHost(%q) grew: %q %q", host, name, port)
		}
	})
}

// FuzzBuildRequest feeds raw requests through fasthttp's parser and our
// copy; every span must stay inside the block and the header table must
// hold CGI names only.
func FuzzBuildRequest(f *testing.F) {
	f.Add("GET /x?y HTTP/1.1\r\nHost: a\r\nA: 1\r\na: 2\r\n\r\n")
	f.Add("POST / HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc")
	f.Fuzz(func(t *testing.T, raw string) {
		var req fasthttp.Request
		req.Header.DisableNormalizing()
		if err := req.Header.Read(bufioReader(raw)); err != nil {
			return
		}
		ctx := new(fasthttp.RequestCtx)
		ctx.Init(&req, nil, nil)
		var b taskBuilder
		d := decodeTask(t, b.build(ctx, testListener, 1, nil, -1, 0))
		for _, name := range d.order {
			if strings.ContainsAny(name, "abcdefghijklmnopqrstuvwxyz-") && !strings.HasPrefix(name, "HTTP_") {
				t.Fatalf("header name %q is not in CGI form", name)
			}
		}
	})
}
