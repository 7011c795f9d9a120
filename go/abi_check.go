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
