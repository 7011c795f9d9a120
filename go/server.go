package main

import (
	"context"
	"errors"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The server's lifecycle: start serves every listener, stop drains them
// and the long-lived connections gracefully, without ever waiting itself.

var (
	listenersMu sync.Mutex
	listeners   []*listener
	serving     sync.WaitGroup
	stopOnce    sync.Once
	stopped     atomic.Bool
)

var keepAliveStop = make(chan struct{})

// closeRealtime runs every WebSocket/SSE connection's on_shutdown, closes
// it and waits for its on_close; at the deadline the rest are cut.
func closeRealtime(ctx context.Context) {
	shutdownConns()
	closed := make(chan struct{})
	go func() {
		liveConns.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
		connsMu.RLock()
		for _, c := range conns {
			c.abort()
		}
		connsMu.RUnlock()
		select { // on_close still runs for each, briefly
		case <-closed:
		case <-time.After(2 * time.Second):
		}
	}
	close(keepAliveStop)
}

// gcPercent is how far the Go heap may grow past what is live before the
// next collection, unless GOGC says otherwise. Go's 100 lets a heap of
// idle connections' state take twice its size in memory; 50 keeps an idle
// WebSocket near 5 KB. The request path allocates little, so collections
// stay rare under load.
const gcPercent = 50

// start serves every listener in the background.
func start(gomaxprocs int) {
	if gomaxprocs > 0 {
		runtime.GOMAXPROCS(gomaxprocs)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	go keepAlive(keepAliveStop)
	listenersMu.Lock()
	defer listenersMu.Unlock()
	for _, l := range listeners {
		serving.Add(1)
		go func(l *listener) {
			defer serving.Done()
			var err error
			if l.srv == nil {
				err = l.serveRaw()
			} else {
				err = l.srv.Serve(retryListener{l.ln})
			}
			if err != nil && !l.draining.Load() {
				logf(levelError, "listener %s stopped: %v", l.ln.Addr(), err)
			}
		}(l)
	}
}

// stop shuts every server down gracefully in the background: listeners
// close at once, requests in flight finish, idle connections close. After
// timeout the remaining connections are closed. It never waits itself: the
// caller holds the GVL. Timers are dropped at once.
func stop(timeout time.Duration) {
	timersStop()
	stopOnce.Do(func() {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				closeRealtime(ctx)
			}()
			listenersMu.Lock()
			for _, l := range listeners {
				wg.Add(1)
				go func(l *listener) {
					defer wg.Done()
					l.drain(ctx)
					// drain closed the listener already: that error is expected.
					// A raw TCP service has no server: closeRealtime ends its connections.
					if l.srv != nil {
						if err := l.srv.ShutdownWithContext(ctx); err != nil && !errors.Is(err, net.ErrClosed) {
							logf(levelWarn, "shutdown of %s: %v", l.ln.Addr(), err)
						}
					}
					if l.cfg.unix && l.shared == nil { // a worker's socket is the master's
						os.Remove(l.cfg.address)
					}
				}(l)
			}
			listenersMu.Unlock()
			wg.Wait()
			serving.Wait()
			listenersMu.Lock()
			for _, l := range listeners {
				l.access.flush() // the last lines before the exit
			}
			listenersMu.Unlock()
			stopped.Store(true)
		}()
	})
}
