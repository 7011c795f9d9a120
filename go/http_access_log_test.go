package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttputil"
)

// lockedBuffer collects what a sink writes, one Write per element.
type lockedBuffer struct {
	mu     sync.Mutex
	writes [][]byte
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes = append(w.writes, append([]byte(nil), p...))
	w.mu.Unlock()
	return len(p), nil
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(bytes.Join(w.writes, nil))
}

func (w *lockedBuffer) lines() []string {
	s := w.String()
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// testLog is an enabled access log writing to a buffer, flushed by hand.
func testLog() (*accessLog, *lockedBuffer) {
	out := &lockedBuffer{}
	return &accessLog{enabled: true, sink: newLogSink(out, 0)}, out
}

var lineRE = regexp.MustCompile(`^(\S+) - - \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(.*)" (\d{3}) (\d+|-) (\d+\.\d{3})ms$`)

// newCtx is a request as fasthttp hands it to the handler.
func newCtx(t testing.TB, raw string, remote net.Addr) *fasthttp.RequestCtx {
	t.Helper()
	var req fasthttp.Request
	if err := req.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	ctx := new(fasthttp.RequestCtx)
	ctx.Init(&req, remote, nil)
	return ctx
}

var client4 = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 54321}

func TestAccessLogLine(t *testing.T) {
	streamBody := func(ctx *fasthttp.RequestCtx, n int) {
		ctx.SetBodyStream(strings.NewReader("streamed"), n)
	}
	cases := []struct {
		name    string
		raw     string
		remote  net.Addr
		handler fasthttp.RequestHandler
		want    string // client "request" status bytes
	}{
		{"get with query", "GET /path?q=1&x=%20y HTTP/1.1\r\nHost: a\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from Rack!") },
			`127.0.0.1 "GET /path?q=1&x=%20y HTTP/1.1" 200 16`},
		{"post", "POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", client4,
			func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(201); ctx.SetBody(ctx.PostBody()) },
			`127.0.0.1 "POST /echo HTTP/1.1" 201 5`},
		{"not found", "GET /nope HTTP/1.0\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(404); ctx.SetBodyString("not found") },
			`127.0.0.1 "GET /nope HTTP/1.0" 404 9`},
		{"head sends no body", "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from Rack!") },
			`127.0.0.1 "HEAD / HTTP/1.1" 200 0`},
		{"304", "GET /c HTTP/1.1\r\nHost: a\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(304) },
			`127.0.0.1 "GET /c HTTP/1.1" 304 0`},
		{"stream of known length", "GET /f HTTP/1.1\r\nHost: a\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) { streamBody(ctx, 8) },
			`127.0.0.1 "GET /f HTTP/1.1" 200 8`},
		{"stream of unknown length", "GET /s HTTP/1.1\r\nHost: a\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) { streamBody(ctx, -1) },
			`127.0.0.1 "GET /s HTTP/1.1" 200 -`},
		{"hijacked", "GET /ws HTTP/1.1\r\nHost: a\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) { ctx.Hijack(func(net.Conn) {}) },
			`127.0.0.1 "GET /ws HTTP/1.1" 200 -`},
		{"ipv6 client", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &net.TCPAddr{IP: net.ParseIP("::1"), Port: 1},
			func(ctx *fasthttp.RequestCtx) {},
			`::1 "GET / HTTP/1.1" 200 0`},
		{"unix socket client", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", &net.UnixAddr{Name: "@", Net: "unix"},
			func(ctx *fasthttp.RequestCtx) {},
			`- "GET / HTTP/1.1" 200 0`},
		{"quotes and bytes escaped", "GET /a\"b\\c\xff HTTP/1.1\r\nHost: a\r\n\r\n", client4,
			func(ctx *fasthttp.RequestCtx) {},
			`127.0.0.1 "GET /a\"b\\c\xff HTTP/1.1" 200 0`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, out := testLog()
			ctx := newCtx(t, c.raw, c.remote)
			a.wrap(c.handler)(ctx)
			if got := out.String(); got != "" {
				t.Fatalf("written before a flush: %q", got)
			}
			a.flush()
			lines := out.lines()
			if len(lines) != 1 {
				t.Fatalf("want one line, got %q", lines)
			}
			m := lineRE.FindStringSubmatch(lines[0])
			if m == nil {
				t.Fatalf("malformed line %q", lines[0])
			}
			if got := fmt.Sprintf(`%s "%s" %s %s`, m[1], m[3], m[4], m[5]); got != c.want {
				t.Errorf("got  %s\nwant %s\nline %s", got, c.want, lines[0])
			}
		})
	}
}

