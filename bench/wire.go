package main

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"
)

// wire counts what the database connections opened through its dial say, at the protocol level,
// so the figures hold whatever the driver, pool or query builder above does:
//   - a round trip is a client write that follows something read from the server (or the
//     connection's first write): the client sent, then had to wait for an answer before sending
//     again. A batch or a multi-statement query is one; a pipeline that never waits is one.
//   - a statement is a CommandComplete from the server: one per SQL statement run, BEGIN and
//     COMMIT included, however many travel in one message.
type wire struct {
	roundTrips atomic.Int64
	statements atomic.Int64
	// opaque is set when a connection switched to TLS or GSS encryption: its round trips are still
	// counted, its statements no longer can be.
	opaque atomic.Bool
}

// wireCounts is a snapshot of the counters.
type wireCounts struct{ roundTrips, statements int64 }

func (w *wire) snapshot() wireCounts {
	return wireCounts{roundTrips: w.roundTrips.Load(), statements: w.statements.Load()}
}

func (c wireCounts) sub(d wireCounts) wireCounts {
	return wireCounts{roundTrips: c.roundTrips - d.roundTrips, statements: c.statements - d.statements}
}

// dial is a pgx DialFunc.
func (w *wire) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAlive: 5 * time.Minute}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, w: w}, nil
}

// The startup packets that the server answers with a single unframed byte.
const (
	sslRequestCode    = 80877103
	gssencRequestCode = 80877104
)

// countingConn parses the server's side of the stream: one type byte, a four-byte length that
// counts itself, the body. Only the reader touches the parser; pgx may write from another
// goroutine, so the turn-taking flag is atomic.
type countingConn struct {
	net.Conn
	w *wire

	readSince atomic.Bool // something was read since the last write
	wrote     atomic.Bool // the first write happened
	// rawByte: the server's next byte is the one-byte answer to an SSL or GSS request.
	rawByte atomic.Bool
	opaque  bool // encrypted from here on: stop parsing

	hdr  [5]byte
	nhdr int
	left int // body bytes of the current message still to come
}

func (c *countingConn) Write(p []byte) (int, error) {
	if !c.wrote.Swap(true) {
		c.w.roundTrips.Add(1)
		if len(p) == 8 {
			if code := binary.BigEndian.Uint32(p[4:8]); code == sslRequestCode || code == gssencRequestCode {
				c.rawByte.Store(true)
			}
		}
	} else if c.readSince.Swap(false) {
		c.w.roundTrips.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readSince.Store(true)
		c.parse(p[:n])
	}
	return n, err
}

func (c *countingConn) parse(b []byte) {
	for len(b) > 0 && !c.opaque {
		if c.rawByte.Load() {
			c.rawByte.Store(false)
			if b[0] == 'S' || b[0] == 'G' {
				c.opaque = true
				c.w.opaque.Store(true)
				return
			}
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
			return
		}
		c.nhdr = 0
		c.left = int(binary.BigEndian.Uint32(c.hdr[1:5])) - 4
		if c.hdr[0] == 'C' {
			c.w.statements.Add(1)
		}
	}
}
