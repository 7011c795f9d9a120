package main

/*
#include "iodine.h"
*/
import "C"

import "unsafe"

// Compile-time checks that the Go mirrors of iodine.h's structs (taskHeader,
// eventHeader, boardSlot) have the C layout: a mismatch makes one of these
// constants negative and the build fails. The enums' values are not
// restated in Go at all (bridge_constants.go).
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

	_ = uint(C.sizeof_iodine_board_slot_t - unsafe.Sizeof(boardSlot{}))
	_ = uint(unsafe.Sizeof(boardSlot{}) - C.sizeof_iodine_board_slot_t)
)
