package schedtick

import (
	"testing"
	"time"
)

// BenchmarkEnterExit is what a call that is not due pays: the clock and
// the count of calls in progress.
func BenchmarkEnterExit(b *testing.B) {
	var r Refresher
	r.next.Store(int64(100 * time.Hour)) // never due
	for b.Loop() {
		r.Enter()
		r.Exit()
	}
}

// BenchmarkClock is the clock alone.
func BenchmarkClock(b *testing.B) {
	for b.Loop() {
		_ = monotonic()
	}
}
