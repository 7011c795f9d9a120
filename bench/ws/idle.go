package main

import (
	"flag"
	"fmt"
	"sync"
	"time"
)

// runIdle opens -conns WebSockets that send nothing, waits -hold, and reports
// how much the server's resident memory (VmRSS of -pid) grew per connection.
// Then it pings a sample of the connections to show they are still open.
func runIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	rawURL := fs.String("url", "", "ws:// URL")
	n := fs.Int("conns", 10000, "idle connections")
	pid := fs.Int("pid", 0, "server process id, for /proc/PID/status")
	hold := fs.Duration("hold", 2*time.Second, "idle time before the second reading")
	parallel := fs.Int("dialers", 100, "handshakes at a time")
	sample := fs.Int("sample", 100, "connections pinged afterwards")
	timeout := fs.Duration("timeout", 10*time.Second, "dial/handshake limit, and the limit for a pong")
	_ = fs.Parse(args)
	t, err := parseTarget(*rawURL)
	if err != nil {
		return err
	}
	if *pid <= 0 {
		return fmt.Errorf("-pid is required")
	}
	if need := uint64(*n) + 64; nofile() < need {
		return fmt.Errorf("open-files limit %d is below the %d needed (raise the hard limit: ulimit -Hn)", nofile(), need)
	}
	before, err := vmRSS(*pid)
	if err != nil {
		return err
	}
	t0 := time.Now()
	// a small read buffer: these sockets only ever read a pong
	conns, err := dialAll(t, *n, *parallel, 512, *timeout)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	opened := time.Since(t0)
	time.Sleep(*hold)
	after, err := vmRSS(*pid)
	if err != nil {
		return err
	}
	perConn := float64(after-before) / float64(*n)

	// liveness: ping an evenly spread sample, each must answer within -timeout
	if *sample > *n {
		*sample = *n
	}
	alive := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for k := 0; k < *sample; k++ {
		c := conns[k*(*n)/(*sample)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.nc.SetReadDeadline(time.Now().Add(*timeout))
			if c.WriteMessage(opPing, []byte("idle")) != nil {
				return
			}
			for {
				op, _, err := c.ReadMessage()
				if err != nil {
					return
				}
				if op == opPong {
					mu.Lock()
					alive++
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()

	fmt.Printf("idle %s: %d connections opened in %s, held %s; server pid %d\n",
		*rawURL, *n, opened.Round(time.Millisecond), *hold, *pid)
	fmt.Printf("  server VmRSS %s KB before, %s KB after: %.2f KB per connection\n",
		commas(before), commas(after), perConn)
	fmt.Printf("  ping/pong: %d of %d sampled connections answered\n", alive, *sample)
	fmt.Printf("RESULT kb_per_conn=%.2f rss_before_kb=%d rss_after_kb=%d alive=%d sampled=%d\n",
		perConn, before, after, alive, *sample)
	return nil
}
