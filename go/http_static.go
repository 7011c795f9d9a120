package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

// staticFiles serves a public folder (-www) from Go, never touching Ruby.
// Lookups go through an os.Root, which refuses "..", absolute paths and
// symlinks that lead outside the folder (openat2 RESOLVE_BENEATH on Linux).
type staticFiles struct {
	root         *os.Root
	cacheControl string // "max-age=N", or "" for none
}

// Tried in this order when the path names no file (iodine's behaviour).
var missingExtensions = [...]string{".html", ".htm", ".txt", ".md"}

// Pre-compressed siblings, best first: Accept-Encoding token, suffix.
var precompressed = [...]struct{ coding, suffix string }{
	{"br", ".br"}, {"gzip", ".gz"}, {"deflate", ".zip"},
}

func newStaticFiles(dir string, maxAge int) (*staticFiles, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	s := &staticFiles{root: root}
	if maxAge > 0 {
		s.cacheControl = "max-age=" + strconv.Itoa(maxAge)
	}
	return s, nil
}

// relativePath turns a request path into a name inside the root, or false
// when it cannot name a file there (bad escapes, NUL, "..").
func relativePath(rawPath []byte) (string, bool) {
	p, err := url.PathUnescape(string(rawPath))
	if err != nil || strings.IndexByte(p, 0) >= 0 || !strings.HasPrefix(p, "/") {
		return "", false
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == ".." {
			return "", false
		}
	}
	rel := strings.TrimPrefix(path.Clean(p), "/")
	if rel == "" {
		rel = "."
	}
	return rel, true
}

// serve answers GET and HEAD requests for files in the folder and returns
// true; anything else (other methods, missing files) is left to the app.
func (s *staticFiles) serve(ctx *fasthttp.RequestCtx) bool {
	if !ctx.IsGet() && !ctx.IsHead() {
		return false
	}
	uri := ctx.Request.Header.RequestURI()
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		uri = uri[:i]
	}
	rel, ok := relativePath(uri)
	if !ok {
		return false
	}
	f, name, info, ok := s.find(rel)
	if !ok {
		return false
	}
	s.send(ctx, f, name, info)
	return true
}

// openRegular opens name if it is a regular file (one open and one fstat:
// cheaper than a stat followed by an open).
func (s *staticFiles) openRegular(name string) (*os.File, fs.FileInfo, bool) {
	f, err := s.root.Open(name)
	if err != nil {
		return nil, nil, false
	}
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil, info, false
	}
	return f, info, true
}

// find opens what a request names: the file itself, a folder's index.html,
// or the name with a missing extension. It returns the name inside the
// folder too.
func (s *staticFiles) find(rel string) (*os.File, string, fs.FileInfo, bool) {
	f, info, ok := s.openRegular(rel)
	if ok {
		return f, rel, info, true
	}
	if info != nil { // it exists, but is no regular file
		if info.IsDir() {
			index := path.Join(rel, "index.html")
			f, info, ok := s.openRegular(index)
			return f, index, info, ok
		}
		return nil, "", nil, false
	}
	if rel == "." {
		return nil, "", nil, false
	}
	for _, ext := range missingExtensions {
		if f, info, ok := s.openRegular(rel + ext); ok {
			return f, rel + ext, info, true
		}
	}
	return nil, "", nil, false
}

// variant opens the best pre-compressed sibling the client accepts.
func (s *staticFiles) variant(ctx *fasthttp.RequestCtx, name string) (*os.File, string, fs.FileInfo, bool) {
	accept := ctx.Request.Header.Peek("Accept-Encoding")
	if len(accept) == 0 {
		return nil, "", nil, false
	}
	for _, v := range precompressed {
		if !acceptsCoding(accept, v.coding) {
			continue
		}
		if f, info, ok := s.openRegular(name + v.suffix); ok {
			return f, v.coding, info, true
		}
	}
	return nil, "", nil, false
}

// acceptsCoding reports whether an Accept-Encoding value lists coding
// without ";q=0".
func acceptsCoding(accept []byte, coding string) bool {
	for part := range bytes.SplitSeq(accept, []byte(",")) {
		token, params, _ := bytes.Cut(bytes.TrimSpace(part), []byte(";"))
		if !bytes.EqualFold(bytes.TrimSpace(token), []byte(coding)) {
			continue
		}
		q := bytes.TrimSpace(params)
		return !(bytes.HasPrefix(q, []byte("q=0")) && strings.Trim(string(q[3:]), ".0") == "")
	}
	return false
}

