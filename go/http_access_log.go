package main

import (
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// The request log (-v, Iodine.listen(log: true)): one line per request in
// the common log format, with the duration added at the end:
//
//	127.0.0.1 - - [25/Nov/2026:03:50:00 +0000] "GET /path?q=1 HTTP/1.1" 200 16 0.123ms
//
// The time is when the line is logged, as the handler returns (the date is
// formatted once a second and shared); the duration runs from the handler's
// start to its return, so a streamed or file body still being sent is not
// in it. The bytes field is the response body's length ("-" when not known: a
// streamed body of unknown length, a hijacked connection, a refused request
// whose answer is not set yet); 0 for HEAD, 1xx, 204 and 304, which send no
// body. A request fasthttp could not parse far enough to know its request
// line is logged as "-", as Apache does.
//
// Lines are formatted on the request's goroutine without allocating, appended
// to a process-wide buffer under a mutex, and written to stderr by a
// background goroutine every flushEvery or as soon as flushAt bytes are
// waiting. Each write(2) holds whole lines, so lines from several workers
// sharing stderr never mix mid-line: to a pipe, a socket or a terminal at
// most atomicWrite bytes (a pipe write up to PIPE_BUF is atomic), and for
// that a line never exceeds atomicWrite, the request target is clipped if
// need be; to a regular file everything at once (Linux holds the file
// position's lock through a write, so writes sharing it never overlap).
const (
	flushEvery  = 50 * time.Millisecond
	flushAt     = 32 << 10
	maxPending  = 8 << 20 // stderr blocked: drop lines past this, and say so
	atomicWrite = 4096    // PIPE_BUF on Linux
	maxTarget   = 3584    // request target bytes logged, escapes included
	maxToken    = 32      // method and protocol bytes logged
)

// accessLog is one listener's request log; every enabled one shares the
// process's sink.
type accessLog struct {
	enabled bool
	sink    *logSink
}

var (
	stderrSinkOnce sync.Once
	stderrSink     *logSink
)

func newAccessLog(enabled bool) *accessLog {
	if !enabled {
		return &accessLog{}
	}
	stderrSinkOnce.Do(func() { stderrSink = newLogSink(os.Stderr, flushEvery) })
	return &accessLog{enabled: true, sink: stderrSink}
}

// wrap returns h, logging each request it serves when enabled. Disabled, it
// is h itself.
func (a *accessLog) wrap(h fasthttp.RequestHandler) fasthttp.RequestHandler {
	if a == nil || !a.enabled {
		return h
	}
	return func(ctx *fasthttp.RequestCtx) {
		start := time.Now()
		h(ctx)
		a.sink.logRequest(ctx, start, time.Now())
	}
}

// refused logs a request answered by the parse-error handler. Call it once
// the error response is set, so the byte count is known.
func (a *accessLog) refused(ctx *fasthttp.RequestCtx, status int) {
	if a == nil || !a.enabled {
		return
	}
	a.sink.logRefused(ctx, status, time.Now())
}

// flush writes out every line logged so far. Safe when disabled.
func (a *accessLog) flush() {
	if a == nil || a.sink == nil {
		return
	}
	a.sink.flush()
}

// logSink buffers lines and writes them out in batches.
type logSink struct {
	mu      sync.Mutex
	buf     []byte // lines waiting, under mu
	dropped int    // lines dropped since the last flush, under mu

	wmu      sync.Mutex // one writer at a time, and lines in order
	spare    []byte     // the buffer being written, swapped with buf; under wmu
	out      io.Writer
	writeMax int // bytes of lines per write
	idle     int // flushes in a row with little to write

	kick chan struct{}

	stamp   atomic.Pointer[logStamp] // the current second's date
	stampMu sync.Mutex
}

// logStamp is a second's date in the log's format.
type logStamp struct {
	sec  int64
	text []byte
}

const stampLayout = "02/Jan/2006:15:04:05 -0700"

// newLogSink writes to out, flushing every period in the background (never
// when period is 0: then only flush writes).
func newLogSink(out io.Writer, period time.Duration) *logSink {
	s := &logSink{out: out, kick: make(chan struct{}, 1), writeMax: atomicWrite,
		buf: make([]byte, 0, 2*flushAt), spare: make([]byte, 0, 2*flushAt)}
	if f, ok := out.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			s.writeMax = maxPending
		}
	}
	if period > 0 {
		go s.run(period)
	}
	return s
}

func (s *logSink) run(period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.kick:
		}
		s.flush()
	}
}

// date returns the date for now, formatted at most once a second.
func (s *logSink) date(now time.Time) []byte {
	sec := now.Unix()
	if p := s.stamp.Load(); p != nil && p.sec >= sec {
		// p.sec > sec: this goroutine read the clock just before another
		// moved the stamp on; a second later is close enough.
		return p.text
	}
	s.stampMu.Lock()
	defer s.stampMu.Unlock()
	if p := s.stamp.Load(); p != nil && p.sec >= sec {
		return p.text
	}
	p := &logStamp{sec: sec, text: time.Unix(sec, 0).UTC().AppendFormat(make([]byte, 0, len(stampLayout)), stampLayout)}
	s.stamp.Store(p)
	return p.text
}

// logRequest logs a request the handler answered.
func (s *logSink) logRequest(ctx *fasthttp.RequestCtx, start, end time.Time) {
	var scratch [512]byte
	line := s.appendLine(scratch[:0], ctx, true, ctx.Response.StatusCode(), bodyBytes(ctx), end, end.Sub(start))
	s.add(line)
}

