package main

// A minimal RFC 6455 client, used by every load subcommand instead of the
// fasthttp/websocket client: the load generator shares the 2 cores with the
// server it measures, so its per-message cost is taken from the server.
// fasthttp/websocket allocates a reader per received message and makes several
// calls per frame; this one parses frames straight out of one bufio.Reader
// into a reused buffer and writes each frame with one Write from a reused
// buffer (no allocation per message either way). The hub (hub.go) uses the
// fasthttp/websocket server, which checks the frames this client sends.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA

	maxMessage = 16 << 20 // refuse absurd frames instead of allocating them
)

var errClosed = errors.New("websocket: closed by the server")

// Target is a parsed ws:// URL.
type Target struct {
	Addr string // host:port
	Path string // request URI
	Host string // Host header
}

func parseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, err
	}
	if u.Scheme != "ws" {
		return Target{}, fmt.Errorf("only ws:// URLs are supported, got %q", raw)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	path := u.RequestURI()
	if path == "" {
		path = "/"
	}
	return Target{Addr: host, Path: path, Host: u.Host}, nil
}

// Conn is one client WebSocket. Reads happen on one goroutine; writes may come
// from several (a publisher and the reader's pong answers), hence wmu.
type Conn struct {
	nc  net.Conn
	br  *bufio.Reader
	msg []byte // the message being assembled; returned by ReadMessage
	ctl [125]byte

	wmu  sync.Mutex
	wbuf []byte
	rnd  uint32 // xorshift state for the masking keys
}

// Dial opens a TCP connection and performs the opening handshake, bounded by
// timeout. rbuf is the read buffer size: large for load, small for idle.
func Dial(t Target, rbuf int, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", t.Addr, timeout)
	if err != nil {
		return nil, err
	}
	_ = nc.SetDeadline(time.Now().Add(timeout))
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET " + t.Path + " HTTP/1.1\r\nHost: " + t.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + k +
		"\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, rbuf)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		nc.Close()
		return nil, fmt.Errorf("handshake: status %s", res.Status)
	}
	if !strings.EqualFold(res.Header.Get("Upgrade"), "websocket") ||
		res.Header.Get("Sec-WebSocket-Accept") != acceptKey(k) {
		nc.Close()
		return nil, errors.New("handshake: bad Upgrade or Sec-WebSocket-Accept")
	}
	_ = nc.SetDeadline(time.Time{})
	var seed [4]byte
	_, _ = rand.Read(seed[:])
	c := &Conn{nc: nc, br: br, rnd: binary.LittleEndian.Uint32(seed[:]) | 1}
	return c, nil
}

func acceptKey(k string) string {
	h := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// ReadMessage returns the next text or binary message, or a pong (op opPong).
// Pings are answered here. The payload is valid until the next call.
func (c *Conn) ReadMessage() (op byte, payload []byte, err error) {
	var msgOp byte
	c.msg = c.msg[:0]
	for {
		b0, err := c.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		b1, err := c.br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		if b1&0x80 != 0 {
			return 0, nil, errors.New("websocket: masked frame from the server")
		}
		n := uint64(b1 & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			if _, err := io.ReadFull(c.br, ext[:]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		fin, op := b0&0x80 != 0, b0&0x0f
		if op >= opClose { // control frame: at most 125 bytes, never fragmented
			if n > 125 {
				return 0, nil, errors.New("websocket: oversized control frame")
			}
			p := c.ctl[:n]
			if _, err := io.ReadFull(c.br, p); err != nil {
				return 0, nil, err
			}
			switch op {
			case opPing:
				if err := c.WriteMessage(opPong, p); err != nil {
					return 0, nil, err
				}
			case opPong:
				return opPong, p, nil
			case opClose:
				_ = c.WriteMessage(opClose, p) // echo the close code, best effort
				return 0, nil, errClosed
			}
			continue
		}
		if uint64(len(c.msg))+n > maxMessage {
			return 0, nil, errors.New("websocket: message too large")
		}
		if op != opCont {
			msgOp = op
		}
		start := len(c.msg)
		end := start + int(n)
		if cap(c.msg) < end {
			grown := make([]byte, start, end*2)
			copy(grown, c.msg)
			c.msg = grown
		}
		c.msg = c.msg[:end]
		if _, err := io.ReadFull(c.br, c.msg[start:end]); err != nil {
			return 0, nil, err
		}
		if fin {
			return msgOp, c.msg, nil
		}
	}
}

// WriteMessage sends one masked, unfragmented frame with one Write.
func (c *Conn) WriteMessage(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := c.wbuf[:0]
	b = append(b, 0x80|op)
	n := len(payload)
	switch {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	// xorshift32: clients must mask; a cheap fresh key per frame is enough.
	c.rnd ^= c.rnd << 13
	c.rnd ^= c.rnd >> 17
	c.rnd ^= c.rnd << 5
	var key [4]byte
	binary.LittleEndian.PutUint32(key[:], c.rnd)
	b = append(b, key[:]...)
	start := len(b)
	b = append(b, payload...)
	maskBytes(key, b[start:])
	c.wbuf = b
	_, err := c.nc.Write(b)
	return err
}

func maskBytes(key [4]byte, b []byte) {
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

// Close sends a normal close frame (best effort) and closes the socket.
func (c *Conn) Close() {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.WriteMessage(opClose, []byte{0x03, 0xe8}) // 1000
	_ = c.nc.Close()
}
