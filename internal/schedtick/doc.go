// Package schedtick keeps the Go scheduler's tick fresh for a goroutine
// that loops over long native calls.
//
// sysmon preempts a goroutine that has run 10 ms on one scheduler tick.
// It cannot preempt one inside a native call, so it takes its P instead,
// and a goroutine that spends its time in calls of some hundred
// microseconds never reaches a preemption point that would renew the
// tick: from then on every call longer than one sysmon tick loses its P,
// and sysmon, having retaken something, keeps polling every 20 µs
// (golang/go#60693). Measured here: 3.6 thread switches a call in a loop
// of 300 µs ONNX Runtime calls, 2.6 in one of 500 µs Python calls. A
// Refresher yields once per interval, before a call, so the tick is
// renewed and none of this starts.
//
// The stale tick matters only while a P is idle: with none, sysmon takes
// the P from a native call after 20 µs whatever the tick, and a yield
// only moves goroutines between threads (fewer calls a second, measured
// with two callers on two Ps). So a due Refresher first counts the
// goroutines running or runnable (runtime/metrics) and the calls in
// progress between Enter and Exit anywhere in the process (the runtime's
// own count of goroutines in native calls includes those parked in a
// system call without a P), and yields only when they are fewer than
// GOMAXPROCS.
//
// A plain goroutine's yield costs the wakeup of a thread for an idle P
// (6-64 µs measured on a shared 2-core VM, once per 5 ms). A goroutine
// locked to its OS thread hands the thread off and back, two wakeups
// (70-120 µs), and gains nothing. Nothing tells a callee whether its
// caller locked the goroutine, so a Refresher times its yields: a slow
// one doubles the interval, up to MaxInterval, and a fast one halves it,
// down to Interval. A yield that ran other goroutines counts as slow,
// rightly: their scheduling renews the tick too.
//
// A call that is not due costs three atomic operations (8 ns here): the
// clock (31 ns) is read once every few calls, as many as took a
// sixteenth of Interval at their recent rate, at most MaxStride.
//
// A Refresher's zero value is ready to use and safe for concurrent use;
// concurrent callers share its interval, and the one that finds it due
// checks.
package schedtick
