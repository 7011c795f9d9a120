package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Pub/sub across a cluster. The master stays free of Go, so a hub process
// (forked like a worker, no HTTP) relays: every worker keeps one Unix
// socket connection to it, sends each cluster-wide publish there, and the
// hub sends it back to every worker, the publisher included, which then
// deliver locally. One ordered stream per worker keeps each publisher's
// messages in order; workers started by a hot restart connect and receive
// from then on.
//
// A letter on the wire: [u32 channel length][u32 message length][u8 flags]
// [channel][message], lengths big-endian.

const letterHeader = 9

func appendLetter(b, channel, msg []byte, binaryData bool) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(channel)))
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	flags := byte(0)
	if binaryData {
		flags = 1
	}
	b = append(b, flags)
	b = append(b, channel...)
	return append(b, msg...)
}

// readLetter reads one letter; its slices are fresh (delivery keeps them).
func readLetter(r *bufio.Reader) (letter []byte, channel, msg []byte, binaryData bool, err error) {
	var h [letterHeader]byte
	if _, err = io.ReadFull(r, h[:]); err != nil {
		return
	}
	cl, ml := binary.BigEndian.Uint32(h[:4]), binary.BigEndian.Uint32(h[4:8])
	if cl > maxChannel || ml > maxMessage {
		err = errors.New("oversized pub/sub letter")
		return
	}
	letter = make([]byte, letterHeader+int(cl)+int(ml))
	copy(letter, h[:])
	if _, err = io.ReadFull(r, letter[letterHeader:]); err != nil {
		return
	}
	return letter, letter[letterHeader : letterHeader+cl], letter[letterHeader+cl:], h[8]&1 != 0, nil
}

// letterQueue is an ordered, unbounded-until-limit outbox with one writer.
type letterQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	out    [][]byte
	bytes  int
	closed bool
	woken  bool // the link broke: writeTo returns so its owner reconnects
}

// letterBacklog: a peer this far behind is dropped (the hub) or its
// letters are (a worker cut off from the hub).
const letterBacklog = 256 << 20

func newLetterQueue() *letterQueue {
	q := &letterQueue{}
	q.cond = sync.NewCond(&q.mu)
	return q
}

func (q *letterQueue) push(letter []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.bytes+len(letter) > letterBacklog {
		return false
	}
	q.out = append(q.out, letter)
	q.bytes += len(letter)
	q.cond.Signal()
	return true
}

// writeTo sends letters until the queue closes or a write fails.
func (q *letterQueue) writeTo(c net.Conn) error {
	var bufs net.Buffers
	for {
		q.mu.Lock()
		for len(q.out) == 0 && !q.closed && !q.woken {
			q.cond.Wait()
		}
		if q.closed || q.woken { // woken: queued letters stay for the next link
			q.woken = false
			q.mu.Unlock()
			return net.ErrClosed
		}
		bufs = append(bufs[:0], q.out...)
		n := 0
		for _, b := range q.out {
			n += len(b)
		}
		clear(q.out)
		q.out = q.out[:0]
		q.bytes -= n
		q.mu.Unlock()
		if _, err := bufs.WriteTo(c); err != nil {
			return err
		}
	}
}

func (q *letterQueue) wake() {
	q.mu.Lock()
	q.woken = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

func (q *letterQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// ---- the hub process ----

var (
	hubMu      sync.Mutex
	hubWorkers = map[*letterQueue]bool{}
)

// hubServe listens on path and relays letters between workers.
func hubServe(path string) error {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				logf(levelError, "pub/sub hub: accept: %v", err)
				return
			}
			go hubServeWorker(c)
		}
	}()
	return nil
}

func hubServeWorker(c net.Conn) {
	q := newLetterQueue()
	hubMu.Lock()
	hubWorkers[q] = true
	hubMu.Unlock()
	go func() {
		q.writeTo(c)
		c.Close()
	}()
	defer func() {
		hubMu.Lock()
		delete(hubWorkers, q)
		hubMu.Unlock()
		q.close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		letter, _, _, _, err := readLetter(r)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				logf(levelWarn, "pub/sub hub: a worker's link failed: %v", err)
			}
			return
		}
		hubMu.Lock()
		for w := range hubWorkers {
			if !w.push(letter) {
				logf(levelError, "pub/sub hub: a worker is %d MB behind; dropping its link", letterBacklog>>20)
				w.close()
				delete(hubWorkers, w)
			}
		}
		hubMu.Unlock()
	}
}

// ---- a worker's link to the hub ----

var hubLink *letterQueue // nil outside a cluster worker

// hubConnect links this worker to the hub at path, reconnecting if the hub
// restarts. Letters published meanwhile wait in the queue.
func hubConnect(path string) {
	q := newLetterQueue()
	hubLink = q
	go func() {
		delay := 50 * time.Millisecond
		for !stopped.Load() {
			c, err := net.Dial("unix", path)
			if err != nil {
				time.Sleep(delay)
				delay = min(2*delay, time.Second)
				continue
			}
			delay = 50 * time.Millisecond
			go func() {
				r := bufio.NewReaderSize(c, 64<<10)
				for {
					_, channel, msg, binaryData, err := readLetter(r)
					if err != nil {
						c.Close()
						q.wake() // the writer may be idle: let it see the break now
						return
					}
					publishLocal(channel, msg, binaryData)
				}
			}()
			q.writeTo(c)
			c.Close()
			logf(levelWarn, "pub/sub: the link to the cluster hub broke; reconnecting")
		}
	}()
}

// publishCluster sends a message to every worker's subscribers, or to this
// process's alone when it is not part of a cluster.
func publishCluster(channel, msg []byte, binaryData bool) bool {
	if hubLink == nil {
		publishLocal(channel, msg, binaryData)
		return true
	}
	if len(msg) == 0 {
		return true
	}
	if !hubLink.push(appendLetter(nil, channel, msg, binaryData)) {
		logf(levelError, "pub/sub: the cluster hub is %d MB behind; message dropped", letterBacklog>>20)
		return false
	}
	return true
}
