package schedtick

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fake is a Refresher on a clock the test moves; each yield takes cost.
type fake struct {
	Refresher
	clock  atomic.Int64
	cost   time.Duration
	yields atomic.Int64
}

func newFake() *fake {
	f := &fake{}
	f.clock.Store(int64(time.Hour)) // far from zero, as monotonic time is
	f.now = f.clock.Load
	f.yield = func() {
		f.yields.Add(1)
		f.clock.Add(int64(f.cost))
	}
	return f
}

func (f *fake) advance(d time.Duration) { f.clock.Add(int64(d)) }

func TestFirstRefreshYields(t *testing.T) {
	f := newFake()
	f.Refresh()
	if f.yields.Load() != 1 {
		t.Fatalf("yields = %d, want 1", f.yields.Load())
	}
}

func TestRefreshYieldsOncePerInterval(t *testing.T) {
	f := newFake()
	f.cost = time.Microsecond
	f.Refresh()
	for range 49 { // 49 calls of 100 µs: 4.9 ms
		f.advance(100 * time.Microsecond)
		f.Refresh()
	}
	if n := f.yields.Load(); n != 1 {
		t.Fatalf("yields within one interval = %d, want 1", n)
	}
	f.advance(200 * time.Microsecond)
	f.Refresh()
	if n := f.yields.Load(); n != 2 {
		t.Fatalf("yields after the interval = %d, want 2", n)
	}
}

func TestSlowYieldsBackOffToMax(t *testing.T) {
	f := newFake()
	f.cost = 80 * time.Microsecond
	want := Interval
	for range 12 {
		f.Refresh()
		want = min(2*want, MaxInterval)
		if got := f.Current(); got != want {
			t.Fatalf("interval after a slow yield = %v, want %v", got, want)
		}
		f.advance(want - time.Nanosecond)
		before := f.yields.Load()
		f.Refresh()
		if f.yields.Load() != before {
			t.Fatal("yielded before the backed-off interval passed")
		}
		f.advance(time.Nanosecond)
	}
	if f.Current() != MaxInterval {
		t.Fatalf("interval = %v, want MaxInterval", f.Current())
	}
}

func TestFastYieldsComeBackToInterval(t *testing.T) {
	f := newFake()
	f.interval.Store(int64(MaxInterval))
	f.cost = 10 * time.Microsecond
	var steps int
	for f.Current() > Interval {
		f.advance(f.Current())
		f.Refresh()
		steps++
		if steps > 10 {
			t.Fatalf("interval still %v after %d fast yields", f.Current(), steps)
		}
	}
	if steps != 8 { // 1 s halved eight times is under 5 ms
		t.Fatalf("fast yields to come back = %d, want 8", steps)
	}
}

func TestYieldAtTheThresholdIsFast(t *testing.T) {
	f := newFake()
	f.cost = SlowYield
	f.Refresh()
	if f.Current() != Interval {
		t.Fatalf("interval = %v after a yield of exactly SlowYield", f.Current())
	}
}

func TestConcurrentCallersYieldOnce(t *testing.T) {
	f := newFake()
	gate := make(chan struct{})
	f.yield = func() {
		f.yields.Add(1)
		<-gate // hold the yield while the others arrive
	}
	var wg sync.WaitGroup
	started := make(chan struct{})
	wg.Add(1)
	go func() { defer wg.Done(); close(started); f.Refresh() }()
	<-started
	for f.yields.Load() == 0 {
		runtime.Gosched()
	}
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); f.Refresh() }()
	}
	time.Sleep(10 * time.Millisecond)
	close(gate)
	wg.Wait()
	if n := f.yields.Load(); n != 1 {
		t.Fatalf("yields = %d, want 1", n)
	}
}

// TestRealRefreshYields: with the real clock and Gosched, a due
// Refresh lets a runnable goroutine run on a single P before the caller
// goes on, and a Refresh within the interval does not.
func TestRealRefreshYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var r Refresher
	r.Refresh() // start an interval
	var ran atomic.Bool
	done := make(chan struct{})
	go func() { ran.Store(true); close(done) }()
	r.Refresh() // within the interval: returns without yielding
	if ran.Load() {
		t.Fatal("a Refresh within the interval yielded")
	}
	r.next.Store(0) // due now
	r.Refresh()
	if !ran.Load() {
		t.Fatal("a due Refresh did not yield to the runnable goroutine")
	}
	<-done
}
