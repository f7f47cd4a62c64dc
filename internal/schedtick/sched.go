package schedtick

import (
	"runtime/metrics"
	"sync/atomic"
)

// schedState reads whether the scheduler has an idle P. runtime/metrics
// counts goroutines by state under the scheduler's lock, in time
// proportional to GOMAXPROCS (130 ns at 2); a Refresher reads it at most
// once per interval. Its zero value is ready; it is not safe for
// concurrent use (a Refresher's claim serialises it).
type schedState struct {
	samples []metrics.Sample
}

var schedMetrics = []string{
	"/sched/gomaxprocs:threads",
	"/sched/goroutines/running:goroutines",
	"/sched/goroutines/runnable:goroutines",
}

// nativeCalls counts the calls between Enter and Exit in the process.
// The runtime's own count of goroutines in native calls also counts those
// parked in a system call without a P (os/signal's loop in every program
// that calls signal.Notify), which leave their P free.
var nativeCalls atomic.Int64

// idleP reports whether fewer goroutines are running, runnable or in
// calls between Enter and Exit than there are Ps: only then does sysmon
// leave a long native call its P until the tick is stale. The counts are
// approximate (a goroutine just past Enter counts twice); a metric this
// Go does not have reads as idle, so the Refresher keeps yielding as it
// would without the check.
func (s *schedState) idleP() bool {
	if s.samples == nil {
		s.samples = make([]metrics.Sample, len(schedMetrics))
		for i, name := range schedMetrics {
			s.samples[i].Name = name
		}
	}
	metrics.Read(s.samples)
	var v [3]uint64
	for i := range s.samples {
		if s.samples[i].Value.Kind() != metrics.KindUint64 {
			return true
		}
		v[i] = s.samples[i].Value.Uint64()
	}
	gomaxprocs, busy := v[0], v[1]+v[2]+uint64(max(nativeCalls.Load(), 0))
	return busy < gomaxprocs
}
