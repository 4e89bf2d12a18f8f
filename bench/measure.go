package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// row is one line of the table: a case at one concurrency, the medians of its repetitions.
type row struct {
	c     *benchCase
	conns int
	runs  []window

	rps      float64 // calls (or pairs) per second
	p50, p99 time.Duration
	ratio    float64 // rps ÷ the PK-select floor's rps at the same concurrency
	// Per call, over every call of every repetition.
	roundTrips, statements, writeTx float64
	peakRSS                         int64 // the highest of the repetitions
	// probeRT: the round trips of each of a run of calls made one at a time after the windows
	// (console pages only), so each call's own count is known: the window's mean includes the
	// once-a-minute notes (a member's and a session's last activity), which fall on some calls.
	probeRT []int64
}

// probeCalls is how many calls the one-at-a-time probe of a console page makes.
const probeCalls = 61

// probe makes probeCalls calls of case c one at a time, nothing else running, and returns each
// call's round trips as counted on the wire, sorted.
func probe(ctx context.Context, st *stage, c *benchCase) ([]int64, error) {
	fn, err := c.client(ctx, 0)
	if err != nil {
		return nil, err
	}
	if err := fn(ctx); err != nil { // settle the connection and the session
		return nil, err
	}
	out := make([]int64, 0, probeCalls)
	for range probeCalls {
		w0 := st.wire.Snapshot()
		if err := fn(ctx); err != nil {
			return nil, err
		}
		out = append(out, st.wire.Snapshot().Sub(w0).RoundTrips)
	}
	slices.Sort(out)
	return out, nil
}

// measure runs every chosen case at every concurrency, reps times, interleaved: the list in order,
// then backwards, then in order again, so a drift of the machine's load weighs on all alike.
func measure(ctx context.Context, cfg config, st *stage, log *slog.Logger) ([]row, error) {
	all := st.env.cases()
	var rows []*row
	for _, k := range cfg.cases {
		for _, n := range cfg.conns {
			rows = append(rows, &row{c: all[k], conns: n})
		}
	}
	// Each case once, before anything is timed: a wrong answer stops the bench here.
	for _, r := range rows {
		if r.conns != cfg.conns[0] {
			continue
		}
		fn, err := r.c.client(ctx, 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.c.name, err)
		}
		if err := fn(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", r.c.name, err)
		}
	}
	if slices.Contains(cfg.cases, "agents") {
		if err := probeList(ctx, st.env); err != nil {
			return nil, err
		}
	}
	st.loadBefore = loadAvg()
	resetOK := resetPeakRSS()
	if !resetOK {
		log.Warn("the kernel does not let the peak resident size be reset: peak RSS is the process's peak so far")
	}
	for rep := 0; rep < cfg.reps; rep++ {
		order := slices.Clone(rows)
		if rep%2 == 1 {
			slices.Reverse(order)
		}
		for _, r := range order {
			res, err := measureOnce(ctx, cfg, st, r)
			if err != nil {
				return nil, fmt.Errorf("%s, %d clients: %w", r.c.name, r.conns, err)
			}
			r.runs = append(r.runs, res)
			log.Info("measured", "rep", rep+1, "case", r.c.name, "c", r.conns, "per_s", int(float64(res.calls)/res.took.Seconds()),
				"p50", res.p50, "p99", res.p99, "round_trips", perCall(res.wire.RoundTrips, res.calls))
		}
	}
	probes := map[string][]int64{}
	for _, r := range rows {
		if r.c.group != "pages" {
			continue
		}
		if _, done := probes[r.c.key]; !done {
			p, err := probe(ctx, st, r.c)
			if err != nil {
				return nil, fmt.Errorf("%s, one at a time: %w", r.c.name, err)
			}
			probes[r.c.key] = p
		}
		r.probeRT = probes[r.c.key]
	}
	out := make([]row, len(rows))
	for i, r := range rows {
		r.summarize()
		out[i] = *r
	}
	for i := range out {
		for _, b := range out {
			if b.c.key == "pk" && b.conns == out[i].conns && b.rps > 0 {
				out[i].ratio = out[i].rps / b.rps
			}
		}
	}
	return out, nil
}

// measureOnce runs one case at one concurrency: the clients are made (sessions logged in, untimed),
// warmed up, then timed, with the wire counters, transaction ids and peak RSS read around the
// timed window only.
func measureOnce(ctx context.Context, cfg config, st *stage, r *row) (window, error) {
	if r.c.group == "pages" {
		if err := st.env.sessions.ensure(ctx, r.conns); err != nil {
			return window{}, err
		}
	}
	clients := make([]call, r.conns)
	for i := range clients {
		fn, err := r.c.client(ctx, i)
		if err != nil {
			return window{}, err
		}
		clients[i] = fn
	}
	// The server's background work for the API (refreshing the keys in use, writing an unlimited
	// tier's count, handing leased calls back) follows calls by up to a second: it is finished
	// here, untimed, so that it does not fall into this case's window.
	st.srv.Keys.ForgetAll()
	if err := st.srv.Meter.Close(ctx); err != nil {
		return window{}, err
	}
	d := cfg.duration
	if r.c.burst {
		d = 0 // one call from each client
	} else if cfg.warmup > 0 {
		if _, _, _, err := loop(ctx, clients, cfg.warmup); err != nil {
			return window{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	resetPeakRSS()
	x0, err := st.nextXID(ctx)
	if err != nil {
		return window{}, err
	}
	w0 := st.wire.Snapshot()
	calls, took, lat, err := loop(ctx, clients, d)
	if err != nil {
		return window{}, err
	}
	w1 := st.wire.Snapshot()
	x1, err := st.nextXID(ctx)
	if err != nil {
		return window{}, err
	}
	return window{calls: calls, took: took, p50: lat.quantile(0.50), p99: lat.quantile(0.99),
		wire: w1.Sub(w0), writeTx: x1 - x0, peakRSS: peakRSS()}, nil
}

func (r *row) summarize() {
	var rps []float64
	var p50, p99 []time.Duration
	var calls, rt, stmts, wtx int64
	for _, x := range r.runs {
		rps = append(rps, float64(x.calls)/x.took.Seconds())
		p50 = append(p50, x.p50)
		p99 = append(p99, x.p99)
		calls += x.calls
		rt += x.wire.RoundTrips
		stmts += x.wire.Statements
		wtx += x.writeTx
		r.peakRSS = max(r.peakRSS, x.peakRSS)
	}
	r.rps, r.p50, r.p99 = median(rps), median(p50), median(p99)
	r.roundTrips, r.statements, r.writeTx = perCall(rt, calls), perCall(stmts, calls), perCall(wtx, calls)
}

func perCall(n, calls int64) float64 {
	if calls == 0 {
		return 0
	}
	return float64(n) / float64(calls)
}

func median[T int64 | float64 | time.Duration](xs []T) T {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
