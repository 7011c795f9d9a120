package main

import (
	"bufio"
	"strings"
	"testing"
)

func TestSSELineReaderEndsLinesAtCRLFAndLoneCR(t *testing.T) {
	l := sseLineReader{r: bufio.NewReader(strings.NewReader("a\r\nb\rc\n\r\rd")), max: 16}
	var got []string
	for {
		line, err := l.next()
		if err != nil {
			break
		}
		got = append(got, string(line))
	}
	want := []string{"a", "b", "c", "", ""}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lines %q, want %q (an unterminated last line is no line)", got, want)
	}
}

func TestSSELineReaderRefusesLinesOverTheLimit(t *testing.T) {
	l := sseLineReader{r: bufio.NewReader(strings.NewReader("data: 0123456789\n")), max: 8}
	if _, err := l.next(); err != errEventTooBig {
		t.Fatalf("err %v, want errEventTooBig", err)
	}
}

func TestClientFramesAreMaskedWithAFreshKey(t *testing.T) {
	c := &rtConn{client: true}
	payload := []byte("hello")
	a, b := c.frame(1, payload), c.frame(1, payload)
	if a[1] != 0x80|5 || len(a) != 2+4+5 {
		t.Fatalf("header % x: want the mask bit and length 5", a[:2])
	}
	for i := range payload {
		if a[6+i]^a[2+i%4] != payload[i] {
			t.Fatalf("payload does not unmask to %q", payload)
		}
	}
	if string(a[2:6]) == string(b[2:6]) {
		t.Fatal("two frames share a mask key")
	}
	if s := (&rtConn{}).frame(1, payload); s[1] != 5 {
		t.Fatalf("a server frame is masked: % x", s[:2])
	}
}
