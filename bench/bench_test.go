package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"atrium/models/testdb"
)

// TestBenchTiny runs the whole harness on a tiny seed for a moment, so it cannot rot: every case
// answers as expected, the table has a row for each, and the round trips are counted on the wire
// (none for the bare handler, one per call for the primary-key floor, some for every call of the
// application).
func TestBenchTiny(t *testing.T) {
	ctx := context.Background()
	base, stop, err := testdb.FindServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg, err := parseFlags([]string{"-db", base, "-c", "2", "-d", "200ms", "-warmup", "50ms", "-reps", "1",
		"-tasks", "300", "-members", "30", "-small", "20"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var out, log bytes.Buffer
	start := time.Now()
	rows, err := run(ctx, cfg, &out, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	t.Logf("took %s\n%s", time.Since(start).Round(time.Millisecond), out.String())

	if len(rows) != len(caseKeys) {
		t.Fatalf("%d rows, want one per case (%d)", len(rows), len(caseKeys))
	}
	table := out.String()
	all := (&env{}).cases()
	for _, k := range caseKeys {
		if !strings.Contains(table, "\n| "+all[k].name+" | 2 | ") {
			t.Errorf("the table has no row for %q", all[k].name)
		}
	}
	for _, r := range rows {
		if r.rps <= 0 || r.p50 <= 0 || r.p99 < r.p50 {
			t.Errorf("%s: %.0f/s, p50 %s, p99 %s", r.c.name, r.rps, r.p50, r.p99)
		}
		switch r.c.key {
		case "bare":
			if r.roundTrips != 0 {
				t.Errorf("the bare handler made %.2f round trips per call, want 0", r.roundTrips)
			}
		case "pk":
			// One select per call; the statement's preparation adds one round trip per connection.
			if r.roundTrips < 1 || r.roundTrips > 1.05 || r.statements < 1 || r.statements > 1.05 {
				t.Errorf("the primary-key floor made %.2f round trips and %.2f statements per call, want 1", r.roundTrips, r.statements)
			}
			if r.ratio != 1 {
				t.Errorf("the floor's ratio to itself is %.3f", r.ratio)
			}
		default:
			if r.roundTrips <= 0 || r.statements <= 0 {
				t.Errorf("%s: %.2f round trips and %.2f statements per call counted, want some", r.c.name, r.roundTrips, r.statements)
			}
		}
		if r.ratio <= 0 {
			t.Errorf("%s: ratio to b %.3f", r.c.name, r.ratio)
		}
	}
	if !strings.Contains(table, "Issue 10's targets") {
		t.Error("no targets line after the table")
	}
}

// TestWireCounts feeds the counting connection a server's stream cut at every possible place.
func TestWireCounts(t *testing.T) {
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
		w := &wire{}
		c := &countingConn{w: w}
		ssl := make([]byte, 8)
		binary.BigEndian.PutUint32(ssl, 8)
		binary.BigEndian.PutUint32(ssl[4:], sslRequestCode)
		c.Conn = nopConn{}
		c.Write(ssl)
		c.parse(stream[:cut])
		c.readSince.Store(true)
		c.parse(stream[cut:])
		c.Write([]byte("next"))
		c.Write([]byte("more of the same message"))
		if got := w.snapshot(); got.statements != 3 || got.roundTrips != 2 {
			t.Fatalf("cut at %d: %d statements, %d round trips; want 3 and 2", cut, got.statements, got.roundTrips)
		}
	}
	w := &wire{}
	c := &countingConn{w: w, Conn: nopConn{}}
	c.rawByte.Store(true)
	c.parse(append([]byte{'S'}, msg('C', "x")...))
	if !w.opaque.Load() || w.snapshot().statements != 0 {
		t.Error("after the server agreed to TLS, the stream was still parsed")
	}
}

// nopConn takes writes and nothing else.
type nopConn struct{ net.Conn }

func (nopConn) Write(p []byte) (int, error) { return len(p), nil }
