package models

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestHashingStaysWithinItsMemoryBudget: 64 log-ins at once never run more argon2id computations
// side by side than the budget holds, and all of them finish.
func TestHashingStaysWithinItsMemoryBudget(t *testing.T) {
	hash, err := HashPassword("a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	var inUse, peak atomic.Int64
	hashInFlight = func(d int64) {
		n := inUse.Add(d)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
	}
	defer func() { hashInFlight = nil }()
	SetHashMemory(3 * argonMemory)
	defer SetHashMemory(DefaultHashMemory)

	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 64 {
		wg.Go(func() {
			if good, err := VerifyPassword(hash, "a long enough password"); err == nil && good {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 64 {
		t.Fatalf("%d of 64 verifications succeeded", ok.Load())
	}
	if p := peak.Load(); p > 3*argonMemory || p < 2*argonMemory {
		t.Fatalf("peak hashing memory %d KiB, want at most the budget of %d KiB (and more than one at a time)", p, 3*argonMemory)
	}
	// A stored hash asking for more memory than the whole budget is refused, not run.
	SetHashMemory(argonMemory)
	if _, err := VerifyPassword(hash[:0]+"$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U", "x"); err == nil {
		t.Fatal("a 1 GiB hash was run")
	}
}
