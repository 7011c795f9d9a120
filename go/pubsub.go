package main

import (
	"slices"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Pub/sub inside one process. A subscription belongs to the process (an
// Iodine.subscribe block, run as an IODINE_TASK_PUBSUB task) or to a
// connection: with a block it runs as one of the connection's events, in
// order with the others; without one Go writes each message straight to
// the client, framed once per publish for all of them. Messages are
// delivered in publish order: a publisher's messages reach every
// connection's queue in the order it published them.
type subscription struct {
	id      uint64
	channel string
	pattern bool    // a Redis-style glob (match: :redis)
	conn    *rtConn // nil: the process
	toRuby  bool    // a block runs; else the message goes to the client
	index   int     // position in its channelSubs.list or patterns
}

// channelSubs lists one channel's subscribers; removal swaps in the last.
type channelSubs struct{ list []*subscription }

var (
	psMu       sync.RWMutex
	psChannels = map[string]*channelSubs{}
	psPatterns []*subscription
	psByID     = map[uint64]*subscription{}
	psNextID   atomic.Uint64
)

// Limits of iodine's letter protocol: channel names up to 64 KiB, messages
// up to 16 MiB.
const (
	maxChannel = 1 << 16
	maxMessage = 1 << 24
)

// subscribe adds a subscription, replacing the same subscriber's earlier
// one to the same channel (a client subscribed twice gets each message
// once). conn is nil for the process.
func subscribe(conn *rtConn, channel string, pattern, toRuby bool) uint64 {
	s := &subscription{id: psNextID.Add(1), channel: channel, pattern: pattern, conn: conn, toRuby: toRuby}
	if conn != nil {
		conn.mu.Lock()
		if conn.finished || conn.closed || conn.dialing { // nothing to deliver to yet
			conn.mu.Unlock()
			return 0
		}
		conn.mu.Unlock()
	}
	psMu.Lock()
	defer psMu.Unlock()
	if old := findSubLocked(conn, channel, pattern); old != nil {
		removeSubLocked(old)
	}
	if pattern {
		s.index = len(psPatterns)
		psPatterns = append(psPatterns, s)
	} else {
		cs := psChannels[channel]
		if cs == nil {
			cs = &channelSubs{}
			psChannels[channel] = cs
		}
		s.index = len(cs.list)
		cs.list = append(cs.list, s)
	}
	psByID[s.id] = s
	if conn != nil {
		conn.mu.Lock()
		conn.subs = append(conn.subs, s)
		conn.mu.Unlock()
	}
	return s.id
}

// findSubLocked finds a subscriber's subscription: a connection's among its
// own few, the process's in the channel's list.
func findSubLocked(conn *rtConn, channel string, pattern bool) *subscription {
	var list []*subscription
	if conn != nil {
		conn.mu.Lock()
		defer conn.mu.Unlock()
		list = conn.subs
	} else if pattern {
		list = psPatterns
	} else if cs := psChannels[channel]; cs != nil {
		list = cs.list
	}
	for _, s := range list {
		if s.conn == conn && s.channel == channel && s.pattern == pattern {
			return s
		}
	}
	return nil
}

func removeSubLocked(s *subscription) {
	if psByID[s.id] != s {
		return
	}
	delete(psByID, s.id)
	swapRemove := func(list []*subscription) []*subscription {
		last := len(list) - 1
		list[s.index] = list[last]
		list[s.index].index = s.index
		list[last] = nil
		return list[:last]
	}
	if s.pattern {
		psPatterns = swapRemove(psPatterns)
	} else if cs := psChannels[s.channel]; cs != nil {
		cs.list = swapRemove(cs.list)
		if len(cs.list) == 0 {
			delete(psChannels, s.channel)
		}
	}
	if c := s.conn; c != nil {
		c.mu.Lock()
		for i, cs := range c.subs {
			if cs == s {
				c.subs = slices.Delete(c.subs, i, i+1)
				break
			}
		}
		c.mu.Unlock()
	}
}

// unsubscribe removes conn's (or the process's) subscription to channel.
func unsubscribe(conn *rtConn, channel string, pattern bool) bool {
	psMu.Lock()
	defer psMu.Unlock()
	s := findSubLocked(conn, channel, pattern)
	if s != nil {
		removeSubLocked(s)
	}
	return s != nil
}

func unsubscribeID(id uint64) {
	psMu.Lock()
	if s := psByID[id]; s != nil {
		removeSubLocked(s)
	}
	psMu.Unlock()
}

// unsubscribeConn drops every subscription of a closing connection.
func unsubscribeConn(c *rtConn) {
	c.mu.Lock()
	subs := append([]*subscription(nil), c.subs...)
	c.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	psMu.Lock()
	for _, s := range subs {
		removeSubLocked(s)
	}
	psMu.Unlock()
}

// message is one publish, framed lazily once for every client that gets it.
type message struct {
	channel, data []byte
	binary        bool
	wsFrame       []byte
	sseFrame      []byte
}

func (m *message) flags() uint32 {
	if m.binary {
		return evBinary
	}
	return 0
}

// publishLocal delivers a message to this process's subscribers.
func publishLocal(channel, data []byte, binaryData bool) {
	if len(data) == 0 {
		return // iodine ignores empty messages
	}
	m := &message{channel: channel, data: data, binary: binaryData}
	psMu.RLock()
	if cs := psChannels[string(channel)]; cs != nil {
		for _, s := range cs.list {
			m.deliver(s)
		}
	}
	for _, s := range psPatterns {
		if globMatch([]byte(s.channel), channel) {
			m.deliver(s)
		}
	}
	psMu.RUnlock()
}

func (m *message) deliver(s *subscription) {
	switch {
	case s.conn == nil:
		pushEvent(taskPubSub, s.id, event{channel: m.channel, data: m.data, flags: m.flags()})
	case s.toRuby:
		s.conn.queueEvent(event{typ: evPubSub, sub: s.id, channel: m.channel, data: m.data, flags: m.flags()})
	case s.conn.kind == connWebSocket && s.conn.client: // masked: a frame each
		s.conn.write(s.conn.message(m.data, m.binary || !utf8.Valid(m.data)), false)
	case s.conn.kind == connWebSocket:
		if m.wsFrame == nil {
			m.wsFrame = wsMessage(m.data, m.binary || !utf8.Valid(m.data))
		}
		s.conn.write(m.wsFrame, false)
	case s.conn.kind == connSSE && !s.conn.client: // an SSE client cannot send
		if m.sseFrame == nil {
			m.sseFrame = sseEvent(nil, nil, m.data)
		}
		s.conn.write(m.sseFrame, false)
	case s.conn.kind == connRaw: // the bytes as published (never changed, so shared)
		s.conn.write(m.data, false)
	}
}

// globMatch matches Redis PSUBSCRIBE patterns: * any run, ? one byte,
// [abc] [^a] [a-z] sets, and \ to escape.
func globMatch(pattern, s []byte) bool {
	for len(pattern) > 0 {
		switch pattern[0] {
		case '*':
			for len(pattern) > 0 && pattern[0] == '*' {
				pattern = pattern[1:]
			}
			if len(pattern) == 0 {
				return true
			}
			for i := 0; i <= len(s); i++ {
				if globMatch(pattern, s[i:]) {
					return true
				}
			}
			return false
		case '?':
			if len(s) == 0 {
				return false
			}
		case '[':
			if len(s) == 0 {
				return false
			}
			end := 1
			for end < len(pattern) && pattern[end] != ']' {
				if pattern[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(pattern) { // no closing bracket: a literal '['
				if s[0] != '[' {
					return false
				}
				break
			}
			if !matchSet(pattern[1:end], s[0]) {
				return false
			}
			pattern = pattern[end:]
		case '\\':
			if len(pattern) > 1 {
				pattern = pattern[1:]
			}
			fallthrough
		default:
			if len(s) == 0 || s[0] != pattern[0] {
				return false
			}
		}
		pattern, s = pattern[1:], s[1:]
	}
	return len(s) == 0
}

func matchSet(set []byte, c byte) bool {
	negate := len(set) > 0 && set[0] == '^'
	if negate {
		set = set[1:]
	}
	found := false
	for i := 0; i < len(set); i++ {
		lo := set[i]
		if lo == '\\' && i+1 < len(set) {
			i++
			lo = set[i]
		}
		hi := lo
		if i+2 < len(set) && set[i+1] == '-' {
			hi = set[i+2]
			i += 2
			if lo > hi {
				lo, hi = hi, lo
			}
		}
		if c >= lo && c <= hi {
			found = true
		}
	}
	return found != negate
}
