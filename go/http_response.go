package main

import (
	"bytes"
	"encoding/binary"
	"os"

	"github.com/valyala/fasthttp"
)

// responseHeaders walks the packed header list the C glue serialises:
// [uint32 name_len][name][uint32 value_len][value], host byte order.
// It stops at the first malformed entry.
func responseHeaders(b []byte, each func(name, value []byte)) {
	for len(b) >= 4 {
		nl := int(binary.NativeEndian.Uint32(b))
		if nl > len(b)-8 {
			return
		}
		name := b[4 : 4+nl]
		b = b[4+nl:]
		vl := int(binary.NativeEndian.Uint32(b))
		if vl > len(b)-4 {
			return
		}
		each(name, b[4:4+vl])
		b = b[4+vl:]
	}
}

// validHeaderName reports whether name is an RFC 9110 token (tchar, the
// table http_request_rules.go checks request names with).
func validHeaderName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !tchar[c] {
			return false
		}
	}
	return true
}

// validHeaderValue: no CR or NUL (LF separates Rack 2's multiple values).
func validHeaderValue(value []byte) bool {
	return bytes.IndexByte(value, '\r') < 0 && bytes.IndexByte(value, 0) < 0
}

// applyHeaders sets a Rack response's headers on resp. Rack 2 multi-value
// headers arrive joined by "\n" and are split here (Rack 3 arrays were
// already flattened to one entry per value by the C glue). It returns the
// X-Sendfile path, if any, and the app's Content-Length (-1 if none).
func applyHeaders(resp *fasthttp.Response, packed []byte) (sendfile []byte, contentLength int) {
	contentLength = -1
	responseHeaders(packed, func(name, value []byte) {
		if !validHeaderName(name) {
			logf(levelWarn, "dropped response header with an invalid name: %q", name)
			return
		}
		if caseEqual(name, "x-sendfile") {
			sendfile = value
			return
		}
		if !validHeaderValue(value) {
			logf(levelWarn, "dropped response header %s: CR or NUL in its value", name)
			return
		}
		for line := range bytes.SplitSeq(value, []byte("\n")) {
			if caseEqual(name, "content-length") {
				n, err := fasthttp.ParseUint(line)
				if err != nil {
					logf(levelWarn, "dropped response header Content-Length: %q is not a length", line)
					continue
				}
				contentLength = n
			}
			resp.Header.AddBytesKV(name, line)
		}
	})
	return sendfile, contentLength
}

// setFileBody makes an open file the response body. fasthttp closes it
// once written; the size comes from the file, not from the app.
func setFileBody(resp *fasthttp.Response, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		f.Close()
		if err == nil {
			err = os.ErrInvalid
		}
		return err
	}
	resp.SetBodyStream(f, int(st.Size()))
	return nil
}
