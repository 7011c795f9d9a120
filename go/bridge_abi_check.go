package main

/*
#include "iodine.h"
*/
import "C"

import "unsafe"

// Compile-time checks that taskHeader (Go) and iodine_task_t (C) agree, and
// so do the flag values: a mismatch makes one of these array lengths
// negative and the build fails.
const (
	_ = uint(C.sizeof_iodine_task_t - taskHeaderSize)
	_ = uint(taskHeaderSize - C.sizeof_iodine_task_t)

	_ = uint(unsafe.Offsetof(C.iodine_task_t{}.headers_off) - unsafe.Offsetof(taskHeader{}.headersOff))
	_ = uint(unsafe.Offsetof(taskHeader{}.headersOff) - unsafe.Offsetof(C.iodine_task_t{}.headers_off))
	_ = uint(unsafe.Offsetof(C.iodine_task_t{}.body) - unsafe.Offsetof(taskHeader{}.body))
	_ = uint(unsafe.Offsetof(taskHeader{}.body) - unsafe.Offsetof(C.iodine_task_t{}.body))
	_ = uint(unsafe.Offsetof(C.iodine_task_t{}.body_fd) - unsafe.Offsetof(taskHeader{}.bodyFd))
	_ = uint(unsafe.Offsetof(taskHeader{}.bodyFd) - unsafe.Offsetof(C.iodine_task_t{}.body_fd))

	_ = uint(C.sizeof_iodine_event_t - eventHeaderSize)
	_ = uint(eventHeaderSize - C.sizeof_iodine_event_t)
	_ = uint(unsafe.Offsetof(C.iodine_event_t{}.data) - unsafe.Offsetof(eventHeader{}.data))
	_ = uint(unsafe.Offsetof(eventHeader{}.data) - unsafe.Offsetof(C.iodine_event_t{}.data))
	_ = uint(unsafe.Offsetof(C.iodine_event_t{}.kind) - unsafe.Offsetof(C.iodine_task_t{}.kind))
	_ = uint(unsafe.Offsetof(C.iodine_task_t{}.kind) - unsafe.Offsetof(C.iodine_event_t{}.kind))
	_ = uint(C.IODINE_REQ_WEBSOCKET - reqWS)
	_ = uint(reqWS - C.IODINE_REQ_WEBSOCKET)
	_ = uint(C.IODINE_REQ_SSE - reqSSE)
	_ = uint(reqSSE - C.IODINE_REQ_SSE)
	_ = uint(C.IODINE_TASK_CONN - taskConn)
	_ = uint(taskConn - C.IODINE_TASK_CONN)
	_ = uint(C.IODINE_TASK_PUBSUB - taskPubSub)
	_ = uint(taskPubSub - C.IODINE_TASK_PUBSUB)
	_ = uint(C.IODINE_TASK_TIMER - taskTimer)
	_ = uint(taskTimer - C.IODINE_TASK_TIMER)
	_ = uint(C.IODINE_EV_PUBSUB - evPubSub)
	_ = uint(evPubSub - C.IODINE_EV_PUBSUB)
	_ = uint(C.IODINE_EV_RECONNECT - evReconnect)
	_ = uint(evReconnect - C.IODINE_EV_RECONNECT)
	_ = uint(C.IODINE_EV_CLOSE - evClose)
	_ = uint(evClose - C.IODINE_EV_CLOSE)
	_ = uint(C.IODINE_EV_SSE - evSSE)
	_ = uint(evSSE - C.IODINE_EV_SSE)
	_ = uint(C.IODINE_CLIENT_WEBSOCKET - clientWebSocket)
	_ = uint(clientWebSocket - C.IODINE_CLIENT_WEBSOCKET)
	_ = uint(C.IODINE_CLIENT_SSE - clientSSE)
	_ = uint(clientSSE - C.IODINE_CLIENT_SSE)
	_ = uint(C.IODINE_CLIENT_RAW - clientRaw)
	_ = uint(clientRaw - C.IODINE_CLIENT_RAW)
	_ = uint(C.IODINE_EV_TIMEOUT - evTimeout)
	_ = uint(evTimeout - C.IODINE_EV_TIMEOUT)
	_ = uint(C.IODINE_EV_BINARY - evBinary)
	_ = uint(evBinary - C.IODINE_EV_BINARY)

	_ = uint(C.sizeof_iodine_board_slot_t - unsafe.Sizeof(boardSlot{}))
	_ = uint(unsafe.Sizeof(boardSlot{}) - C.sizeof_iodine_board_slot_t)

	_ = uint(C.IODINE_TASK_HTTP - taskHTTP)
	_ = uint(taskHTTP - C.IODINE_TASK_HTTP)
	_ = uint(C.IODINE_REQ_TLS - reqTLS)
	_ = uint(reqTLS - C.IODINE_REQ_TLS)
	_ = uint(C.IODINE_REQ_BODY_FILE - reqBodyFile)
	_ = uint(reqBodyFile - C.IODINE_REQ_BODY_FILE)
	_ = uint(C.IODINE_REQ_HEAD - reqHead)
	_ = uint(reqHead - C.IODINE_REQ_HEAD)
	_ = uint(C.IODINE_REQ_HTTP10 - reqHTTP10)
	_ = uint(reqHTTP10 - C.IODINE_REQ_HTTP10)
)
