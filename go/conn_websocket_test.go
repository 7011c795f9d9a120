package main

import (
	"bytes"
	"testing"

	"github.com/fasthttp/websocket"
)

// clientFrame is a masked frame as a client sends it (the key is fixed).
func clientFrame(first byte, payload []byte) []byte {
	key := []byte{1, 2, 3, 4}
	b := append([]byte{first, 0x80 | byte(len(payload))}, key...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

func TestPeekFrame(t *testing.T) {
	ping := clientFrame(0x89, []byte("hello"))
	cases := []struct {
		name   string
		b      []byte
		masked bool
		kind   int
		size   int
	}{
		{"nothing yet", nil, true, peekIncomplete, 0},
		{"one byte", ping[:1], true, peekIncomplete, 0},
		{"ping, header only", ping[:6], true, peekIncomplete, 0},
		{"ping", ping, true, peekPing, len(ping)},
		{"ping and more behind it", append(bytes.Clone(ping), 0x81, 0x80), true, peekPing, len(ping)},
		{"pong, empty", clientFrame(0x8a, nil), true, peekPong, 6},
		{"close, 1-byte payload", clientFrame(0x88, []byte{3}), true, peekShortClose, 7},
		{"close with a code", clientFrame(0x88, []byte{3, 232}), true, peekOther, 0},
		{"close, empty", clientFrame(0x88, nil), true, peekOther, 0},
		{"text", clientFrame(0x81, []byte("hi")), true, peekOther, 0},
		{"text, first byte only", []byte{0x81}, true, peekIncomplete, 0},
		{"continuation", clientFrame(0x80, []byte("hi")), true, peekOther, 0},
		{"fragmented ping", clientFrame(0x09, nil), true, peekOther, 0},
		{"ping with RSV1", clientFrame(0xc9, nil), true, peekOther, 0},
		{"unmasked ping from a client", []byte{0x89, 0}, true, peekOther, 0},
		{"unmasked ping to a client", []byte{0x89, 0}, false, peekPing, 2},
		{"ping over 125 bytes", []byte{0x89, 0x80 | 126, 0, 200}, true, peekOther, 0},
		{"reserved control opcode", clientFrame(0x8b, nil), true, peekOther, 0},
	}
	for _, tc := range cases {
		kind, size := peekFrame(tc.b, tc.masked)
		if kind != tc.kind || size != tc.size {
			t.Errorf("%s: got (%d, %d), want (%d, %d)", tc.name, kind, size, tc.kind, tc.size)
		}
	}
}

func TestFramePayloadUnmasks(t *testing.T) {
	if got := framePayload(clientFrame(0x89, []byte("hello"))); string(got) != "hello" {
		t.Fatalf("masked: %q", got)
	}
	if got := framePayload(wsFrame(websocket.PingMessage, []byte("ok"))); string(got) != "ok" {
		t.Fatalf("unmasked: %q", got)
	}
}

// A frame the library writes for a client (appendFrame, masked) reads back
// through peekFrame and framePayload.
func TestPeekFrameReadsAppendFrame(t *testing.T) {
	b := appendFrame(nil, websocket.PongMessage, []byte("data"), true)
	if kind, size := peekFrame(b, true); kind != peekPong || size != len(b) {
		t.Fatalf("got (%d, %d) for %d bytes", kind, size, len(b))
	}
	if got := framePayload(b); string(got) != "data" {
		t.Fatalf("payload %q", got)
	}
}