func TestAccessLogDateAndDuration(t *testing.T) {
	a, out := testLog()
	ctx := newCtx(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", client4)
	before := time.Now().UTC()
	a.wrap(func(*fasthttp.RequestCtx) { time.Sleep(20 * time.Millisecond) })(ctx)
	after := time.Now().UTC()
	a.flush()
	m := lineRE.FindStringSubmatch(strings.TrimSpace(out.String()))
	if m == nil {
		t.Fatalf("malformed line %q", out.String())
	}
	when, err := time.Parse(stampLayout, m[2])
	if err != nil {
		t.Fatal(err)
	}
	if when.Before(before.Truncate(time.Second)) || when.After(after) {
		t.Errorf("date %s not within [%s, %s]", m[2], before, after)
	}
	var ms float64
	fmt.Sscanf(m[6], "%f", &ms)
	if ms < 20 || ms > 2000 {
		t.Errorf("duration %sms, want about 20ms", m[6])
	}
}

func TestAppendMillis(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0.000", 123 * time.Microsecond: "0.123", 1500 * time.Microsecond: "1.500",
		12*time.Second + 34*time.Microsecond: "12000.034", 999: "0.000", -5: "0.000",
	} {
		if got := string(appendMillis(nil, d)); got != want {
			t.Errorf("%v: got %s, want %s", d, got, want)
		}
	}
}

func TestAccessLogDateCachedPerSecond(t *testing.T) {
	s := newLogSink(io.Discard, 0)
	now := time.Date(2026, 11, 25, 3, 50, 0, 100, time.UTC)
	d1 := s.date(now)
	if string(d1) != "25/Nov/2026:03:50:00 +0000" {
		t.Fatalf("date %q", d1)
	}
	p := s.stamp.Load()
	if d2 := s.date(now.Add(900 * time.Millisecond)); &d2[0] != &d1[0] || s.stamp.Load() != p {
		t.Error("the same second was formatted again")
	}
	// A goroutine that read the clock just before the stamp moved on
	// does not move it back.
	if d := s.date(now.Add(-time.Second)); s.stamp.Load() != p || string(d) != string(d1) {
		t.Error("an earlier second replaced the stamp")
	}
	if d3 := s.date(now.Add(time.Second)); string(d3) != "25/Nov/2026:03:50:01 +0000" || s.stamp.Load() == p {
		t.Errorf("next second: %q", d3)
	}
}

func TestAccessLogDisabled(t *testing.T) {
	a := newAccessLog(false)
	h := func(ctx *fasthttp.RequestCtx) {}
	if reflect.ValueOf(a.wrap(h)).Pointer() != reflect.ValueOf(h).Pointer() {
		t.Error("disabled wrap is not the handler itself")
	}
	a.flush()
	a.refused(new(fasthttp.RequestCtx), 400)
	var nilLog *accessLog
	nilLog.flush()
	nilLog.refused(new(fasthttp.RequestCtx), 400)
	if reflect.ValueOf(nilLog.wrap(h)).Pointer() != reflect.ValueOf(h).Pointer() {
		t.Error("nil wrap is not the handler itself")
	}
}

func TestAccessLogSharedSink(t *testing.T) {
	a, b := newAccessLog(true), newAccessLog(true)
	if a.sink == nil || a.sink != b.sink {
		t.Error("listeners do not share the process's sink")
	}
}

