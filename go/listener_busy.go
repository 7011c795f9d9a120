package main

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// When a process is about to run out of file descriptors, a new
// connection is answered "503 Service Unavailable" and closed at once
// instead of taking one of the last descriptors (which the app needs for
// its files and database connections): iodine's HTTP_BUSY_UNLESS_HAS_FDS.
// Linux hands out the lowest free descriptor, so an accepted socket's
// number tells how many are in use.
const fdReserve = 64

var fdLimit = func() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur == ^uint64(0) {
		return 1 << 20
	}
	return r.Cur
}()

func lowOnDescriptors(fd int) bool { return uint64(fd)+fdReserve >= fdLimit }

var busyResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n" +
	"Content-Length: 19\r\nRetry-After: 1\r\nConnection: close\r\n\r\nService Unavailable")

var lastBusyLog atomic.Int64

// refuseBusy answers and closes a raw socket accepted while low on
// descriptors (the cluster's accept loop).
func refuseBusy(fd int) {
	tv := syscall.NsecToTimeval(int64(time.Second))
	syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	syscall.Write(fd, busyResponse)
	syscall.Close(fd)
	logBusy()
}

// refuseBusyConn is refuseBusy for a connection Go already wraps.
func refuseBusyConn(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(time.Second))
	c.Write(busyResponse)
	c.Close()
	logBusy()
}

// logBusy says it at most once a second.
func logBusy() {
	now := time.Now().Unix()
	if last := lastBusyLog.Load(); now != last && lastBusyLog.CompareAndSwap(last, now) {
		logf(levelWarn, "refusing new connections with 503: fewer than %d of %d file descriptors left", fdReserve, fdLimit)
	}
}

// connFd is the descriptor behind a connection, or -1.
func connFd(c net.Conn) int {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return -1
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	fd := -1
	raw.Control(func(f uintptr) { fd = int(f) })
	return fd
}
