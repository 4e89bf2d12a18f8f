package models_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"atrium/models"
)

// TestSessionCodecRoundTripsAndIsDeterministic: every value type a session holds comes back as it
// went in, with its deadline; the same session always encodes to the same bytes (the store
// compares them to skip a write), a changed value or deadline to other bytes; a value of another
// type is encoded with gob, and a session written by scs's gob codec is still read.
func TestSessionCodecRoundTripsAndIsDeterministic(t *testing.T) {
	var c models.SessionCodec
	deadline := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	values := map[string]any{
		"user_id": "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "csrf": strings.Repeat("k", 43), "seen": int64(1_800_000_000),
		"count": 7, "negative": int64(-42), "flag": true, "off": false, "ratio": 0.25, "ceremony": []byte{0, 1, 2, 255},
		"empty": "", "at": time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC), "form:é ✓": "naïve 名前",
	}
	b, err := c.Encode(deadline, values)
	if err != nil {
		t.Fatal(err)
	}
	gotDeadline, got, err := c.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !gotDeadline.Equal(deadline) || !reflect.DeepEqual(got, values) {
		t.Fatalf("decoded %v %#v,\nwant %v %#v", gotDeadline, got, deadline, values)
	}
	// Maps iterate in a random order: a hundred encodings of the same session are one.
	for range 100 {
		again, err := c.Encode(deadline, map[string]any{"csrf": values["csrf"], "seen": values["seen"], "user_id": values["user_id"],
			"count": 7, "negative": int64(-42), "flag": true, "off": false, "ratio": 0.25, "ceremony": []byte{0, 1, 2, 255},
			"empty": "", "at": values["at"], "form:é ✓": "naïve 名前"})
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("the same session encoded differently (%v)", err)
		}
	}
	for name, change := range map[string]func(map[string]any){
		"a string": func(v map[string]any) { v["csrf"] = strings.Repeat("j", 43) },
		"int64":    func(v map[string]any) { v["seen"] = int64(1_800_000_060) },
		"int type": func(v map[string]any) { v["seen"] = 1_800_000_000 },
		"a key":    func(v map[string]any) { delete(v, "empty") },
	} {
		v := map[string]any{}
		for k, x := range values {
			v[k] = x
		}
		change(v)
		if other, _ := c.Encode(deadline, v); bytes.Equal(other, b) {
			t.Errorf("%s changed, the bytes did not", name)
		}
	}
	if other, _ := c.Encode(deadline.Add(time.Second), values); bytes.Equal(other, b) {
		t.Error("the deadline changed, the bytes did not")
	}

	// Another type: the whole session in gob, which reads back.
	withOther := map[string]any{"user_id": "u", "note": []string{"a", "b"}}
	ob, err := c.Encode(deadline, withOther)
	if err != nil {
		t.Fatal(err)
	}
	if _, got, err := c.Decode(ob); err != nil || !reflect.DeepEqual(got, withOther) {
		t.Errorf("a session with a []string: %#v, %v", got, err)
	}
	// A session scs's own codec wrote.
	old, err := scs.GobCodec{}.Encode(deadline, map[string]any{"user_id": "u", "seen": int64(5)})
	if err != nil {
		t.Fatal(err)
	}
	if d, got, err := c.Decode(old); err != nil || !d.Equal(deadline) || got["user_id"] != "u" || got["seen"] != int64(5) {
		t.Errorf("a gob session: %v %#v %v", d, got, err)
	}
}

// TestSessionCodecRefusesDamagedBytes: every truncation of an encoding, and one with a byte added,
// is an error, never a panic or a session read wrong.
func TestSessionCodecRefusesDamagedBytes(t *testing.T) {
	var c models.SessionCodec
	b, err := c.Encode(time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC), map[string]any{"csrf": "token", "seen": int64(99), "flag": true,
		"ratio": 1.5, "raw": []byte("xyz"), "at": time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), "n": 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(b); i++ {
		if _, v, err := c.Decode(b[:i]); err == nil {
			t.Fatalf("the first %d of %d bytes decoded to %#v", i, len(b), v)
		}
	}
	if _, _, err := c.Decode(append(append([]byte{}, b...), 0)); err == nil {
		t.Error("a trailing byte was accepted")
	}
}