// A refused request's line uses what fasthttp parsed: nothing of a request
// whose headers overflowed the buffer.
func TestAccessLogRefused(t *testing.T) {
	a, out := testLog()
	ln := fasthttputil.NewInmemoryListener()
	defer ln.Close()
	srv := &fasthttp.Server{
		Handler:            a.wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("ok") }),
		ReadBufferSize:     1024,
		MaxRequestBodySize: 10,
		Logger:             quietLogger{},
		ErrorHandler: func(ctx *fasthttp.RequestCtx, err error) {
			status := 400
			if _, ok := err.(*fasthttp.ErrSmallBuffer); ok {
				status = 431
			} else if err == fasthttp.ErrBodyTooLarge {
				status = 413
			}
			ctx.SetStatusCode(status)
			ctx.SetBodyString(fasthttp.StatusMessage(status))
			a.refused(ctx, status)
		},
	}
	go srv.Serve(ln) //nolint:errcheck
	send := func(raw string) string {
		c, err := ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte(raw)) //nolint:errcheck
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, _ := io.ReadAll(c)
		return string(resp)
	}
	if r := send("GET /ok?a=b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(r, "HTTP/1.1 200") {
		t.Fatalf("response %q", r)
	}
	if r := send("GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 4000) + "\r\n\r\n"); !strings.HasPrefix(r, "HTTP/1.1 431") {
		t.Fatalf("response %q", r)
	}
	if r := send("GET /bad HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n"); !strings.HasPrefix(r, "HTTP/1.1 400") {
		t.Fatalf("response %q", r)
	}
	if r := send("POST /up?x=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + strings.Repeat("b", 100)); !strings.HasPrefix(r, "HTTP/1.1 413") {
		t.Fatalf("response %q", r)
	}
	a.flush()
	lines := out.lines()
	// fasthttp resets what it parsed of a header block it then rejects.
	want := []string{`"GET /ok?a=b HTTP/1.1" 200 2`, `"-" 431 31`, `"-" 400 11`, `"POST /up?x=1 HTTP/1.1" 413 24`}
	if len(lines) != len(want) {
		t.Fatalf("lines %q", lines)
	}
	for i, l := range lines {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("malformed line %q", l)
		}
		if got := fmt.Sprintf(`"%s" %s %s`, m[3], m[4], m[5]); got != want[i] {
			t.Errorf("line %d: got %s, want %s", i, got, want[i])
		}
	}
}

// Called before the answer is set, a refused line says "-" for the bytes.
func TestAccessLogRefusedBeforeAnswer(t *testing.T) {
	a, out := testLog()
	ctx := newCtx(t, "GET /x HTTP/1.1\r\nHost: a\r\n\r\n", client4)
	a.refused(ctx, 413)
	a.flush()
	if m := lineRE.FindStringSubmatch(strings.TrimSpace(out.String())); m == nil || m[3] != "GET /x HTTP/1.1" || m[4] != "413" || m[5] != "-" {
		t.Errorf("line %q", out.String())
	}
}

func TestAccessLogClipsLongTargets(t *testing.T) {
	a, out := testLog()
	target := "/" + strings.Repeat("\x01", 3000) + strings.Repeat("b", 8000)
	ctx := newCtx(t, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", client4)
	ctx.Request.Header.SetRequestURI(target)
	ctx.Request.Header.SetMethod(strings.Repeat("M", 100))
	a.wrap(func(*fasthttp.RequestCtx) {})(ctx)
	a.flush()
	s := out.String()
	if len(s) > atomicWrite {
		t.Errorf("line of %d bytes", len(s))
	}
	if lineRE.FindStringSubmatch(strings.TrimSuffix(s, "\n")) == nil || strings.Count(s, "\n") != 1 {
		t.Errorf("malformed line %q", s)
	}
}

// Every write holds whole lines, at most atomicWrite bytes of them.
func TestWriteLinesWholeLines(t *testing.T) {
	var b []byte
	for i := 0; i < 500; i++ {
		b = append(b, fmt.Sprintf("line %d %s\n", i, strings.Repeat("x", i%97))...)
	}
	b = append(b, strings.Repeat("L", 5000)+"\n"...) // longer than a write
	b = append(b, "last\n"...)
	out := &lockedBuffer{}
	writeLines(out, b, atomicWrite)
	if out.String() != string(b) {
		t.Fatal("content changed")
	}
	for _, w := range out.writes {
		if w[len(w)-1] != '\n' {
			t.Fatalf("a write ends mid-line: %q", w[len(w)-20:])
		}
		if len(w) > atomicWrite && bytes.Count(w, []byte("\n")) != 1 {
			t.Fatalf("a write of %d bytes holds several lines", len(w))
		}
	}
}

// Lines logged concurrently come out whole, once each, with the background
// writer and a size-triggered flush both at work.
func TestAccessLogConcurrent(t *testing.T) {
	out := &lockedBuffer{}
	a := &accessLog{enabled: true, sink: newLogSink(out, 5*time.Millisecond)}
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			h := a.wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("hi") })
			for i := 0; i < each; i++ {
				h(newCtx(t, fmt.Sprintf("GET /g%d/%d HTTP/1.1\r\nHost: a\r\n\r\n", g, i), client4))
			}
		}(g)
	}
	wg.Wait()
	a.flush()
	seen := map[string]bool{}
	for _, l := range out.lines() {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("malformed line %q", l)
		}
		if seen[m[3]] {
			t.Fatalf("line twice: %q", l)
		}
		seen[m[3]] = true
	}
	if len(seen) != goroutines*each {
		t.Errorf("%d lines, want %d", len(seen), goroutines*each)
	}
	for _, w := range out.writes {
		if len(w) > atomicWrite || w[len(w)-1] != '\n' {
			t.Fatalf("write of %d bytes ending in %q", len(w), w[len(w)-1])
		}
	}
}

