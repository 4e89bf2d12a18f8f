package wirecount

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
)

// TestCounts feeds the counting connection a server's stream cut at every possible place.
func TestCounts(t *testing.T) {
	msg := func(typ byte, body string) []byte {
		b := []byte{typ, 0, 0, 0, 0}
		binary.BigEndian.PutUint32(b[1:], uint32(4+len(body)))
		return append(b, body...)
	}
	var stream []byte
	stream = append(stream, 'N') // the answer to an SSL request
	stream = append(stream, msg('R', "\x00\x00\x00\x00")...)
	stream = append(stream, msg('Z', "I")...)
	stream = append(stream, msg('C', "BEGIN\x00")...)
	stream = append(stream, msg('C', "SELECT 1\x00")...)
	stream = append(stream, msg('D', strings.Repeat("C", 300))...) // a data row full of 'C's
	stream = append(stream, msg('C', "INSERT 0 1\x00")...)
	stream = append(stream, msg('Z', "T")...)
	for cut := 0; cut <= len(stream); cut++ {
		w := &Counter{}
		c := NewConn(nopConn{}, w)
		ssl := make([]byte, 8)
		binary.BigEndian.PutUint32(ssl, 8)
		binary.BigEndian.PutUint32(ssl[4:], sslRequestCode)
		c.Write(ssl)
		c.parse(stream[:cut])
		c.readSince.Store(true)
		c.parse(stream[cut:])
		c.Write([]byte("next"))
		c.Write([]byte("more of the same message"))
		if got := w.Snapshot(); got.Statements != 3 || got.RoundTrips != 2 {
			t.Fatalf("cut at %d: %d statements, %d round trips; want 3 and 2", cut, got.Statements, got.RoundTrips)
		}
	}
	w := &Counter{}
	c := NewConn(nopConn{}, w)
	c.rawByte.Store(true)
	c.parse(append([]byte{'S'}, msg('C', "x")...))
	if !w.Opaque.Load() || w.Snapshot().Statements != 0 {
		t.Error("after the server agreed to TLS, the stream was still parsed")
	}
}

// nopConn takes writes and nothing else.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
