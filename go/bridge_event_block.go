package main

import (
	"sync"
	"unsafe"
)

// The Go mirror of iodine_event_t (iodine.h), checked in bridge_abi_check.go.
type eventHeader struct {
	next          uint64
	handle        uint64
	kind, typ     uint32
	sub           uint64
	flags, unused uint32
	channel, data span
}

const eventHeaderSize = int(unsafe.Sizeof(eventHeader{}))

var eventBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// pushEvent lays out one event block (header, channel, data) and queues it
// for a Ruby thread.
func pushEvent(kind uint32, handle uint64, e event) {
	bp := eventBufs.Get().(*[]byte)
	b := append((*bp)[:0], make([]byte, eventHeaderSize)...)
	h := eventHeader{handle: handle, kind: kind, typ: e.typ, sub: e.sub, flags: e.flags}
	h.channel = span{uint32(len(b)), uint32(len(e.channel))}
	b = append(b, e.channel...)
	h.data = span{uint32(len(b)), uint32(len(e.data))}
	b = append(b, e.data...)
	*(*eventHeader)(unsafe.Pointer(&b[0])) = h
	queuePush(b)
	if cap(b) <= 64<<10 { // keep big messages' buffers out of the pool
		*bp = b
		eventBufs.Put(bp)
	}
}
