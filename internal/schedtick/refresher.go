package schedtick

import (
	"runtime"
	"sync/atomic"
	"time"
)

const (
	// Interval is the time between yields while they are cheap: half
	// sysmon's 10 ms, so that a tick is renewed before it goes stale.
	Interval = 5 * time.Millisecond
	// MaxInterval bounds the back-off after slow yields: a locked caller
	// then pays about one thread hand-off a second.
	MaxInterval = time.Second
	// SlowYield tells a locked goroutine's yield (two thread wakeups,
	// 70-105 µs measured) from a plain one (6-45 µs with an idle P, which
	// Gosched wakes).
	SlowYield = 50 * time.Microsecond
)

var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// Refresher yields the calling goroutine at most once per interval. Its
// zero value is ready to use.
type Refresher struct {
	next     atomic.Int64 // monotonic ns before which Refresh returns at once
	interval atomic.Int64 // the current interval in ns; 0 means Interval

	// tests replace the clock and the yield
	now   func() int64
	yield func()
}

// Refresh yields the calling goroutine to the scheduler once the interval
// has passed since the last yield, and otherwise returns at once; when
// several goroutines find it due, one yields. Call it before a native
// call that may be long, before locking the goroutine to its thread.
func (r *Refresher) Refresh() {
	now, yield := monotonic, runtime.Gosched
	if r.now != nil {
		now, yield = r.now, r.yield
	}
	start := now()
	next := r.next.Load()
	if start < next || !r.next.CompareAndSwap(next, start+int64(MaxInterval)) {
		return
	}
	yield()
	end := now()
	// Doubling on a slow yield and halving on a fast one, rather than
	// resetting, settles a locked caller (whose yields are now and then
	// fast) near MaxInterval and a plain one at Interval.
	iv := r.Current()
	if time.Duration(end-start) > SlowYield {
		iv = min(2*iv, MaxInterval)
	} else {
		iv = max(iv/2, Interval)
	}
	r.interval.Store(int64(iv))
	r.next.Store(end + int64(iv))
}

// Current is the interval the last yield set.
func (r *Refresher) Current() time.Duration {
	if iv := r.interval.Load(); iv != 0 {
		return time.Duration(iv)
	}
	return Interval
}
