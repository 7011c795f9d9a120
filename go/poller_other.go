//go:build !linux

package main

import "errors"

// Without epoll every connection keeps a reading goroutine (poller_linux.go).
type poller struct{}

func parkingPoller() *poller { return nil }

func (p *poller) arm(*rtConn) error { return errors.New("no poller on this system") }
