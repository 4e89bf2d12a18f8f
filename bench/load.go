package main

import (
	"bufio"
	"context"
	"errors"
	"math/bits"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"atrium/models/wirecount"
)

// call is one client's unit of work (a request, or a pair of requests); it returns an error for
// anything but the expected answer.
type call func(ctx context.Context) error

// window is one timed window of one case at one concurrency.
type window struct {
	calls    int64
	took     time.Duration
	p50, p99 time.Duration
	wire     wirecount.Counts
	writeTx  int64 // transaction ids the database handed out: transactions that wrote
	peakRSS  int64 // bytes; 0 when the kernel cannot tell
}

// loop runs clients[i] in a loop from len(clients) goroutines for d. The window ends when the last
// client has returned from the call it was in at the deadline, so every call of the window, and
// every database round trip it made, is counted in full; a window read around the call to loop
// holds nothing else (but the server's own background work).
func loop(ctx context.Context, clients []call, d time.Duration) (int64, time.Duration, *histogram, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	hists := make([]histogram, len(clients))
	counts := make([]int64, len(clients))
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i, fn := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				if err := fn(ctx); err != nil {
					if ctx.Err() == nil {
						cancel(err)
					}
					return
				}
				t1 := time.Now()
				hists[i].add(t1.Sub(t0))
				counts[i]++
				if !t1.Before(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return 0, 0, nil, err
	}
	if err := ctx.Err(); err != nil {
		return 0, 0, nil, err
	}
	var total int64
	all := &histogram{}
	for i := range hists {
		all.merge(&hists[i])
		total += counts[i]
	}
	return total, took, all, nil
}

// histogram keeps latencies in microseconds with three significant figures and more (2,048
// sub-buckets per power of two), in constant memory whatever the rate.
type histogram struct {
	counts map[int]int64
	n      int64
}

const subBits = 11

func bucketOf(us uint64) int {
	if us < 1<<subBits {
		return int(us)
	}
	e := bits.Len64(us) - subBits
	return e<<subBits | int(us>>e) // us>>e has subBits bits, the top one set
}

func bucketValue(b int) uint64 {
	e := b >> subBits
	if e == 0 {
		return uint64(b)
	}
	return uint64(b&(1<<subBits-1)) << e // the bucket's lower bound
}

func (h *histogram) add(d time.Duration) {
	if h.counts == nil {
		h.counts = map[int]int64{}
	}
	h.counts[bucketOf(uint64(d.Microseconds()))]++
	h.n++
}

func (h *histogram) merge(o *histogram) {
	for b, n := range o.counts {
		if h.counts == nil {
			h.counts = map[int]int64{}
		}
		h.counts[b] += n
	}
	h.n += o.n
}

// quantile returns the latency at q (0..1): the smallest recorded bucket with at least q of the
// samples at or below it.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	keys := make([]int, 0, len(h.counts))
	for b := range h.counts {
		keys = append(keys, b)
	}
	slices.Sort(keys)
	want := int64(q*float64(h.n) + 0.5)
	if want < 1 {
		want = 1
	}
	var seen int64
	for _, b := range keys {
		seen += h.counts[b]
		if seen >= want {
			return time.Duration(bucketValue(b)) * time.Microsecond
		}
	}
	return time.Duration(bucketValue(keys[len(keys)-1])) * time.Microsecond
}

// resetPeakRSS hands freed memory back to the system and restarts the kernel's peak-RSS mark
// (VmHWM) at the current resident size, so the next reading is the peak of what follows. It
// reports false when the kernel does not allow it; readings are then the process's peak so far.
func resetPeakRSS() bool {
	debug.FreeOSMemory()
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// peakRSS is the process's VmHWM in bytes, 0 when unknown.
func peakRSS() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
