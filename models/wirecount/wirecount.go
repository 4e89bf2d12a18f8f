// Package wirecount counts what PostgreSQL connections do at the protocol level, so a figure holds
// whatever the driver, pool or query builder above does. Round trips are what a fast path is
// judged by: the tests assert them (through testdb.WireCount) and the benchmark reports them, both
// with this counter. Open a pool with models.OpenOptions{Dial: c.Dial} and read the counters
// before and after the calls measured.
//
//   - A round trip is a client write that follows something read from the server (or the
//     connection's first write): the client sent, then had to wait for an answer before sending
//     again. A batch or a multi-statement query is one; a pipeline that never waits is one.
//   - A statement is a CommandComplete from the server: one per SQL statement run, BEGIN and
//     COMMIT included, however many travel in one message.
package wirecount

import (
	"context"
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"
)

// Counter counts the round trips and statements of every connection dialled through it.
type Counter struct {
	RoundTrips, Statements atomic.Int64
	// Opaque is set when a connection switched to TLS or GSS encryption: its round trips are still
	// counted, its statements no longer can be.
	Opaque atomic.Bool
}

// Counts is a snapshot of the counters.
type Counts struct{ RoundTrips, Statements int64 }

// Snapshot reads both counters.
func (w *Counter) Snapshot() Counts {
	return Counts{RoundTrips: w.RoundTrips.Load(), Statements: w.Statements.Load()}
}

// Sub is c - d, counter by counter.
func (c Counts) Sub(d Counts) Counts {
	return Counts{RoundTrips: c.RoundTrips - d.RoundTrips, Statements: c.Statements - d.Statements}
}

// Dial is a pgx DialFunc (models.OpenOptions.Dial).
func (w *Counter) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{KeepAlive: 5 * time.Minute}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &Conn{Conn: c, w: w}, nil
}

// The startup packets that the server answers with a single unframed byte.
const (
	sslRequestCode    = 80877103
	gssencRequestCode = 80877104
)

// Conn is a connection that counts into its Counter. It parses the server's side of the stream:
// one type byte, a four-byte length that counts itself, the body. Only the reader touches the
// parser; pgx may write from another goroutine, so the turn-taking flags are atomic.
type Conn struct {
	net.Conn
	w *Counter

	readSince atomic.Bool // something was read since the last write
	wrote     atomic.Bool // the first write happened
	// rawByte: the server's next byte is the one-byte answer to an SSL or GSS request.
	rawByte atomic.Bool
	opaque  bool // encrypted from here on: stop parsing

	hdr  [5]byte
	nhdr int
	left int // body bytes of the current message still to come
}

// NewConn counts c's traffic into w (Dial does this for the connections it opens).
func NewConn(c net.Conn, w *Counter) *Conn { return &Conn{Conn: c, w: w} }

func (c *Conn) Write(p []byte) (int, error) {
	if !c.wrote.Swap(true) {
		c.w.RoundTrips.Add(1)
		if len(p) == 8 {
			if code := binary.BigEndian.Uint32(p[4:8]); code == sslRequestCode || code == gssencRequestCode {
				c.rawByte.Store(true)
			}
		}
	} else if c.readSince.Swap(false) {
		c.w.RoundTrips.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.readSince.Store(true)
		c.parse(p[:n])
	}
	return n, err
}

func (c *Conn) parse(b []byte) {
	for len(b) > 0 && !c.opaque {
		if c.rawByte.Load() {
			c.rawByte.Store(false)
			if b[0] == 'S' || b[0] == 'G' {
				c.opaque = true
				c.w.Opaque.Store(true)
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
			c.w.Statements.Add(1)
		}
	}
}
