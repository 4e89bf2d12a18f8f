package models

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"
)

// SessionCodec encodes sessions for the session manager and its store. Its encoding is
// deterministic, the keys in order, so that the store can tell an unchanged session by comparing
// bytes, where scs's gob encoding (GobCodec) orders a map's keys at random and must be decoded
// again to compare: the session is encoded on every request (scs marks a session with an idle
// timeout modified on each one) and decoded on every load, and gob compiles its decoder each time.
//
// A value of a type it does not know (the session holds strings, integers, booleans, floats,
// byte slices and times) is encoded with gob, the whole session, as scs would; sessions written
// by GobCodec are still read.
type SessionCodec struct{}

var _ scs.Codec = SessionCodec{}

// sessionMagic starts an encoding of this codec. A gob stream starts with a byte count, whose
// first byte is below 0x80 or from 0xF8 up, never this.
const sessionMagic = 0xA7

// The value types, one byte each.
const (
	tagString byte = iota + 1
	tagInt64
	tagInt
	tagBool
	tagFloat64
	tagBytes
	tagTime
)

// Encode encodes a session's deadline and values.
func (SessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	keys := make([]string, 0, len(values))
	size := 16
	for k, v := range values {
		keys = append(keys, k)
		size += len(k) + 12
		switch v := v.(type) {
		case string:
			size += len(v)
		case []byte:
			size += len(v)
		case int64, int, bool, float64, time.Time:
		default:
			return scs.GobCodec{}.Encode(deadline, values)
		}
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, sessionMagic)
	b, err := appendTime(b, deadline)
	if err != nil {
		return nil, err
	}
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		switch v := values[k].(type) {
		case string:
			b = appendString(append(b, tagString), v)
		case int64:
			b = binary.AppendVarint(append(b, tagInt64), v)
		case int:
			b = binary.AppendVarint(append(b, tagInt), int64(v))
		case bool:
			x := byte(0)
			if v {
				x = 1
			}
			b = append(b, tagBool, x)
		case float64:
			b = binary.BigEndian.AppendUint64(append(b, tagFloat64), math.Float64bits(v))
		case []byte:
			b = appendString(append(b, tagBytes), string(v))
		case time.Time:
			if b, err = appendTime(append(b, tagTime), v); err != nil {
				return nil, err
			}
		}
	}
	return b, nil
}

// Decode decodes a session encoded by Encode or by scs's GobCodec.
func (SessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 || b[0] != sessionMagic {
		return scs.GobCodec{}.Decode(b)
	}
	d := sessionDecoder{b: b[1:]}
	deadline := d.time()
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errors.New("too many values")
	}
	if d.err != nil {
		return time.Time{}, nil, fmt.Errorf("session: %w", d.err)
	}
	values := make(map[string]any, n)
	for range n {
		k := d.string()
		var v any
		switch tag := d.byte(); tag {
		case tagString:
			v = d.string()
		case tagInt64:
			v = d.varint()
		case tagInt:
			v = int(d.varint())
		case tagBool:
			v = d.byte() == 1
		case tagFloat64:
			v = math.Float64frombits(binary.BigEndian.Uint64(d.take(8)))
		case tagBytes:
			v = []byte(d.string())
		case tagTime:
			v = d.time()
		default:
			if d.err == nil {
				d.err = fmt.Errorf("unknown value type %d", tag)
			}
		}
		if d.err != nil {
			return time.Time{}, nil, fmt.Errorf("session: %w", d.err)
		}
		values[k] = v
	}
	if len(d.b) != 0 {
		return time.Time{}, nil, errors.New("session: bytes after the last value")
	}
	return deadline, values, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendTime appends t as time.Time's binary form, which keeps its instant and its zone's offset.
func appendTime(b []byte, t time.Time) ([]byte, error) {
	tb, err := t.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return appendString(b, string(tb)), nil
}

// sessionDecoder reads an encoding; the first error stops it, and every read after answers zero.
type sessionDecoder struct {
	b   []byte
	err error
}

func (d *sessionDecoder) take(n int) []byte {
	if d.err != nil || n < 0 || n > len(d.b) {
		if d.err == nil {
			d.err = errors.New("truncated")
		}
		return make([]byte, max(n, 0))
	}
	out := d.b[:n]
	d.b = d.b[n:]
	return out
}

func (d *sessionDecoder) byte() byte { return d.take(1)[0] }

func (d *sessionDecoder) uvarint() uint64 { return readVarint(d, binary.Uvarint, "bad length") }

func (d *sessionDecoder) varint() int64 { return readVarint(d, binary.Varint, "bad integer") }

// readVarint reads one number with read (binary.Uvarint or binary.Varint).
func readVarint[T int64 | uint64](d *sessionDecoder, read func([]byte) (T, int), bad string) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.err = errors.New(bad)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *sessionDecoder) string() string {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errors.New("truncated")
	}
	return string(d.take(int(min(n, uint64(len(d.b))))))
}

func (d *sessionDecoder) time() time.Time {
	var t time.Time
	if b := d.string(); d.err == nil {
		if err := t.UnmarshalBinary([]byte(b)); err != nil {
			d.err = err
		}
	}
	return t
}