// The background writer flushes without being asked.
func TestAccessLogBackgroundFlush(t *testing.T) {
	out := &lockedBuffer{}
	a := &accessLog{enabled: true, sink: newLogSink(out, 10*time.Millisecond)}
	a.wrap(func(*fasthttp.RequestCtx) {})(newCtx(t, "GET /bg HTTP/1.1\r\nHost: a\r\n\r\n", client4))
	deadline := time.Now().Add(2 * time.Second)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"GET /bg HTTP/1.1" 200 0`) {
		t.Errorf("not flushed: %q", out.String())
	}
}

// To a regular file the lines go in one write; to anything else (a pipe
// here) in writes of whole lines up to atomicWrite bytes.
func TestAccessLogWriteSize(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if s := newLogSink(f, 0); s.writeMax <= flushAt {
		t.Errorf("regular file: writes of %d bytes", s.writeMax)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if s := newLogSink(w, 0); s.writeMax != atomicWrite {
		t.Errorf("pipe: writes of %d bytes", s.writeMax)
	}
	if s := newLogSink(&lockedBuffer{}, 0); s.writeMax != atomicWrite {
		t.Errorf("io.Writer: writes of %d bytes", s.writeMax)
	}
}

// Buffers a burst grew are kept while busy and let go once it is quiet.
func TestAccessLogBufferShrinks(t *testing.T) {
	s := newLogSink(io.Discard, 0)
	big := bytes.Repeat([]byte("x\n"), 1<<20)
	s.add(big)
	s.flush()
	s.add(big)
	s.flush() // both buffers have grown
	grown := func() bool { return cap(s.buf) > 2*flushAt || cap(s.spare) > 2*flushAt }
	for i := 0; i < 10; i++ {
		s.add([]byte("small\n"))
		s.flush()
	}
	if !grown() {
		t.Fatal("let go after a few quiet flushes")
	}
	for i := 0; i < 100; i++ {
		s.add([]byte("small\n"))
		s.flush()
	}
	if grown() {
		t.Errorf("still %d and %d bytes after 100 quiet flushes", cap(s.buf), cap(s.spare))
	}
}

// A blocked stderr does not grow the buffer without bound.
func TestAccessLogDropsWhenBlocked(t *testing.T) {
	out := &lockedBuffer{}
	s := newLogSink(out, 0)
	line := bytes.Repeat([]byte("x"), 1023)
	line = append(line, '\n')
	for i := 0; i < maxPending/len(line)+100; i++ {
		s.add(line)
	}
	if s.dropped == 0 || len(s.buf) > maxPending+len(line) {
		t.Fatalf("dropped %d, buffered %d", s.dropped, len(s.buf))
	}
	s.flush()
	if !strings.Contains(out.String(), "lines dropped") {
		t.Error("drops not reported")
	}
}

// BenchmarkAccessLog is the per-request cost of the log around a handler
// (stderr replaced by io.Discard, the background writer running).
func BenchmarkAccessLog(b *testing.B) {
	a := &accessLog{enabled: true, sink: newLogSink(io.Discard, flushEvery)}
	b.Run("serial", func(b *testing.B) {
		h := a.wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from Rack!") })
		ctx := newCtx(b, "GET /path?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", client4)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h(ctx)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		h := a.wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from Rack!") })
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			ctx := newCtx(b, "GET /path?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", client4)
			for pb.Next() {
				h(ctx)
			}
		})
		a.sink.mu.Lock()
		b.ReportMetric(float64(a.sink.dropped), "dropped")
		a.sink.mu.Unlock()
	})
	b.Run("disabled", func(b *testing.B) {
		h := newAccessLog(false).wrap(func(ctx *fasthttp.RequestCtx) { ctx.SetBodyString("Hello from Rack!") })
		ctx := newCtx(b, "GET /path?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", client4)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			h(ctx)
		}
	})
}
