package testdb

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
)

// Round trips are what a fast path is judged by, so tests count them on the wire rather than
// estimate them: open a pool with models.OpenOptions{Dial: w.Dial} and read the counters before
// and after the calls measured.

// WireCount counts, at the protocol level, what the database connections dialled through it do:
// a round trip is a client write that follows something read from the server; a statement is a
// CommandComplete (BEGIN and COMMIT included).
type WireCount struct{ RoundTrips, Statements atomic.Int64 }

// Dial is for models.OpenOptions.Dial.
func (w *WireCount) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countedConn{Conn: c, w: w}, nil
}

type countedConn struct {
	net.Conn
	w         *WireCount
	readSince atomic.Bool
	wrote     atomic.Bool
	rawByte   atomic.Bool // the next server byte answers an SSL or GSS request
	hdr       [5]byte
	nhdr      int
	left      int
}

func (c *countedConn) Write(p []byte) (int, error) {
	if !c.wrote.Swap(true) {
		c.w.RoundTrips.Add(1)
		if len(p) == 8 {
			if code := binary.BigEndian.Uint32(p[4:8]); code == 80877103 || code == 80877104 {
				c.rawByte.Store(true)
			}
		}
	} else if c.readSince.Swap(false) {
		c.w.RoundTrips.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *countedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	b := p[:n]
	if n > 0 {
		c.readSince.Store(true)
	}
	for len(b) > 0 {
		if c.rawByte.Swap(false) {
			b = b[1:]
			continue
		}
		if c.left > 0 {
			k := min(c.left, len(b))
			c.left -= k
			b = b[k:]
			continue
		}
		k := copy(c.hdr[c.nhdr:], b)
		c.nhdr += k
		b = b[k:]
		if c.nhdr < len(c.hdr) {
			break
		}
		c.nhdr = 0
		c.left = int(binary.BigEndian.Uint32(c.hdr[1:5])) - 4
		if c.hdr[0] == 'C' {
			c.w.Statements.Add(1)
		}
	}
	return n, err
}
