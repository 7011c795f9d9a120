package main

import (
	"sync/atomic"
	"time"
	"unsafe"
)

// boardSlot mirrors iodine_board_slot_t (see iodine.h): one per worker, in
// memory shared by the whole cluster.
type boardSlot struct {
	conns     atomic.Int64
	accepting atomic.Int32
	_         int32
}

// The cluster's load board, when this process is a worker (see iodine.h).
var (
	board     []boardSlot
	boardMine = -1
)

func useBoard(p unsafe.Pointer, slots, mine int) {
	if p == nil || mine < 0 || mine >= slots {
		return
	}
	board = unsafe.Slice((*boardSlot)(p), slots)
	boardMine = mine
	board[mine].conns.Store(0)
}

func boardCount(delta int64) {
	if boardMine >= 0 {
		board[boardMine].conns.Add(delta)
	}
}

func boardAccepting(on bool) {
	if boardMine >= 0 {
		v := int32(0)
		if on {
			v = 1
		}
		board[boardMine].accepting.Store(v)
	}
}

// boardBehind reports whether another accepting worker holds at least two
// connections fewer than this one.
func boardBehind() bool {
	if boardMine < 0 {
		return false
	}
	mine := board[boardMine].conns.Load()
	for i := range board {
		if i != boardMine && board[i].accepting.Load() == 1 && board[i].conns.Load() < mine-1 {
			return true
		}
	}
	return false
}

// Balancing waits at most this long, so a stuck peer never stops us.
const (
	boardYield    = 100 * time.Microsecond
	boardMaxYield = 5 * time.Millisecond
)

// waitForTurn lets a less loaded worker take the next connection.
func waitForTurn() {
	for waited := time.Duration(0); waited < boardMaxYield && boardBehind(); waited += boardYield {
		time.Sleep(boardYield)
	}
}