// send answers with an open file, which it closes (or fasthttp does).
func (s *staticFiles) send(ctx *fasthttp.RequestCtx, f *os.File, name string, info fs.FileInfo) {
	h := &ctx.Response.Header
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	if vf, coding, vinfo, ok := s.variant(ctx, name); ok {
		f.Close()
		f, info = vf, vinfo
		h.Set("Content-Encoding", coding)
		h.Set("Vary", "Accept-Encoding")
	}
	modified := info.ModTime().UTC().Truncate(time.Second)
	etag := `"` + strconv.FormatInt(info.Size(), 16) + "-" + strconv.FormatInt(info.ModTime().UnixNano(), 16) + `"`
	h.SetContentType(ctype)
	h.Set("Last-Modified", modified.Format(time.RFC1123[:len(time.RFC1123)-3]+"GMT"))
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	if s.cacheControl != "" {
		h.Set("Cache-Control", s.cacheControl)
	}
	size := info.Size()
	start, length, status := byteRange(ctx, etag, size)
	switch {
	case notModified(ctx, etag, modified):
		f.Close()
		ctx.SetStatusCode(fasthttp.StatusNotModified)
		return
	case status == fasthttp.StatusRequestedRangeNotSatisfiable:
		f.Close()
		h.Set("Content-Range", "bytes */"+strconv.FormatInt(size, 10))
		ctx.SetStatusCode(status)
		ctx.SetBodyString("Range Not Satisfiable")
		return
	case status == fasthttp.StatusPartialContent:
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			f.Close()
			ctx.Response.Reset()
			ctx.SetStatusCode(fasthttp.StatusInternalServerError)
			return
		}
		h.Set("Content-Range", "bytes "+strconv.FormatInt(start, 10)+"-"+
			strconv.FormatInt(start+length-1, 10)+"/"+strconv.FormatInt(size, 10))
	}
	ctx.SetStatusCode(status)
	// An *os.File body goes out with sendfile(2) (fasthttp, net.TCPConn);
	// fasthttp closes it.
	ctx.Response.SetBodyStream(f, int(length))
}

// notModified applies If-None-Match, then If-Modified-Since.
func notModified(ctx *fasthttp.RequestCtx, etag string, modified time.Time) bool {
	if inm := ctx.Request.Header.Peek("If-None-Match"); len(inm) > 0 {
		for tag := range bytes.SplitSeq(inm, []byte(",")) {
			tag = bytes.TrimPrefix(bytes.TrimSpace(tag), []byte("W/"))
			if string(tag) == "*" || string(tag) == etag {
				return true
			}
		}
		return false
	}
	if ims := ctx.Request.Header.Peek("If-Modified-Since"); len(ims) > 0 {
		if t, err := time.Parse(time.RFC1123, string(ims)); err == nil {
			return !modified.After(t)
		}
	}
	return false
}

var errBadRange = errors.New("bad range")

// byteRange reads a single "bytes=" Range (honouring If-Range). It returns
// 200 for the whole file (no, several or unusable ranges), 206 with the
// slice, or 416.
func byteRange(ctx *fasthttp.RequestCtx, etag string, size int64) (start, length int64, status int) {
	spec := ctx.Request.Header.Peek("Range")
	if len(spec) == 0 {
		return 0, size, fasthttp.StatusOK
	}
	if ir := ctx.Request.Header.Peek("If-Range"); len(ir) > 0 && string(ir) != etag {
		return 0, size, fasthttp.StatusOK
	}
	start, end, err := parseRange(string(spec), size)
	switch {
	case err == errBadRange:
		return 0, size, fasthttp.StatusOK // ignored, as RFC 9110 allows
	case err != nil:
		return 0, 0, fasthttp.StatusRequestedRangeNotSatisfiable
	}
	return start, end - start + 1, fasthttp.StatusPartialContent
}

var errUnsatisfiable = errors.New("range not satisfiable")

// parseRange parses one "bytes=a-b" / "bytes=a-" / "bytes=-n" range.
func parseRange(spec string, size int64) (start, end int64, err error) {
	r, ok := strings.CutPrefix(spec, "bytes=")
	if !ok || strings.Contains(r, ",") {
		return 0, 0, errBadRange
	}
	a, b, ok := strings.Cut(strings.TrimSpace(r), "-")
	if !ok {
		return 0, 0, errBadRange
	}
	if a == "" { // suffix: the last n bytes
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, errBadRange
		}
		if n == 0 || size == 0 {
			return 0, 0, errUnsatisfiable
		}
		n = min(n, size)
		return size - n, size - 1, nil
	}
	start, err = strconv.ParseInt(a, 10, 64)
	if err != nil || start < 0 {
		return 0, 0, errBadRange
	}
	if start >= size {
		return 0, 0, errUnsatisfiable
	}
	end = size - 1
	if b != "" {
		e, err := strconv.ParseInt(b, 10, 64)
		if err != nil || e < start {
			return 0, 0, errBadRange
		}
		end = min(e, size-1)
	}
	return start, end, nil
}
