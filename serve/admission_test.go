package serve

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAdmissionBoundsRunningAndWaiting(t *testing.T) {
	a := newAdmission(1, 1)
	ctx := context.Background()
	release, waited, err := a.acquire(ctx)
	if err != nil || waited != 0 {
		t.Fatalf("first: %v %v", waited, err)
	}
	second := make(chan error, 1)
	go func() {
		rel, _, err := a.acquire(ctx) // waits in the queue
		if err == nil {
			rel()
		}
		second <- err
	}()
	for a.waiting.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	if _, _, err := a.acquire(ctx); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third: %v, want ErrQueueFull", err)
	}
	release()
	if err := <-second; err != nil {
		t.Fatalf("second: %v", err)
	}
	// A waiter whose context ends leaves the queue.
	release, _, _ = a.acquire(ctx)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if _, _, err := a.acquire(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timed out waiter: %v", err)
	}
	if n := a.waiting.Load(); n != 0 {
		t.Fatalf("%d still waiting", n)
	}
	release()
}
