package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"atrium/models"
)

// printTable writes the table, in Markdown so it can be pasted into notes as it is.
func printTable(out io.Writer, cfg config, st *stage, rows []row) {
	fmt.Fprintf(out, "\nAtrium bench, %s: GOMAXPROCS=%d, %s, server and clients in one process on loopback,\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOMAXPROCS(0), st.dbDesc)
	fmt.Fprintf(out, "application pool %d connections; seed: %s;\n", st.poolSize, cfg.seed)
	reps := fmt.Sprintf("%d repetitions interleaved, medians", cfg.reps)
	if cfg.reps == 1 {
		reps = "1 repetition"
	}
	fmt.Fprintf(out, "%s per case after %s warm-up (log-in: one burst), %s (round trips over all calls, RSS the highest);\n",
		cfg.duration, cfg.warmup, reps)
	if cfg.dbURL != "" {
		fmt.Fprintln(out, "write tx counts the server's every database: on a shared server it includes others' writes;")
	}
	for _, env := range []string{"ATRIUM_TASK_SYNC_COMMIT", "ATRIUM_DB_PREPARE"} {
		if v := os.Getenv(env); v != "" {
			fmt.Fprintf(out, "with %s=%s;\n", env, v)
		}
	}
	fmt.Fprintf(out, "the machine's load average (1, 5, 15 min) was %s before the cases and %s after\n\n", st.loadBefore, loadAvg())
	fmt.Fprintln(out, "| case | c | req/s | p50 | p99 | ratio to b | round trips/call | statements/call | write tx/call | peak RSS |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		rate := models.FormatCount(int64(r.rps + 0.5))
		if r.c.pairs {
			rate += " pairs/s"
		}
		stmts := fmt.Sprintf("%.2f", r.statements)
		if st.wire.Opaque.Load() {
			stmts = "n/a (TLS)"
		}
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s | %.2f | %s | %.2f | %s |\n",
			r.c.name, r.conns, rate, ms(r.p50), ms(r.p99), ratio(r.ratio), r.roundTrips, stmts, r.writeTx, mib(r.peakRSS))
	}
}

// loadAvg is the system's load average, which says how much else the machine was doing.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if err != nil || len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) string {
	f := float64(d) / float64(time.Millisecond)
	if f < 10 {
		return fmt.Sprintf("%.2f ms", f)
	}
	return fmt.Sprintf("%.1f ms", f)
}

func ratio(f float64) string {
	if f < 0.1 {
		return fmt.Sprintf("%.3f", f)
	}
	return fmt.Sprintf("%.2f", f)
}

func mib(b int64) string {
	if b <= 0 {
		return "n/a"
	}
	return fmt.Sprintf("%d MiB", (b+1<<19)>>20)
}

// target is one of issue 10's targets, judged on the rows that were measured.
type target struct {
	what string
	met  bool
	got  []string // the measured figures
}

func targets(rows []row) []target {
	by := func(key string) []row {
		var out []row
		for _, r := range rows {
			if r.c.key == key {
				out = append(out, r)
			}
		}
		return out
	}
	var ts []target
	add := func(what string, keys []string, ok func(r row) (bool, string), only func(r row) bool) {
		t := target{what: what, met: true}
		for _, k := range keys {
			for _, r := range by(k) {
				if only != nil && !only(r) {
					continue
				}
				good, fig := ok(r)
				t.met = t.met && good
				label := fmt.Sprintf("c=%d", r.conns)
				if len(keys) > 1 {
					label = r.c.key + " " + label
				}
				t.got = append(t.got, fig+" ("+label+")")
			}
		}
		if len(t.got) > 0 {
			ts = append(ts, t)
		}
	}
	ratioAtLeast := func(min float64) func(r row) (bool, string) {
		return func(r row) (bool, string) { return r.ratio >= min, ratio(r.ratio) }
	}
	add("GET /api/v1/agents/:id ≥ 0.5 of b", []string{"agent"}, ratioAtLeast(0.5), nil)
	add("GET /api/v1/agents (50) ≥ 0.35 of b", []string{"agents"}, ratioAtLeast(0.35), nil)
	add("POST /api/v1/tasks + complete ≥ 0.15 pairs per b request", []string{"tasks"}, ratioAtLeast(0.15), nil)
	pages := []string{"overview", "members", "usage"}
	add("console pages p50 ≤ 10 ms and p99 ≤ 50 ms at 8 connections", pages, func(r row) (bool, string) {
		return r.p50 <= 10*time.Millisecond && r.p99 <= 50*time.Millisecond, ms(r.p50) + " / " + ms(r.p99)
	}, func(r row) bool { return r.conns == 8 })
	add("console pages ≥ 0.1 of b", pages, ratioAtLeast(0.1), nil)
	add("one round trip and no write per metered read call", []string{"agent", "agents"}, func(r row) (bool, string) {
		return r.roundTrips <= 1.005 && r.writeTx < 0.005, fmt.Sprintf("%.2f round trips, %.2f write tx", r.roundTrips, r.writeTx)
	}, nil)
	// Judged on each call's own count (the median of calls made one at a time): the window's mean
	// also carries the once-a-minute notes of last activity, a write that some calls make.
	add("≤ 5 round trips per console page (median of single calls; the window's mean beside it)", pages, func(r row) (bool, string) {
		if len(r.probeRT) == 0 {
			return false, fmt.Sprintf("not probed, mean %.2f", r.roundTrips)
		}
		med := r.probeRT[len(r.probeRT)/2]
		return med <= 5, fmt.Sprintf("%d, at most %d, mean %.2f", med, r.probeRT[len(r.probeRT)-1], r.roundTrips)
	}, nil)
	add("peak RSS ≤ 150 MiB under API load", []string{"agent", "agents", "tasks"}, func(r row) (bool, string) {
		return r.peakRSS > 0 && r.peakRSS <= 150<<20, mib(r.peakRSS)
	}, nil)
	add("peak RSS ≤ 150 MiB under a 64-concurrent log-in burst", []string{"login"}, func(r row) (bool, string) {
		return r.peakRSS > 0 && r.peakRSS <= 150<<20, mib(r.peakRSS)
	}, func(r row) bool { return r.conns == 64 })
	return ts
}

func printTargets(out io.Writer, rows []row) {
	ts := targets(rows)
	met := 0
	for _, t := range ts {
		if t.met {
			met++
		}
	}
	if len(ts) == 0 {
		fmt.Fprintln(out, "\nIssue 10's targets: none applies to the cases measured")
		return
	}
	fmt.Fprintf(out, "\nIssue 10's targets (ratios to b at the same c): %d of %d met\n", met, len(ts))
	for _, t := range ts {
		mark := "not met"
		if t.met {
			mark = "met"
		}
		fmt.Fprintf(out, "- %s: %s: %s\n", mark, t.what, strings.Join(t.got, ", "))
	}
}
