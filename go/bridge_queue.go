package main

/*
#include <stdlib.h>
#include "iodine.h"

static int iodine_task_kind(iodine_task_t *t) { return (int)t->kind; }
static uint64_t iodine_task_handle(iodine_task_t *t) { return t->handle; }
*/
import "C"

import "unsafe"

// queuePush copies a task block into C memory and wakes a Ruby thread.
// The block holds no Go pointers, so C may read it during the call.
func queuePush(block []byte) {
	C.iodine_queue_push(unsafe.Pointer(&block[0]), C.size_t(len(block)))
}

// The rest serves the tests: in production only the C glue takes tasks.

type waiter = *C.iodine_waiter_t

func newWaiter() waiter        { return C.iodine_waiter_new() }
func freeWaiter(w waiter)      { C.iodine_waiter_free(w) }
func interruptWaiter(w waiter) { C.iodine_queue_interrupt(w) }

// takenTask is what a consumer saw of a task; the C memory is freed.
type takenTask struct {
	ok     bool
	kind   int
	handle uint64
}

func take(t *C.iodine_task_t) takenTask {
	if t == nil {
		return takenTask{}
	}
	tt := takenTask{true, int(C.iodine_task_kind(t)), uint64(C.iodine_task_handle(t))}
	C.free(unsafe.Pointer(t))
	return tt
}

func queueWait(w waiter) takenTask { return take(C.iodine_queue_wait(w)) }
func queueTryPop() takenTask       { return take(C.iodine_queue_try_pop()) }
func queueClose()                  { C.iodine_queue_close() }
func queueIsClosed() bool          { return C.iodine_queue_is_closed() != 0 }
