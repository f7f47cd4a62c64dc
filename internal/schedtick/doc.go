// Package schedtick keeps the Go scheduler's tick fresh for a goroutine
// that loops over long native calls.
//
// sysmon preempts a goroutine that has run 10 ms on one scheduler tick.
// It cannot preempt one inside a native call, so it takes its P instead,
// and a goroutine that spends its time in calls of some hundred
// microseconds never reaches a preemption point that would renew the
// tick: from then on every call longer than one sysmon tick loses its P,
// and sysmon, having retaken something, keeps polling every 20 µs
// (golang/go#60693). A Refresher yields once per interval, before a call,
// so the tick is renewed and none of this starts.
//
// A plain goroutine's yield costs at most the wakeup of a thread for an
// idle P (6-45 µs measured on a shared 2-core VM, once per 5 ms). A
// goroutine locked to its OS thread hands the thread off and back, two
// wakeups (70-105 µs), and gains nothing. Nothing tells a callee whether
// its caller locked the goroutine, so a Refresher times its yields: a slow
// one doubles the interval, up to MaxInterval, and a fast one halves it,
// down to Interval. A yield that ran other goroutines counts as slow,
// rightly: their scheduling renews the tick too.
//
// A Refresher's zero value is ready to use and safe for concurrent use.
package schedtick
