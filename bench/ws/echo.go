package main

import (
	"bytes"
	"flag"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// runEcho: every connection sends a text message, waits for it to come back
// unchanged, and repeats (one message in flight per connection). Round trips
// that start after the warm-up and end before the deadline are counted.
func runEcho(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	rawURL := fs.String("url", "", "ws:// URL of an echo endpoint")
	n := fs.Int("conns", 50, "connections, each with one message in flight")
	duration := fs.Duration("duration", 5*time.Second, "measured time")
	warmup := fs.Duration("warmup", 0, "unmeasured time before it")
	size := fs.Int("size", 32, "message size in bytes (at least 11: a 10-digit sequence number and ':')")
	parallel := fs.Int("dialers", 100, "handshakes at a time")
	timeout := fs.Duration("timeout", 10*time.Second, "dial/handshake limit, and how long a reply may take")
	_ = fs.Parse(args)
	t, err := parseTarget(*rawURL)
	if err != nil {
		return err
	}
	conns, err := dialAll(t, *n, *parallel, 4096, *timeout)
	if err != nil {
		return err
	}
	defer closeAll(conns)

	type result struct {
		h      hist
		count  int64
		errors int64
		err    error
	}
	results := make([]result, len(conns))
	start := time.Now()
	measureFrom := start.Add(*warmup)
	end := measureFrom.Add(*duration)
	cpu0 := cpuSeconds()
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func(r *result, c *Conn) {
			defer wg.Done()
			// a stalled server cannot hang the run past the deadline + timeout
			_ = c.nc.SetReadDeadline(end.Add(*timeout))
			var msg []byte
			var prefix [11]byte
			for seq := uint64(0); ; seq++ {
				// the sequence number makes a stale or mixed-up echo visible
				p := strconv.AppendUint(prefix[:0], 1e10+seq%1e10, 10)[1:]
				msg = fill(msg, append(p, ':'), *size)
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				if err := c.WriteMessage(opText, msg); err != nil {
					r.err = err
					return
				}
				var got []byte
				for { // skip pongs
					op, p, err := c.ReadMessage()
					if err != nil {
						r.err = err
						return
					}
					if op != opPong {
						got = p
						break
					}
				}
				t1 := time.Now()
				if !bytes.Equal(got, msg) {
					r.errors++
				}
				if !t0.Before(measureFrom) && !t1.After(end) {
					r.count++
					r.h.add(t1.Sub(t0))
				}
			}
		}(&results[i], c)
	}
	wg.Wait()
	wall := time.Since(start)
	var total hist
	var count, mismatched int64
	var firstErr error
	failedConns := 0
	for i := range results {
		total.merge(&results[i].h)
		count += results[i].count
		mismatched += results[i].errors
		if results[i].err != nil {
			failedConns++
			if firstErr == nil {
				firstErr = results[i].err
			}
		}
	}
	rate := float64(count) / duration.Seconds()
	fmt.Printf("echo %s: %d conns, %d-byte text messages, %s measured (+%s warm-up)\n",
		*rawURL, len(conns), len(fill(nil, []byte("0000000000:"), *size)), *duration, *warmup)
	fmt.Printf("  round trips: %s = %s/s   latency p50 %s  p99 %s  max %s\n",
		commas(count), commas(int64(rate)), total.quantile(0.50), total.quantile(0.99), time.Duration(total.max))
	fmt.Printf("  wrong echoes %d, failed connections %d\n", mismatched, failedConns)
	if firstErr != nil {
		fmt.Printf("  first connection error: %v\n", firstErr)
	}
	fmt.Println("  " + clientCPU(cpu0, wall))
	fmt.Printf("RESULT rtps=%d p50_us=%d p99_us=%d wrong=%d failed=%d\n", int64(rate),
		total.quantile(0.50).Microseconds(), total.quantile(0.99).Microseconds(), mismatched, failedConns)
	return nil
}