// logRefused logs a request fasthttp could not parse: its request line may
// be missing, and it took no handler time.
func (s *logSink) logRefused(ctx *fasthttp.RequestCtx, status int, now time.Time) {
	var scratch [512]byte
	n := len(ctx.Response.Body())
	if n == 0 {
		n = -1 // the answer is not set yet
	}
	line := s.appendLine(scratch[:0], ctx, requestLineParsed(ctx), status, n, now, 0)
	s.add(line)
}

// unparsedURI is what RequestURI returns for a header that has none.
var unparsedURI = new(fasthttp.RequestHeader).RequestURI()

// requestLineParsed tells whether fasthttp got as far as the request target.
func requestLineParsed(ctx *fasthttp.RequestCtx) bool {
	uri := ctx.Request.Header.RequestURI()
	return len(uri) > 0 && &uri[0] != &unparsedURI[0]
}

// bodyBytes is the length of the response body sent, or -1 if not known.
func bodyBytes(ctx *fasthttp.RequestCtx) int {
	resp := &ctx.Response
	status := resp.StatusCode()
	switch {
	case ctx.Hijacked():
		return -1
	case ctx.IsHead() || status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified:
		return 0
	case resp.IsBodyStream(): // Body() would read the stream
		if n := resp.Header.ContentLength(); n >= 0 {
			return n
		}
		return -1
	}
	return len(resp.Body())
}

// appendLine formats one line.
func (s *logSink) appendLine(b []byte, ctx *fasthttp.RequestCtx, withRequest bool, status, bytes int, now time.Time, d time.Duration) []byte {
	b = appendClient(b, ctx.RemoteAddr())
	b = append(b, " - - ["...)
	b = append(b, s.date(now)...)
	b = append(b, "] \""...)
	if withRequest {
		h := &ctx.Request.Header
		b = appendEscaped(b, h.Method(), maxToken)
		b = append(b, ' ')
		b = appendEscaped(b, h.RequestURI(), maxTarget)
		b = append(b, ' ')
		b = appendEscaped(b, h.Protocol(), maxToken)
	} else {
		b = append(b, '-')
	}
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if bytes >= 0 {
		b = strconv.AppendInt(b, int64(bytes), 10)
	} else {
		b = append(b, '-')
	}
	b = append(b, ' ')
	b = appendMillis(b, d)
	return append(b, "ms\n"...)
}

// appendClient writes the peer's IP address ("-" for a Unix socket).
func appendClient(b []byte, addr net.Addr) []byte { return appendPeerIP(b, addr, "-") }

// appendPeerIP appends a peer's IP address (an IPv4-mapped one as IPv4),
// or unix for a Unix socket's peer, which has none. One place for the
// request env (REMOTE_ADDR), the log and raw TCP's peer_addr.
func appendPeerIP(b []byte, addr net.Addr, unix string) []byte {
	if a, ok := addr.(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap().AppendTo(b)
	}
	return append(b, unix...)
}

// appendMillis writes d in milliseconds with three decimals.
func appendMillis(b []byte, d time.Duration) []byte {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	b = strconv.AppendInt(b, us/1000, 10)
	frac := us % 1000
	return append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
}

const hexDigits = "0123456789abcdef"

// appendEscaped writes v with '"', '\\' and bytes outside printable ASCII
// escaped (as Apache does: a log line is one line whatever the client sent),
// clipped to about max bytes.
func appendEscaped(b, v []byte, max int) []byte {
	n := 0
	for i := 0; i < len(v); {
		if n >= max {
			return append(b, "..."...)
		}
		c := v[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			n += 2
			i++
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
			n += 4
			i++
		default: // a run of plain bytes at once
			j := i + 1
			for j < len(v) && j-i < max-n && plainLogByte(v[j]) {
				j++
			}
			b = append(b, v[i:j]...)
			n += j - i
			i = j
		}
	}
	return b
}

func plainLogByte(c byte) bool { return c >= 0x20 && c < 0x7f && c != '"' && c != '\\' }

// add appends a line to the buffer, waking the writer when enough is waiting.
func (s *logSink) add(line []byte) {
	s.mu.Lock()
	if len(s.buf) > maxPending {
		s.dropped++
		s.mu.Unlock()
		return
	}
	s.buf = append(s.buf, line...)
	full := len(s.buf) >= flushAt
	s.mu.Unlock()
	if full {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// flush writes out every line waiting, in writes of whole lines.
func (s *logSink) flush() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	b := s.buf
	dropped := s.dropped
	s.buf, s.dropped = s.spare[:0], 0
	s.mu.Unlock()

	writeLines(s.out, b, s.writeMax)
	if dropped > 0 {
		msg := []byte("iodine: request log: ")
		msg = strconv.AppendInt(msg, int64(dropped), 10)
		msg = append(msg, " lines dropped (stderr blocked)\n"...)
		writeLines(s.out, msg, s.writeMax)
	}
	// A burst grew the buffers: let them go once traffic stays low for a
	// while (kept while busy, they cost no allocation).
	if len(b) < flushAt/4 {
		s.idle++
	} else {
		s.idle = 0
	}
	if s.idle > 40 && cap(b) > 2*flushAt {
		b = make([]byte, 0, 2*flushAt)
	}
	s.spare = b[:0]
}

// writeLines writes b, whole lines only, in writes of at most max bytes (a
// longer single line goes alone).
func writeLines(w io.Writer, b []byte, max int) {
	for len(b) > 0 {
		n := len(b)
		if n > max {
			n = lastLineEnd(b[:max])
			if n == 0 { // one line longer than max
				n = firstLineEnd(b)
			}
		}
		w.Write(b[:n]) //nolint:errcheck // nowhere to report it
		b = b[n:]
	}
}

func lastLineEnd(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return 0
}

func firstLineEnd(b []byte) int {
	for i, c := range b {
		if c == '\n' {
			return i + 1
		}
	}
	return len(b)
}
