package main

/*
#include <stdlib.h>
#include "iodine.h"
*/
import "C"

import (
	"bytes"
	"net/http"
	"time"
	"unsafe"
)

// The exports for WebSocket/SSE connections and pub/sub (see iodine.h).
// Like every export they never block on the network and recover panics.

//export iodine_upgrade
func iodine_upgrade(handle C.uint64_t, headers *C.char, headersLen C.size_t) C.int {
	defer recovered("iodine_upgrade")
	p := requests.get(uint64(handle))
	if p == nil {
		return -1
	}
	// The app's headers go out in the case it wrote them; only the two the
	// WebSocket library looks up need the canonical form.
	extra := http.Header{}
	responseHeaders(cbytes(headers, headersLen), func(name, value []byte) {
		if validHeaderName(name) && validHeaderValue(value) {
			key := string(name)
			if caseEqual(name, "sec-websocket-protocol") || caseEqual(name, "sec-websocket-extensions") {
				key = http.CanonicalHeaderKey(key)
			}
			extra[key] = append(extra[key], string(value))
		}
	})
	p.extra = extra
	requests.remove(uint64(handle))
	p.done <- replyUpgrade
	return 0
}

//export iodine_conn_done
func iodine_conn_done(id C.uint64_t) {
	defer recovered("iodine_conn_done")
	if c := findConn(uint64(id)); c != nil {
		c.done()
	}
}

//export iodine_conn_write
func iodine_conn_write(id C.uint64_t, data *C.char, n C.size_t, flags C.int) C.int64_t {
	defer recovered("iodine_conn_write")
	c := findConn(uint64(id))
	if c == nil || c.client && c.kind == connSSE { // an SSE client only listens
		return -1
	}
	b := cbytes(data, n)
	notify := flags&C.IODINE_WRITE_NOTIFY != 0
	switch c.kind {
	case connWebSocket:
		return C.int64_t(c.write(c.message(b, flags&C.IODINE_WRITE_BINARY != 0), notify))
	case connRaw:
		return C.int64_t(c.write(bytes.Clone(b), notify))
	default:
		return C.int64_t(c.write(sseEvent(nil, nil, b), notify))
	}
}

//export iodine_conn_write_sse
func iodine_conn_write_sse(id C.uint64_t, eventID *C.char, idLen C.size_t, name *C.char, nameLen C.size_t, data *C.char, n C.size_t, notify C.int) C.int64_t {
	defer recovered("iodine_conn_write_sse")
	c := findConn(uint64(id))
	if c == nil || c.kind != connSSE || c.client {
		return -1
	}
	return C.int64_t(c.write(sseEvent(cbytes(eventID, idLen), cbytes(name, nameLen), cbytes(data, n)), notify != 0))
}

//export iodine_conn_close
func iodine_conn_close(id C.uint64_t) {
	defer recovered("iodine_conn_close")
	if c := findConn(uint64(id)); c != nil {
		c.closeWith(1000, "")
	}
}

//export iodine_conn_pending
func iodine_conn_pending(id C.uint64_t) C.int64_t {
	if c := findConn(uint64(id)); c != nil {
		return C.int64_t(c.backlog())
	}
	return -1
}

//export iodine_conn_set_timeout
func iodine_conn_set_timeout(id C.uint64_t, seconds C.int) {
	if c := findConn(uint64(id)); c != nil {
		c.mu.Lock()
		c.timeout = time.Duration(max(int(seconds), 0)) * time.Second
		c.mu.Unlock()
	}
}

//export iodine_conn_timeout
func iodine_conn_timeout(id C.uint64_t) C.int {
	if c := findConn(uint64(id)); c != nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		return C.int(c.timeout.Seconds())
	}
	return 0
}

//export iodine_subscribe
func iodine_subscribe(connID C.uint64_t, channel *C.char, n C.size_t, pattern, toRuby C.int) C.uint64_t {
	defer recovered("iodine_subscribe")
	var c *rtConn
	if connID != 0 {
		if c = findConn(uint64(connID)); c == nil {
			return 0
		}
	}
	return C.uint64_t(subscribe(c, C.GoStringN(channel, C.int(n)), pattern != 0, toRuby != 0))
}

//export iodine_unsubscribe
func iodine_unsubscribe(connID C.uint64_t, channel *C.char, n C.size_t, pattern C.int) C.int {
	defer recovered("iodine_unsubscribe")
	var c *rtConn
	if connID != 0 {
		if c = findConn(uint64(connID)); c == nil {
			return 0
		}
	}
	if unsubscribe(c, C.GoStringN(channel, C.int(n)), pattern != 0) {
		return 1
	}
	return 0
}

//export iodine_unsubscribe_id
func iodine_unsubscribe_id(id C.uint64_t) {
	defer recovered("iodine_unsubscribe_id")
	unsubscribeID(uint64(id))
}

//export iodine_publish
func iodine_publish(channel *C.char, channelLen C.size_t, msg *C.char, msgLen C.size_t, binaryData, scope C.int) C.int {
	defer recovered("iodine_publish")
	if channelLen > maxChannel || msgLen > maxMessage {
		return -1
	}
	// Delivery keeps the bytes (queued frames, events): copy them from C.
	ch := C.GoBytes(unsafe.Pointer(channel), C.int(channelLen))
	m := C.GoBytes(unsafe.Pointer(msg), C.int(msgLen))
	if scope == 0 {
		publishLocal(ch, m, binaryData != 0)
	} else if !publishCluster(ch, m, binaryData != 0) {
		return 0
	}
	return 1
}

//export iodine_pubsub_hub_serve
func iodine_pubsub_hub_serve(path *C.char, errBuf *C.char, errLen C.int) C.int {
	defer recovered("iodine_pubsub_hub_serve")
	if err := hubServe(C.GoString(path)); err != nil {
		copyError(errBuf, errLen, err)
		return -1
	}
	return 0
}

//export iodine_pubsub_hub_connect
func iodine_pubsub_hub_connect(path *C.char) {
	defer recovered("iodine_pubsub_hub_connect")
	hubConnect(C.GoString(path))
}

//export iodine_conn_new_id
func iodine_conn_new_id() C.uint64_t { return C.uint64_t(newConnID()) }

// iodine_connect dials url in the background as connection id (from
// iodine_conn_new_id, so Ruby knows it before any event): on_open follows,
// or on_close alone when it fails. headers are "Name: value" lines; idle is
// the WebSocket ping interval or the raw TCP timeout, in seconds.
//
//export iodine_connect
func iodine_connect(id C.uint64_t, kind C.int, rawURL *C.char, headers *C.char, headersLen C.size_t, idle, maxMsg C.int) {
	defer recovered("iodine_connect")
	o := clientOptions{kind: int(kind), url: C.GoString(rawURL), header: http.Header{},
		idle: time.Duration(max(int(idle), 0)) * time.Second, maxMsg: int(maxMsg)}
	for _, line := range bytes.Split(cbytes(headers, headersLen), []byte("\n")) {
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(":"))
		value = bytes.TrimSpace(value)
		if ok && validHeaderName(name) && validHeaderValue(value) {
			o.header.Add(string(name), string(value))
		}
	}
	connect(uint64(id), o)
}
