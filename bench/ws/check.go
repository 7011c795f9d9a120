package main

import (
	"bytes"
	"flag"
	"fmt"
	"time"
)

// runCheck tells whether a server is ready for a run: it opens one WebSocket
// and sends a message until the same message comes back (an echo server
// answers at once; a broadcast server once the connection is subscribed).
func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	rawURL := fs.String("url", "", "ws:// URL")
	timeout := fs.Duration("timeout", 5*time.Second, "overall limit")
	_ = fs.Parse(args)
	t, err := parseTarget(*rawURL)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(*timeout)
	c, err := Dial(t, 4096, *timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	msg := []byte("wsbench check")
	got := make(chan error, 1)
	go func() {
		_ = c.nc.SetReadDeadline(deadline)
		for {
			op, m, err := c.ReadMessage()
			if err != nil {
				got <- err
				return
			}
			if op == opText && bytes.Equal(m, msg) {
				got <- nil
				return
			}
		}
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := c.WriteMessage(opText, msg); err != nil {
			return err
		}
		select {
		case err := <-got:
			if err != nil {
				return fmt.Errorf("check: no message back: %w", err)
			}
			fmt.Println("check: ok")
			return nil
		case <-tick.C:
		}
	}
}
