package main

import (
	"testing"
	"time"
)

// fakeTimers starts the timer table afresh and collects the ids of the
// runs it queues (instead of pushing tasks onto the C queue).
func fakeTimers(t *testing.T) chan uint64 {
	t.Helper()
	fired := make(chan uint64, 100)
	timersMu.Lock()
	for _, tm := range timers {
		if tm.clock != nil {
			tm.clock.Stop()
		}
	}
	timers = map[uint64]*timer{}
	timersStopped = false
	saved := timerFire
	timerFire = func(id uint64) { fired <- id }
	timersMu.Unlock()
	t.Cleanup(func() {
		timersStop()
		timersMu.Lock()
		timerFire = saved
		timersMu.Unlock()
	})
	return fired
}

func expectFire(t *testing.T, fired chan uint64, id uint64, within time.Duration) time.Time {
	t.Helper()
	select {
	case got := <-fired:
		if got != id {
			t.Fatalf("timer %d fired, expected %d", got, id)
		}
		return time.Now()
	case <-time.After(within):
		t.Fatalf("timer %d did not fire within %v", id, within)
	}
	return time.Time{}
}

func expectQuiet(t *testing.T, fired chan uint64, d time.Duration) {
	t.Helper()
	select {
	case got := <-fired:
		t.Fatalf("timer %d fired, expected none for %v", got, d)
	case <-time.After(d):
	}
}

func TestTimerOnceAfterDelay(t *testing.T) {
	fired := fakeTimers(t)
	start := time.Now()
	if !timerAdd(1, 50*time.Millisecond, 0, 1) {
		t.Fatal("timerAdd refused")
	}
	at := expectFire(t, fired, 1, 5*time.Second)
	if at.Sub(start) < 45*time.Millisecond {
		t.Fatalf("fired after %v, before its 50 ms delay", at.Sub(start))
	}
	if timerDone(1) {
		t.Fatal("a one-shot timer goes on after its run")
	}
	expectQuiet(t, fired, 100*time.Millisecond)
	if timerDone(1) {
		t.Fatal("an unknown timer's done said it goes on")
	}
}

func TestTimerRepetitions(t *testing.T) {
	fired := fakeTimers(t)
	timerAdd(2, 10*time.Millisecond, 10*time.Millisecond, 3)
	for i := 1; i <= 3; i++ {
		expectFire(t, fired, 2, 5*time.Second)
		if more := timerDone(2); more != (i < 3) {
			t.Fatalf("after run %d: done said more = %v", i, more)
		}
	}
	expectQuiet(t, fired, 100*time.Millisecond)
}

// A run that takes longer than the interval gets no second run queued
// behind it; the next one comes at once when it finishes (its due time is
// past), then the interval applies again.
func TestTimerNoPileUp(t *testing.T) {
	fired := fakeTimers(t)
	timerAdd(3, 0, 20*time.Millisecond, 0)
	expectFire(t, fired, 3, 5*time.Second)
	expectQuiet(t, fired, 200*time.Millisecond) // the "block" is still running
	if !timerDone(3) {
		t.Fatal("a forever timer stopped")
	}
	expectFire(t, fired, 3, 50*time.Millisecond) // overdue: at once
	if !timerDone(3) {
		t.Fatal("a forever timer stopped")
	}
	start := time.Now()
	at := expectFire(t, fired, 3, 5*time.Second)
	if at.Sub(start) < 10*time.Millisecond {
		t.Fatalf("the run after a catch-up came %v later, expected about the 20 ms interval", at.Sub(start))
	}
}

func TestTimersStop(t *testing.T) {
	fired := fakeTimers(t)
	timerAdd(4, 30*time.Millisecond, 30*time.Millisecond, 0)
	timerAdd(5, 0, 10*time.Millisecond, 0)
	expectFire(t, fired, 5, 5*time.Second)
	timersStop()
	if timerDone(5) {
		t.Fatal("a timer goes on after the stop")
	}
	expectQuiet(t, fired, 100*time.Millisecond)
	if timerAdd(6, 0, 0, 1) {
		t.Fatal("timerAdd accepted a timer after the stop")
	}
	expectQuiet(t, fired, 50*time.Millisecond)
}

func TestTimerIDTaken(t *testing.T) {
	fakeTimers(t)
	if !timerAdd(7, time.Hour, 0, 1) || timerAdd(7, time.Hour, 0, 1) {
		t.Fatal("a timer id was accepted twice")
	}
}
