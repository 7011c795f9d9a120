package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"errors"
	"io"
	"sync"
	"unsafe"
)

// rubyStream is the body of a response whose Rack body is streamed with
// `each`: the Ruby thread sends chunks (C memory it gave up) and fasthttp
// reads them, writing one HTTP chunk per read and flushing it. fasthttp
// calls Close once the response is written or abandoned (HEAD, a client
// that went away); after that, writes report failure so the Ruby loop stops.
type rubyStream struct {
	chunks    chan cChunk
	closed    chan struct{}
	closeOnce sync.Once
	cur       cChunk
	off       int
	aborted   bool // set before chunks closes: Read then fails
}

// cChunk is a malloc()ed buffer handed over by the C glue; Go frees it.
type cChunk struct {
	p *C.char
	n int
}

func (c cChunk) bytes() []byte { return unsafe.Slice((*byte)(unsafe.Pointer(c.p)), c.n) }
func (c cChunk) free()         { C.free(unsafe.Pointer(c.p)) }

// Up to this many chunks wait in memory before a Ruby writer blocks
// (without the GVL) for the client to catch up.
const streamBacklog = 16

func newRubyStream() *rubyStream {
	return &rubyStream{chunks: make(chan cChunk, streamBacklog), closed: make(chan struct{})}
}

func (s *rubyStream) Read(p []byte) (int, error) {
	for s.cur.p == nil || s.off >= s.cur.n {
		if s.cur.p != nil {
			s.cur.free()
			s.cur = cChunk{}
		}
		c, ok := <-s.chunks
		if !ok {
			if s.aborted {
				return 0, errStreamAborted
			}
			return 0, io.EOF
		}
		s.cur, s.off = c, 0
	}
	n := copy(p, s.cur.bytes()[s.off:])
	s.off += n
	return n, nil
}

// Close is called by fasthttp. It frees what was not sent and turns later
// writes away.
func (s *rubyStream) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.cur.p != nil {
			s.cur.free()
			s.cur = cChunk{}
		}
		go s.drain()
	})
	return nil
}

// drain frees chunks already queued after the reader is gone.
func (s *rubyStream) drain() {
	for c := range s.chunks {
		c.free()
	}
}

// write takes ownership of c; false means the client is gone.
func (s *rubyStream) write(c cChunk) bool {
	select {
	case <-s.closed:
		c.free()
		return false
	default:
	}
	select {
	case s.chunks <- c:
		return true
	case <-s.closed:
		c.free()
		return false
	}
}

// errStreamAborted makes fasthttp drop the connection instead of ending the
// chunked body cleanly, so the client can tell the response is incomplete.
var errStreamAborted = errors.New("the application failed while streaming the body")

// end marks the last chunk; called once by the Ruby side.
func (s *rubyStream) end(aborted bool) {
	s.aborted = aborted
	close(s.chunks)
}
