package schedtick

import (
	"runtime"
	"sync/atomic"
	"time"
)

const (
	// Interval is the time between checks while yields are cheap: half
	// sysmon's 10 ms, so that a tick is renewed before it goes stale.
	Interval = 5 * time.Millisecond
	// MaxInterval bounds the back-off after slow yields: a locked caller
	// then pays about one thread hand-off a second.
	MaxInterval = time.Second
	// SlowYield tells a locked goroutine's yield (two thread wakeups,
	// 70-105 µs measured) from a plain one (6-45 µs with an idle P, which
	// Gosched wakes).
	SlowYield = 50 * time.Microsecond
	// MaxStride bounds how many calls pass between two reads of the
	// clock, however short they are: after a change from short calls to
	// long ones, at most this many go by before the Refresher notices.
	MaxStride = 64
)

var epoch = time.Now()

func monotonic() int64 { return int64(time.Since(epoch)) }

// Refresher yields the calling goroutine at most once per interval, when a
// P is idle. Its zero value is ready to use.
type Refresher struct {
	next     atomic.Int64 // monotonic ns before which Refresh returns at once
	interval atomic.Int64 // the current interval in ns; 0 means Interval
	sched    schedState   // read only by the caller that claimed a check

	// The clock is read once every stride calls (31 ns here, against 3 ns
	// for the countdown), stride set from the calls' recent rate.
	countdown atomic.Int64 // calls left before the next read of the clock
	stride    atomic.Int64 // calls between the last two reads
	lastRead  atomic.Int64 // monotonic ns of the last read

	// tests replace the clock, the yield and the scheduler's state
	now   func() int64
	yield func()
	idle  func() bool
}

// Refresh yields the calling goroutine to the scheduler once the interval
// has passed since the last check and a P is idle, and otherwise returns
// at once; when several goroutines find it due, one checks. Call it before
// a native call that may be long, before locking the goroutine to its
// thread.
func (r *Refresher) Refresh() {
	now, yield, idle := monotonic, runtime.Gosched, r.sched.idleP
	if r.now != nil {
		now, yield, idle = r.now, r.yield, r.idle
	}
	if r.countdown.Add(-1) > 0 {
		return
	}
	start := now()
	r.pace(start)
	next := r.next.Load()
	if start < next || !r.next.CompareAndSwap(next, start+int64(MaxInterval)) {
		return
	}
	iv := r.Current()
	if !idle() {
		// sysmon takes a P from a long native call after 20 µs anyway
		// when none is idle, whatever the tick; a yield would only move
		// goroutines between threads (measured: fewer calls a second).
		r.next.Store(start + int64(iv))
		return
	}
	yield()
	end := now()
	// Doubling on a slow yield and halving on a fast one, rather than
	// resetting, settles a locked caller (whose yields are now and then
	// fast) near MaxInterval and a plain one at Interval.
	if time.Duration(end-start) > SlowYield {
		iv = min(2*iv, MaxInterval)
	} else {
		iv = max(iv/2, Interval)
	}
	r.interval.Store(int64(iv))
	r.next.Store(end + int64(iv))
}

// pace sets how many calls pass before the clock is read again: as many
// as took a sixteenth of Interval at the rate since the last read, so
// that a due check is late by about that much. Concurrent callers may
// each read the clock once the countdown runs out; any of their strides
// will do.
func (r *Refresher) pace(now int64) {
	prev := r.lastRead.Swap(now)
	calls := max(r.stride.Load(), 1)
	stride := int64(1)
	if prev != 0 && now > prev {
		stride = int64(Interval/16) / max((now-prev)/calls, 1)
		stride = min(max(stride, 1), MaxStride)
	}
	r.stride.Store(stride)
	r.countdown.Store(stride)
}

// Enter is Refresh for a native call that follows, counted as in
// progress until Exit: while other goroutines' calls keep every P busy,
// Refresh does not yield. Call Exit when the call returns.
func (r *Refresher) Enter() {
	r.Refresh()
	nativeCalls.Add(1)
}

// Exit ends the call Enter began.
func (r *Refresher) Exit() { nativeCalls.Add(-1) }

// InProgress is the number of calls between Enter and Exit in the
// process now, any Refresher's.
func InProgress() int64 { return nativeCalls.Load() }

// Current is the interval the last yield set.
func (r *Refresher) Current() time.Duration {
	if iv := r.interval.Load(); iv != 0 {
		return time.Duration(iv)
	}
	return Interval
}
