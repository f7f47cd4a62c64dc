package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"
)

// measure calls from c goroutines, each with a call from newCall, until n
// calls (n > 0) or d elapsed, after warmup calls spread over the
// goroutines' calls. Allocations and bytes per call count the calls only:
// the goroutines, their calls and their first latency chunk exist before
// the count starts, and the chunks added while measuring are subtracted.
func measure(ctx context.Context, newCall func() func(context.Context) error, c, warmup, n int, d time.Duration) (benchResult, error) {
	// Calls get a context that cannot be cancelled, so the figures are
	// those of a caller that does not arm cancellation (for ONNX Runtime
	// a cancellable one costs a context.AfterFunc per call); ctx stops
	// the loop between calls instead.
	callCtx := context.WithoutCancel(ctx)
	calls := make([]func(context.Context) error, c)
	for g := range calls {
		calls[g] = newCall()
	}
	// Warm every goroutine's call (an InferInto map fills on its first
	// call), then the rest round robin.
	for i := 0; i < warmup && ctx.Err() == nil; i++ {
		if err := calls[i%c](callCtx); err != nil {
			return benchResult{}, err
		}
	}
	if err := ctx.Err(); err != nil {
		return benchResult{}, err
	}

	var remaining = int64(n)
	var mu sync.Mutex
	take := func() bool {
		if n == 0 {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		if remaining == 0 {
			return false
		}
		remaining--
		return true
	}
	logs := make([]latencyLog, c)
	errs := make([]error, c)
	start := make(chan struct{})
	var deadline time.Time
	var wg sync.WaitGroup
	for g := range c {
		logs[g].grow()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			call, log := calls[g], &logs[g]
			for ctx.Err() == nil && take() && (n > 0 || time.Now().Before(deadline)) {
				t0 := time.Now()
				if err := call(callCtx); err != nil {
					errs[g] = err
					return
				}
				log.add(time.Since(t0))
			}
		}()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	t0 := time.Now()
	deadline = t0.Add(d)
	close(start) // the goroutines read deadline after this
	wg.Wait()
	elapsed := time.Since(t0)
	runtime.ReadMemStats(&after)
	if err := ctx.Err(); err != nil {
		return benchResult{}, err
	}
	for _, err := range errs {
		if err != nil {
			return benchResult{}, err
		}
	}
	var all []time.Duration
	var logChunks int
	for i := range logs {
		all = logs[i].appendTo(all)
		logChunks += logs[i].chunks - 1 // the first was made before counting
	}
	if len(all) == 0 {
		return benchResult{}, fmt.Errorf("no call completed")
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1000 }
	ncalls := float64(len(all))
	return benchResult{
		Concurrency: c, Calls: len(all), Seconds: elapsed.Seconds(), Throughput: ncalls / elapsed.Seconds(),
		P50: pct(0.50), P90: pct(0.90), P99: pct(0.99), Max: float64(all[len(all)-1].Nanoseconds()) / 1000,
		AllocsPerCall: float64(after.Mallocs-before.Mallocs-uint64(logChunks)) / ncalls,
		BytesPerCall:  float64(after.TotalAlloc-before.TotalAlloc-uint64(logChunks)*latencyChunkBytes) / ncalls,
		PeakRSSKiB:    peakRSSKiB(),
	}, nil
}

// A latencyChunk fills latencyChunkBytes exactly, a multiple of Go's 8 KiB
// page, so the allocator rounds nothing and each chunk adds one
// allocation and latencyChunkBytes to MemStats, which measure subtracts.
type latencyChunk struct {
	d    [latencyChunkBytes/8 - 1]time.Duration
	next *latencyChunk
}

const latencyChunkBytes = 64 << 10

// latencyLog records one goroutine's latencies in a list of chunks:
// recording allocates one known block per 8,191 calls and copies nothing.
type latencyLog struct {
	first, last *latencyChunk
	chunks      int
	n           int // entries in last
}

func (l *latencyLog) grow() {
	c := new(latencyChunk)
	if l.last == nil {
		l.first = c
	} else {
		l.last.next = c
	}
	l.last, l.n = c, 0
	l.chunks++
}

func (l *latencyLog) add(d time.Duration) {
	if l.n == len(l.last.d) {
		l.grow()
	}
	l.last.d[l.n] = d
	l.n++
}

func (l *latencyLog) appendTo(all []time.Duration) []time.Duration {
	for c := l.first; c != l.last; c = c.next {
		all = append(all, c.d[:]...)
	}
	return append(all, l.last.d[:l.n]...)
}

var _ [latencyChunkBytes]byte = [unsafe.Sizeof(latencyChunk{})]byte{} // the size measure subtracts
