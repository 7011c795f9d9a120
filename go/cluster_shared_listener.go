package main

import (
	"errors"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// sharedListener accepts from a listening socket that the cluster master
// bound and every worker inherited.
//
// A Go accept loop (netpoll) on a shared socket takes nearly every
// connection in the worker that wakes first (measured: 0 of 424k for the
// other one). Here each worker keeps one thread blocked in accept(2)
// instead: Linux queues blocked acceptors as exclusive waiters and wakes
// them in FIFO order, so connections go round-robin across the workers.
// SO_RCVTIMEO bounds each accept, so a retiring worker notices it must
// stop; the connections it never accepted stay in the shared backlog for
// the other workers, and none is reset.
type sharedListener struct {
	fd        int
	addr      net.Addr
	conns     chan net.Conn
	stop      chan struct{}
	stopOnce  sync.Once
	done      chan struct{}
	closed    chan struct{}
	closeOnce sync.Once
}

// acceptTimeout is how long a retiring worker may take to notice it must
// stop accepting.
const acceptTimeout = 200 * time.Millisecond

func newSharedListener(fd int) (*sharedListener, error) {
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	// The master's socket is shared (one open file description), so these
	// settings are the same in every worker.
	if err := syscall.SetNonblock(fd, false); err != nil {
		return nil, err
	}
	tv := syscall.NsecToTimeval(acceptTimeout.Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return nil, err
	}
	l := &sharedListener{
		fd: fd, addr: sockaddrToAddr(sa), conns: make(chan net.Conn),
		stop: make(chan struct{}), done: make(chan struct{}), closed: make(chan struct{}),
	}
	go l.acceptLoop()
	return l, nil
}

func (l *sharedListener) acceptLoop() {
	defer close(l.done)
	boardAccepting(true)
	defer boardAccepting(false)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		// FIFO wake-ups spread connections that arrive one by one; in a
		// burst the worker already running would take them all, so a busier
		// one stands back (cluster_board.go).
		waitForTurn()
		nfd, _, err := syscall.Accept4(l.fd, syscall.SOCK_CLOEXEC|syscall.SOCK_NONBLOCK)
		if err != nil {
			if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) || errors.Is(err, syscall.ECONNABORTED) {
				continue
			}
			logf(levelError, "accept on %s: %v", l.addr, err)
			time.Sleep(10 * time.Millisecond) // EMFILE and the like: let it ease
			continue
		}
		if lowOnDescriptors(nfd) {
			go refuseBusy(nfd) // listener_busy.go: 503 and close
			continue
		}
		boardCount(1) // back down when the connection closes (listener_drain.go)
		f := os.NewFile(uintptr(nfd), "conn")
		c, err := net.FileConn(f) // registers a duplicate with the poller
		f.Close()
		if err != nil {
			boardCount(-1)
			logf(levelError, "accepted connection unusable: %v", err)
			continue
		}
		// fasthttp keeps calling Accept until stopAccepting returns, so a
		// connection taken here is always served.
		l.conns <- c
	}
}

// stopAccepting ends the accept loop and waits for it (at most about
// acceptTimeout), leaving further connections to the other workers.
func (l *sharedListener) stopAccepting() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

func (l *sharedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

// Close stops handing out connections. The socket itself belongs to the
// master (and the other workers), so it stays open.
func (l *sharedListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *sharedListener) Addr() net.Addr { return l.addr }

func sockaddrToAddr(sa syscall.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return &net.TCPAddr{}
}
