package handlers

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestFairGateConfinesAWorkspaceToItsShare: a workspace with every slot taken waits, another
// workspace walks in; all keys of one workspace share its slots once the gate has learnt them.
func TestFairGateConfinesAWorkspaceToItsShare(t *testing.T) {
	g := newFairGate(2)
	wsA, wsB := uuid.New(), uuid.New()
	g.learn("atr_AAAAAAA1", wsA)
	g.learn("atr_AAAAAAA2", wsA)
	g.learn("atr_BBBBBBBB", wsB)
	ctx := context.Background()
	r1, err := g.acquire(ctx, "atr_AAAAAAA1")
	if err != nil {
		t.Fatal(err)
	}
	r2, err := g.acquire(ctx, "atr_AAAAAAA2")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(short, "atr_AAAAAAA1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a third request of a full workspace got in: %v", err)
	}
	short, cancel = context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	rb, err := g.acquire(short, "atr_BBBBBBBB")
	if err != nil {
		t.Fatalf("another workspace waited behind the full one: %v", err)
	}
	rb()
	waiting := make(chan func(), 1)
	go func() {
		r, err := g.acquire(ctx, "atr_AAAAAAA2")
		if err != nil {
			t.Error(err)
		}
		waiting <- r
	}()
	select {
	case <-waiting:
		t.Fatal("got a slot before one was released")
	case <-time.After(20 * time.Millisecond):
	}
	r1()
	select {
	case r3 := <-waiting:
		r3()
	case <-time.After(time.Second):
		t.Fatal("a released slot was not handed on")
	}
	r2()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.groups) != 0 {
		t.Fatalf("%d groups left after every release", len(g.groups))
	}
}
