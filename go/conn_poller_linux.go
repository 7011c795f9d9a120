package main

import (
	"sync"
	"syscall"
)

// The poller: an idle connection waits for bytes here, in one epoll set
// for the whole process, instead of in a goroutine blocked in a read. A
// goroutine parked inside fasthttp/websocket's reader holds a 4 KB stack
// and its own 0.4 KB descriptor, which was most of an idle WebSocket's
// memory (44 of 120 MB with 10,000 open). Here a connection has no
// goroutine until its socket has something to read.
//
// The set is level-triggered and one-shot: a socket is reported once, then
// not again until its read pass arms it anew, which reports it at once if
// bytes are still waiting. Each report starts one read pass (conn_read.go).
// Go's own poller keeps watching the same sockets for the reads and writes
// that do block; a socket may sit in two epoll sets.
type poller struct{ epfd int }

var (
	pollerOnce sync.Once
	idlePoller *poller
)

// parkingPoller is the process's poller, started on first use; nil where
// epoll fails, and connections then keep a reading goroutine each.
func parkingPoller() *poller {
	pollerOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			logf(levelWarn, "epoll unavailable (%v): idle connections keep a goroutine each", err)
			return
		}
		idlePoller = &poller{epfd: fd}
		go idlePoller.run()
	})
	return idlePoller
}

// arm asks for one report when c's socket is readable (bytes, EOF or an
// error). It runs while Go holds the descriptor open (Control), so it can
// never touch another connection's socket that reused the number.
func (p *poller) arm(c *rtConn) error {
	var err error
	ctlErr := c.sysConn.Control(func(fd uintptr) {
		ev := syscall.EpollEvent{
			Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
			Fd:     int32(uint32(c.id)),
			Pad:    int32(uint32(c.id >> 32)),
		}
		// Re-armed far more often than added: try that first.
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, int(fd), &ev)
		if err == syscall.ENOENT {
			err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
		}
	})
	if ctlErr != nil {
		return ctlErr
	}
	return err
}

// run reports readable sockets for ever. A closed socket leaves the set by
// itself; a report for a connection already gone finds nothing.
func (p *poller) run() {
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			logf(levelError, "epoll_wait: %v; idle connections are no longer read", err)
			return
		}
		for _, ev := range events[:n] {
			if c := findConn(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32); c != nil {
				c.readable()
			}
		}
	}
}
