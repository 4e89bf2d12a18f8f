package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
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

// TestBenchCapacityTiny: -capacity counts what a call writes from the server's own counters. A task
// started and completed is one row inserted and one updated in tasks: exactly 2 per pair, once the
// counters have settled; a page view writes no task.
func TestBenchCapacityTiny(t *testing.T) {
	ctx := context.Background()
	base, stop, err := testdb.FindServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cfg, err := parseFlags([]string{"-db", base, "-capacity", "-cases", "tasks,usage", "-c", "2", "-d", "300ms",
		"-tasks", "300", "-members", "30", "-small", "20"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st, err := setUp(ctx, cfg, io.Discard, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	caps, err := measureCapacity(ctx, cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) != 2 {
		t.Fatalf("%d rows, want 2 (the floor is not a capacity case)", len(caps))
	}
	tasks, usage := caps[0], caps[1]
	if tasks.calls == 0 || tasks.byTable["tasks"] != 2 {
		t.Errorf("task pairs: %d calls, %v rows of tasks written per pair, want 2 (%v)", tasks.calls, tasks.byTable["tasks"], tasks.byTable)
	}
	if tasks.walPerCall <= 0 || tasks.writeTxCall < 2 {
		t.Errorf("task pairs: %.0f WAL bytes and %.2f write transactions per pair", tasks.walPerCall, tasks.writeTxCall)
	}
	if usage.calls == 0 || usage.byTable["tasks"] != 0 {
		t.Errorf("usage page: %d calls, %v rows of tasks written per view, want none", usage.calls, usage.byTable["tasks"])
	}
	costs, err := st.rowCosts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	printCapacity(&out, cfg, st, caps, costs)
	if !strings.Contains(out.String(), "| POST /api/v1/tasks + complete | ") {
		t.Errorf("no row for the task pair:\n%s", out.String())
	}
}
