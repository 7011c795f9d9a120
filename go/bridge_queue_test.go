package main

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
	"unsafe"
)

// blockWithHandle is the smallest valid task block: a header only.
func blockWithHandle(h uint64) []byte {
	b := make([]byte, taskHeaderSize)
	binary.NativeEndian.PutUint64(b[unsafe.Offsetof(taskHeader{}.handle):], h)
	binary.NativeEndian.PutUint32(b[unsafe.Offsetof(taskHeader{}.kind):], taskHTTP)
	return b
}

// The queue is process-global and closing is final, so one test walks
// through every behaviour in order and closes it last.
func TestQueue(t *testing.T) {
	if queueIsClosed() { // go test -count=N: a second run in this process
		t.Skip("the queue was closed by an earlier run in this process; run TestQueue once per process")
	}
	if got := queueTryPop(); got.ok {
		t.Fatalf("empty queue gave a task: %+v", got)
	}

	t.Run("FIFO order through try_pop", func(t *testing.T) {
		for i := uint64(1); i <= 100; i++ {
			queuePush(blockWithHandle(i))
		}
		for i := uint64(1); i <= 100; i++ {
			got := queueTryPop()
			if !got.ok || got.handle != i || got.kind != taskHTTP {
				t.Fatalf("pop %d: got %+v", i, got)
			}
		}
		if queueTryPop().ok {
			t.Fatal("queue not empty after draining")
		}
	})

	t.Run("a waiting consumer is woken by a push", func(t *testing.T) {
		w := newWaiter()
		defer freeWaiter(w)
		got := make(chan takenTask)
		go func() { got <- queueWait(w) }()
		time.Sleep(20 * time.Millisecond) // let it block
		queuePush(blockWithHandle(7))
		select {
		case tt := <-got:
			if !tt.ok || tt.handle != 7 {
				t.Fatalf("woken with %+v", tt)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("waiter never woke")
		}
	})

	t.Run("the unblocking function wakes a waiter with nothing", func(t *testing.T) {
		w := newWaiter()
		defer freeWaiter(w)
		got := make(chan takenTask)
		go func() { got <- queueWait(w) }()
		time.Sleep(20 * time.Millisecond)
		interruptWaiter(w)
		select {
		case tt := <-got:
			if tt.ok {
				t.Fatalf("interrupted wait took %+v", tt)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("interrupt did not wake the waiter")
		}
	})

	t.Run("every task reaches exactly one of many consumers", func(t *testing.T) {
		const consumers, tasks = 4, 2000
		seen := make(chan uint64, tasks)
		stop := make(chan struct{})
		ws := make([]waiter, consumers)
		var running sync.WaitGroup
		for i := range ws {
			ws[i] = newWaiter()
			running.Add(1)
			go func(w waiter) {
				defer running.Done()
				for {
					tt := queueWait(w)
					if tt.ok {
						seen <- tt.handle
						continue
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}(ws[i])
		}
		for i := uint64(1); i <= tasks; i++ {
			queuePush(blockWithHandle(i))
		}
		got := map[uint64]bool{}
		deadline := time.After(10 * time.Second)
		for len(got) < tasks {
			select {
			case h := <-seen:
				if got[h] {
					t.Fatalf("task %d delivered twice", h)
				}
				got[h] = true
			case <-deadline:
				t.Fatalf("only %d of %d tasks delivered", len(got), tasks)
			}
		}
		// The consumers must be gone before the next step pushes: a waiter
		// takes a queued task even when interrupted.
		close(stop)
		for _, w := range ws {
			interruptWaiter(w)
		}
		running.Wait()
		for _, w := range ws {
			freeWaiter(w)
		}
	})

	t.Run("close wakes waiters, and queued tasks still drain", func(t *testing.T) {
		queuePush(blockWithHandle(42))
		queueClose()
		if !queueIsClosed() {
			t.Fatal("queue not closed")
		}
		w := newWaiter()
		defer freeWaiter(w)
		if tt := queueWait(w); !tt.ok || tt.handle != 42 {
			t.Fatalf("queued task lost at close: %+v", tt)
		}
		done := make(chan takenTask)
		go func() { done <- queueWait(w) }()
		select {
		case tt := <-done:
			if tt.ok {
				t.Fatalf("closed empty queue gave %+v", tt)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("wait on a closed queue blocked")
		}
	})
}
