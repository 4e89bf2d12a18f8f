package main

import (
	"bytes"
	"context"
	"io"
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
