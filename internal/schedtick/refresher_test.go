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
	busy   atomic.Bool // no P idle
	checks atomic.Int64
}

func newFake() *fake {
	f := &fake{}
	f.clock.Store(int64(time.Hour)) // far from zero, as monotonic time is
	f.now = f.clock.Load
	f.yield = func() {
		f.yields.Add(1)
		f.clock.Add(int64(f.cost))
	}
	f.idle = func() bool {
		f.checks.Add(1)
		return !f.busy.Load()
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
	for range 12 { // 12 calls of 400 µs: 4.8 ms
		f.advance(400 * time.Microsecond)
		f.Refresh()
	}
	if n := f.yields.Load(); n != 1 {
		t.Fatalf("yields within one interval = %d, want 1", n)
	}
	f.advance(400 * time.Microsecond)
	f.Refresh()
	if n := f.yields.Load(); n != 2 {
		t.Fatalf("yields after the interval = %d, want 2", n)
	}
}

func TestSlowYieldsBackOffToMax(t *testing.T) {
	f := newFake()
	f.cost = 80 * time.Microsecond
	want := Interval
	const call = time.Millisecond // long calls: the clock is read at each
	for range 12 {
		f.Refresh()
		want = min(2*want, MaxInterval)
		if got := f.Current(); got != want {
			t.Fatalf("interval after a slow yield = %v, want %v", got, want)
		}
		f.advance(want - call)
		before := f.yields.Load()
		f.Refresh()
		if f.yields.Load() != before {
			t.Fatal("yielded before the backed-off interval passed")
		}
		f.advance(call)
	}
	if f.Current() != MaxInterval {
		t.Fatalf("interval = %v, want MaxInterval", f.Current())
	}
}

// TestShortCallsReadTheClockRarely: calls of 1 µs read the clock once
// every MaxStride calls and still yield about once per Interval.
func TestShortCallsReadTheClockRarely(t *testing.T) {
	f := newFake()
	var reads int
	clock := f.now
	f.now = func() int64 { reads++; return clock() }
	const calls = 100_000 // 100 ms
	for range calls {
		f.Refresh()
		f.advance(time.Microsecond)
	}
	// a yield reads the clock once more, to time itself
	if want := calls/MaxStride + int(f.yields.Load()) + 5; reads > want {
		t.Fatalf("%d clock reads in %d calls of 1 µs, want at most %d", reads, calls, want)
	}
	if y := f.yields.Load(); y < 18 || y > 21 { // every 5 ms, at most a stride late
		t.Fatalf("yields in 100 ms of 1 µs calls = %d, want 18-21", y)
	}
}

// TestLongCallsAfterShortOnes: once calls turn long, the clock is read at
// every call again within MaxStride calls, and yields resume.
func TestLongCallsAfterShortOnes(t *testing.T) {
	f := newFake()
	for range 10_000 {
		f.Refresh()
		f.advance(time.Microsecond)
	}
	before := f.yields.Load()
	for range MaxStride + 1 {
		f.Refresh()
		f.advance(10 * time.Millisecond)
	}
	after := f.yields.Load()
	if after == before {
		t.Fatalf("no yield in %d calls of 10 ms after short ones", MaxStride+1)
	}
	for range 5 {
		f.Refresh()
		f.advance(10 * time.Millisecond)
	}
	if n := f.yields.Load() - after; n != 5 {
		t.Fatalf("yields in 5 calls of 10 ms = %d, want 5", n)
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

func TestNoYieldWithoutAnIdleP(t *testing.T) {
	f := newFake()
	f.busy.Store(true)
	f.cost = 80 * time.Microsecond
	f.Refresh()
	if f.yields.Load() != 0 || f.checks.Load() != 1 {
		t.Fatalf("yields = %d, checks = %d; want 0, 1", f.yields.Load(), f.checks.Load())
	}
	if f.Current() != Interval {
		t.Fatalf("interval = %v after a check without a yield", f.Current())
	}
	f.advance(Interval - time.Nanosecond)
	f.Refresh()
	if f.checks.Load() != 1 {
		t.Fatal("checked again within the interval")
	}
	f.advance(time.Nanosecond)
	f.busy.Store(false)
	f.Refresh()
	if f.yields.Load() != 1 {
		t.Fatal("no yield once a P was idle again")
	}
}

// TestRealIdleP: the runtime's counts say a P is idle while this
// goroutine runs alone on two, and none while another spins beside it or
// when there is one P.
func TestRealIdleP(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var s schedState
	if !eventually(s.idleP) {
		t.Fatal("no idle P seen with GOMAXPROCS 2 and one goroutine running")
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
		}
	}()
	busy := eventually(func() bool { return !s.idleP() })
	stop.Store(true)
	<-done
	if !busy {
		t.Fatal("an idle P seen while another goroutine spun on the second")
	}
	// A goroutine inside Enter and Exit holds the second P as far as a
	// Refresher can tell, while it waits (here in a channel receive, as a
	// native call waits on a futex).
	var r Refresher
	r.next.Store(int64(time.Hour) << 8) // never due: Enter only counts
	entered, release, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		r.Enter()
		close(entered)
		<-release
		r.Exit()
	}()
	<-entered
	for range 100 {
		if s.idleP() {
			t.Fatal("an idle P seen while another goroutine was between Enter and Exit")
		}
	}
	close(release)
	<-exited
	if !eventually(s.idleP) {
		t.Fatal("no idle P seen after Exit")
	}
	runtime.GOMAXPROCS(1)
	for range 100 {
		if s.idleP() {
			t.Fatal("an idle P seen with GOMAXPROCS 1")
		}
	}
}

// eventually polls cond for up to a second: the scheduler's counts are
// approximate, and the runtime's own goroutines (GC workers) come and go.
func eventually(cond func() bool) bool {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// TestRealRefreshYields: with the real clock, scheduler state and
// Gosched, a due Refresh with an idle P lets another goroutine run before
// the caller goes on (the idle P's thread may run it first), and a Refresh
// within the interval does not yield.
func TestRealRefreshYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var r Refresher
	yields := 0
	r.now, r.idle = monotonic, r.sched.idleP
	r.yield = func() { yields++; runtime.Gosched() }
	for i := 0; yields == 0 && i < 200; i++ {
		r.next.Store(0) // due now
		r.Refresh()
		time.Sleep(time.Millisecond)
	}
	if yields == 0 {
		t.Fatal("a due Refresh with an idle P never yielded")
	}
	n := yields
	r.Refresh()
	if yields != n {
		t.Fatal("a Refresh within the interval yielded")
	}
}
