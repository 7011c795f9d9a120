package main

/*
#include "iodine.h"
*/
import "C"

// Every value Go shares with the C glue comes from iodine.h, the one place
// it is defined; Ruby reads the same values from Iodine::Base's constants
// (ext/iodine/connection.c). Nothing restates a number.

// Task kinds (enum iodine_task_kind).
const (
	taskHTTP   = C.IODINE_TASK_HTTP
	taskConn   = C.IODINE_TASK_CONN
	taskPubSub = C.IODINE_TASK_PUBSUB
	taskTimer  = C.IODINE_TASK_TIMER
)

// An HTTP task's flags (enum iodine_task_flags).
const (
	reqTLS      = C.IODINE_REQ_TLS
	reqBodyFile = C.IODINE_REQ_BODY_FILE
	reqHead     = C.IODINE_REQ_HEAD
	reqHTTP10   = C.IODINE_REQ_HTTP10
	reqWS       = C.IODINE_REQ_WEBSOCKET
	reqSSE      = C.IODINE_REQ_SSE
)

// A connection's events (enum iodine_event_type) and their flags.
const (
	evOpen      = C.IODINE_EV_OPEN
	evMessage   = C.IODINE_EV_MESSAGE
	evDrained   = C.IODINE_EV_DRAINED
	evShutdown  = C.IODINE_EV_SHUTDOWN
	evClose     = C.IODINE_EV_CLOSE
	evReconnect = C.IODINE_EV_RECONNECT
	evPubSub    = C.IODINE_EV_PUBSUB
	evTimeout   = C.IODINE_EV_TIMEOUT
	evSSE       = C.IODINE_EV_SSE
	evAccept    = C.IODINE_EV_ACCEPT

	evBinary = C.IODINE_EV_BINARY
)

// Client kinds (enum iodine_client_kind), as Iodine::Connection passes them.
const (
	clientWebSocket = C.IODINE_CLIENT_WEBSOCKET
	clientSSE       = C.IODINE_CLIENT_SSE
	clientRaw       = C.IODINE_CLIENT_RAW
)
