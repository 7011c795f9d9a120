package main

/*
#include "iodine.h"
*/
import "C"

import (
	"sync"
	"time"
)

// Timers (Iodine.run / run_after / run_every) in a process that serves: Go
// owns the clock and Ruby the blocks. When a timer is due Go queues an
// IODINE_TASK_TIMER task with the timer's id as its handle, so the block
// runs on one of the server's Ruby threads like any other task. A timer has
// at most one run queued or running: the next one is scheduled only when
// Ruby reports the run done (iodine_timer_done), at the later of the
// previous due time plus the interval and now, so a block slower than its
// interval never piles up tasks. Stopping the server drops every timer.
type timer struct {
	id       uint64
	interval time.Duration
	left     int64 // runs still to go; 0 with forever
	forever  bool
	due      time.Time   // when the run queued last (or next) was due
	clock    *time.Timer // nil while a run is queued or running
}

var (
	timersMu      sync.Mutex
	timers        = map[uint64]*timer{}
	timersStopped bool
	// timerFire queues a due timer's run; the tests replace it.
	timerFire = func(id uint64) { pushEvent(taskTimer, id, event{}) }
)

// timerAdd schedules timer id (chosen by Ruby) to run after delay, then
// every interval, repetitions times in all (0: forever). It returns false
// once the server is stopping, or if id is taken.
func timerAdd(id uint64, delay, interval time.Duration, repetitions int64) bool {
	if delay < 0 {
		delay = 0
	}
	if interval < 0 {
		interval = 0
	}
	timersMu.Lock()
	defer timersMu.Unlock()
	if timersStopped || timers[id] != nil {
		return false
	}
	t := &timer{id: id, interval: interval, left: repetitions, forever: repetitions <= 0}
	t.due = time.Now().Add(delay)
	t.clock = time.AfterFunc(delay, func() { t.fire() })
	timers[id] = t
	return true
}

// fire queues the run (under the lock, so none is queued once timersStop
// has returned).
func (t *timer) fire() {
	timersMu.Lock()
	defer timersMu.Unlock()
	if !timersStopped && timers[t.id] == t {
		t.clock = nil
		timerFire(t.id)
	}
}

// timerDone is Ruby's report that timer id's run finished. It schedules the
// next run and returns true, or forgets the timer and returns false when
// that was its last run (or it is unknown: dropped at stop).
func timerDone(id uint64) bool {
	timersMu.Lock()
	defer timersMu.Unlock()
	t := timers[id]
	if t == nil {
		return false
	}
	if t.clock != nil { // not running (a stray report): still scheduled
		return true
	}
	if !t.forever {
		t.left--
		if t.left <= 0 {
			delete(timers, id)
			return false
		}
	}
	now := time.Now()
	t.due = t.due.Add(t.interval)
	if t.due.Before(now) {
		t.due = now
	}
	t.clock = time.AfterFunc(t.due.Sub(now), func() { t.fire() })
	return true
}

// timersStop drops every timer: no run is queued after it returns.
func timersStop() {
	timersMu.Lock()
	defer timersMu.Unlock()
	timersStopped = true
	for id, t := range timers {
		if t.clock != nil {
			t.clock.Stop()
		}
		delete(timers, id)
	}
}

//export iodine_timer_add
func iodine_timer_add(id C.uint64_t, delayMs, intervalMs, repetitions C.int64_t) (rc C.int) {
	rc = -1
	defer recovered("iodine_timer_add")
	if timerAdd(uint64(id), time.Duration(delayMs)*time.Millisecond,
		time.Duration(intervalMs)*time.Millisecond, int64(repetitions)) {
		return 0
	}
	return -1
}

//export iodine_timer_done
func iodine_timer_done(id C.uint64_t) (more C.int) {
	defer recovered("iodine_timer_done")
	if timerDone(uint64(id)) {
		return 1
	}
	return 0
}
