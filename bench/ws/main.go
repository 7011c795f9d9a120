// Command wsbench measures WebSocket servers for bench/ws.sh.
//
//	wsbench echo      -url ws://127.0.0.1:PORT/ -conns 50 -duration 5s -size 32
//	wsbench broadcast -url ws://127.0.0.1:PORT/ -clients 1000 -publishers 10 -window 4 -duration 5s -size 32
//	wsbench idle      -url ws://127.0.0.1:PORT/ -conns 10000 -pid SERVERPID -hold 2s
//	wsbench check     -url ws://127.0.0.1:PORT/          (a message comes back: echo or broadcast)
//	wsbench hub       -addr 127.0.0.1:PORT               (the pure-Go reference server)
//
// Each load subcommand ends with one "RESULT key=value ..." line for scripts.
// Every wait is bounded: dials and handshakes by -timeout, runs by -duration,
// draining by -drain.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: wsbench echo|broadcast|idle|check|hub [flags]   (wsbench SUBCOMMAND -h for flags)")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	raiseNofile()
	args := os.Args[2:]
	var err error
	switch os.Args[1] {
	case "echo":
		err = runEcho(args)
	case "broadcast":
		err = runBroadcast(args)
	case "idle":
		err = runIdle(args)
	case "check":
		err = runCheck(args)
	case "hub":
		err = runHub(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wsbench:", err)
		os.Exit(1)
	}
}

// raiseNofile lifts the soft open-files limit to the hard one: 10,000 idle
// sockets need more than the usual 1024. (Go does this at start-up too since
// 1.19; doing it here states the need and reports a low hard limit.)
func raiseNofile() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

func nofile() uint64 {
	var l syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// dialAll opens n connections, at most `parallel` handshakes at a time.
// It fails on the first error (after the handshakes under way finish).
func dialAll(t Target, n, parallel, rbuf int, timeout time.Duration) ([]*Conn, error) {
	conns := make([]*Conn, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	if parallel > n {
		parallel = n
	}
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for failed.Load() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := Dial(t, rbuf, timeout)
				if err != nil {
					failed.CompareAndSwap(nil, fmt.Errorf("connection %d of %d: %w", i+1, n, err))
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		closeAll(conns)
		return nil, err
	}
	return conns, nil
}

func closeAll(conns []*Conn) {
	var wg sync.WaitGroup
	// closing 10,000 sockets one by one is quick; a few goroutines keep the
	// close frames' writes from serializing behind one slow socket.
	const workers = 8
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(conns); i += workers {
				if conns[i] != nil {
					conns[i].Close()
				}
			}
		}(w)
	}
	wg.Wait()
}

// cpuSeconds is this process's user+system CPU time: it shows how much of the
// shared cores the load generator itself used.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func clientCPU(cpu0 float64, wall time.Duration) string {
	used := cpuSeconds() - cpu0
	return fmt.Sprintf("wsbench CPU %.2f s over %.2f s wall = %.0f%% of one core (GOMAXPROCS=%d, %d CPUs)",
		used, wall.Seconds(), 100*used/wall.Seconds(), runtime.GOMAXPROCS(0), runtime.NumCPU())
}

// vmRSS reads VmRSS (KB) from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// fill makes a message body: prefix, then 'x' up to size bytes (at least the prefix).
func fill(dst, prefix []byte, size int) []byte {
	dst = append(dst[:0], prefix...)
	for len(dst) < size {
		dst = append(dst, 'x')
	}
	return dst
}

func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
