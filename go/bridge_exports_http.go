package main

/*
#include <stdlib.h>
#include "iodine.h"
*/
import "C"

import (
	"runtime/debug"
	"time"
	"unsafe"
)

// Every function here is called from C on a Ruby thread. They stay small,
// never call back into Ruby and recover from panics: a Go panic must not
// unwind through Ruby's frames.

func recovered(where string) {
	if r := recover(); r != nil {
		logf(levelError, "panic in %s: %v\n%s", where, r, debug.Stack())
	}
}

func cbytes(p *C.char, n C.size_t) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(p)), int(n))
}

// copyError writes err's message into C's buffer, NUL-terminated.
func copyError(errBuf *C.char, errLen C.int, err error) {
	if int(errLen) <= 0 {
		return
	}
	n := copy(unsafe.Slice((*byte)(unsafe.Pointer(errBuf)), int(errLen)-1), err.Error())
	*(*byte)(unsafe.Add(unsafe.Pointer(errBuf), n)) = 0
}

//export iodine_abi_version
func iodine_abi_version() C.int { return C.IODINE_ABI_VERSION }

//export iodine_set_verbosity
func iodine_set_verbosity(level C.int) { verbosity.Store(int32(level)) }

//export iodine_listen
func iodine_listen(cfg *C.iodine_listen_cfg_t, errBuf *C.char, errLen C.int) (id C.int) {
	id = -1
	defer recovered("iodine_listen")
	c := listenConfig{
		address:        C.GoString(cfg.address),
		port:           int(cfg.port),
		unix:           cfg.unix_socket != 0,
		maxBodyBytes:   int64(cfg.max_body_bytes),
		maxHeaderBytes: int(cfg.max_header_bytes),
		maxLineBytes:   int(cfg.max_line_bytes),
		maxHeaderCount: int(cfg.max_header_count),
		keepAlive:      time.Duration(cfg.keep_alive_s) * time.Second,
		bodySpillBytes: int64(cfg.body_spill_bytes),
		fd:             int(cfg.fd),
		public:         C.GoString(cfg.public_folder),
		maxAgeSeconds:  int(cfg.max_age_s),
		log:            cfg.log != 0,
		maxMsgBytes:    int(cfg.max_msg_bytes),
		ping:           time.Duration(cfg.ping_s) * time.Second,
		raw:            cfg.raw != 0,
	}
	l, err := listen(c)
	if err != nil {
		copyError(errBuf, errLen, err)
		return -1
	}
	return C.int(l.id)
}

//export iodine_listener_port
func iodine_listener_port(id C.int) C.int {
	listenersMu.Lock()
	defer listenersMu.Unlock()
	if int(id) < 0 || int(id) >= len(listeners) {
		return -1
	}
	return C.int(listeners[id].port)
}

//export iodine_use_board
func iodine_use_board(p *C.iodine_board_slot_t, slots, mine C.int) {
	useBoard(unsafe.Pointer(p), int(slots), int(mine))
}

//export iodine_start
func iodine_start(gomaxprocs C.int) C.int {
	defer recovered("iodine_start")
	start(int(gomaxprocs))
	return 0
}

//export iodine_stop
func iodine_stop(timeoutMs C.int) {
	defer recovered("iodine_stop")
	stop(time.Duration(timeoutMs) * time.Millisecond)
}

//export iodine_stopped
func iodine_stopped() C.int {
	if stopped.Load() {
		return 1
	}
	return 0
}

//export iodine_respond
func iodine_respond(handle C.uint64_t, status C.int, headers *C.char, headersLen C.size_t, body *C.char, bodyLen C.size_t, flags C.int) (rc C.int) {
	rc = -1
	defer recovered("iodine_respond")
	p := requests.get(uint64(handle))
	if p == nil {
		return -1
	}
	resp := &p.ctx.Response
	resp.SetStatusCode(int(status))
	sendfile, contentLength := applyHeaders(resp, cbytes(headers, headersLen))
	switch {
	case flags&C.IODINE_RESP_FILE != 0 || sendfile != nil:
		path := sendfile
		if path == nil {
			path = cbytes(body, bodyLen)
		}
		if err := setFileBody(resp, string(path)); err != nil {
			logf(levelError, "can't send file %q: %v", path, err)
			resp.Reset()
			resp.SetStatusCode(404)
			resp.SetBodyString("Not Found")
		}
	case flags&C.IODINE_RESP_STREAM != 0:
		p.stream = newRubyStream()
		resp.SetBodyStream(p.stream, contentLength)
		if bodyLen > 0 {
			p.stream.write(cChunk{body, int(bodyLen)})
		}
	default:
		resp.SetBody(cbytes(body, bodyLen))
	}
	if p.stream == nil {
		requests.remove(uint64(handle))
	}
	p.done <- replyResponse
	return 0
}

//export iodine_stream_write
func iodine_stream_write(handle C.uint64_t, data *C.char, n C.size_t) (rc C.int) {
	defer recovered("iodine_stream_write")
	p := requests.get(uint64(handle))
	if p == nil || p.stream == nil {
		C.free(unsafe.Pointer(data))
		return 0
	}
	if p.stream.write(cChunk{data, int(n)}) {
		return 1
	}
	return 0
}

//export iodine_stream_end
func iodine_stream_end(handle C.uint64_t, aborted C.int) {
	defer recovered("iodine_stream_end")
	if p := requests.get(uint64(handle)); p != nil {
		requests.remove(uint64(handle))
		if p.stream != nil {
			p.stream.end(aborted != 0)
		}
	}
}

//export iodine_hijack
func iodine_hijack(handle C.uint64_t) C.int {
	defer recovered("iodine_hijack")
	p := requests.get(uint64(handle))
	if p == nil {
		return -1
	}
	requests.remove(uint64(handle))
	p.fd = make(chan int, 1)
	p.done <- replyHijack
	return C.int(<-p.fd)
}
