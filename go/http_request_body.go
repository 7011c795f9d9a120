package main

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

var errBodyTooLarge = errors.New("request body exceeds the limit")

var bodyBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 16<<10); return &b }}

// requestBody is a request body ready for Ruby: in memory (mem) or, above
// the spill threshold, in an unlinked temp file (fd, owned by Ruby then).
type requestBody struct {
	mem []byte
	buf *[]byte // pooled backing store of mem, if any
	fd  int
	n   int64
}

func (b *requestBody) release() {
	if b.buf != nil {
		*b.buf = b.mem[:0]
		bodyBufPool.Put(b.buf)
		b.buf = nil
	}
}

// readBody reads the whole request body. fasthttp streams bodies
// (StreamRequestBody), so large uploads never sit in memory: past spill
// bytes they go to a temp file. maxBody is enforced here for chunked bodies
// (the handler refuses a Content-Length above it before calling us).
func readBody(ctx *fasthttp.RequestCtx, spill, maxBody int64, timeout time.Duration) (requestBody, error) {
	stream := ctx.RequestBodyStream()
	if stream == nil {
		b := ctx.Request.Body()
		return requestBody{mem: b, fd: -1, n: int64(len(b))}, nil
	}
	stream = newBodyReader(stream, ctx.Conn(), timeout)
	bufp := bodyBufPool.Get().(*[]byte)
	buf := (*bufp)[:0]
	// Read into memory up to the spill threshold.
	for int64(len(buf)) <= spill {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := stream.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return requestBody{mem: buf, buf: bufp, fd: -1, n: int64(len(buf))}, nil
		}
		if err != nil {
			*bufp = buf[:0]
			bodyBufPool.Put(bufp)
			return requestBody{fd: -1}, bodyError(err)
		}
	}
	// Too big for memory: the rest goes to a temp file.
	f, err := os.CreateTemp("", "iodine-body-")
	if err != nil {
		*bufp = buf[:0]
		bodyBufPool.Put(bufp)
		return requestBody{fd: -1}, err
	}
	os.Remove(f.Name()) // unlinked: gone when the last descriptor closes
	defer f.Close()
	n, err := f.Write(buf)
	*bufp = buf[:0]
	bodyBufPool.Put(bufp)
	total := int64(n)
	if err == nil {
		var m int64
		m, err = io.Copy(f, io.LimitReader(stream, maxBody-total+1))
		total += m
	}
	if err != nil {
		return requestBody{fd: -1}, bodyError(err)
	}
	if total > maxBody {
		return requestBody{fd: -1}, errBodyTooLarge
	}
	if _, err = f.Seek(0, io.SeekStart); err != nil {
		return requestBody{fd: -1}, err
	}
	fd, err := dupFd(f)
	if err != nil {
		return requestBody{fd: -1}, err
	}
	return requestBody{fd: fd, n: total}, nil
}

func bodyError(err error) error {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		return errBodyTooLarge
	}
	return err
}

// dupFd duplicates the descriptor behind a file or socket (close-on-exec),
// so the copy outlives the Go object.
func dupFd(c syscall.Conn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	cerr := raw.Control(func(fd uintptr) {
		nfd, err = syscall.Dup(int(fd))
		if err == nil {
			syscall.CloseOnExec(nfd)
		}
	})
	if cerr != nil {
		return -1, cerr
	}
	return nfd, err
}

// bodyReader bounds the time a body upload may take without holding a
// Ruby thread: the body gets a read deadline of timeout from the end of the
// headers, moved on by timeout each time another minProgress bytes have
// arrived, so a large upload at any sane rate finishes while a trickle (or
// an endless chunk extension) is cut off with errBodyTimeout.
type bodyReader struct {
	r        io.Reader
	conn     net.Conn
	timeout  time.Duration
	deadline time.Time
	since    int
}

const minProgress = 64 << 10

var errBodyTimeout = errors.New("request body too slow")

func newBodyReader(r io.Reader, conn net.Conn, timeout time.Duration) io.Reader {
	if timeout <= 0 || conn == nil {
		return r
	}
	p := &bodyReader{r: r, conn: conn, timeout: timeout, deadline: time.Now().Add(timeout)}
	conn.SetReadDeadline(p.deadline)
	return p
}

func (p *bodyReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.since += n
	if p.since >= minProgress {
		p.since = 0
		p.deadline = time.Now().Add(p.timeout)
		p.conn.SetReadDeadline(p.deadline)
	}
	// fasthttp wraps some read errors (ErrBrokenChunk) so that the timeout
	// cannot be seen through them: the clock tells.
	if err != nil && err != io.EOF && !time.Now().Before(p.deadline) {
		err = errBodyTimeout
	}
	return n, err
}
