package python_test

import (
	"context"
	"testing"
	"time"

	"github.com/carton-run/carton/internal/benchpair"
)

// BenchmarkSklearnAfterIdle: the scikit-learn pipeline in batches of
// idleBatch calls, each side idle while the others run theirs (as in
// benchpair's rounds, and as a service between bursts of requests), every
// call timed by its position in the batch: carton from Go against
// Python's own loop in two processes beside it, whose difference is the
// noise floor. Reported per side, in µs, from the median of each position
// over rounds: the first call (caches cold after the other sides ran),
// the settled call (the mean of the positions from idleSettled on), and
// the wake excess (what the calls before idleSettled take over the
// settled call, summed).
//
// Carton's wake excess is the Go runtime's: the first system call after
// every P of the process was idle (here the pipe read that ends the
// previous side's turn) wakes sysmon, which then polls every 20 µs for 50
// rounds before it backs off (golang/go#18236); this VM's kernel wakes it
// on the calling thread's vCPU, and each poll there costs Python's work
// about 2.5 times its own time (docs/benchmarks-history.md, second,
// fourth and fifth rounds).
func BenchmarkSklearnAfterIdle(b *testing.B) {
	ctx := context.Background()
	m, in, skpy := sklearnModel(b)
	sides := []struct {
		name  string
		calls func(n int) ([]time.Duration, error)
		at    [idleBatch][]float64 // µs
	}{
		{name: "carton", calls: cartonTimedCalls(ctx, m, in)},
		{name: "python", calls: pythonTimedCalls(b, skpy, "testdata/sklearn", sklearnInputs)},
		{name: "other-python", calls: pythonTimedCalls(b, skpy, "testdata/sklearn", sklearnInputs)},
	}
	round := 0
	for b.Loop() {
		for k := range sides {
			side := &sides[(k+round)%len(sides)]
			ds, err := side.calls(idleBatch)
			if err != nil {
				b.Fatal(err)
			}
			for i, d := range ds {
				side.at[i] = append(side.at[i], float64(d)/float64(time.Microsecond))
			}
		}
		round++
	}
	for _, side := range sides {
		first, settled, excess := afterIdleStats(side.at[:])
		b.ReportMetric(first, side.name+"-first-µs")
		b.ReportMetric(settled, side.name+"-settled-µs")
		b.ReportMetric(excess, side.name+"-wake-excess-µs")
	}
	b.ReportMetric(0, "ns/op") // a round's time says nothing
}

// idleBatch calls a batch; the calls from position idleSettled on are
// past the wake (Go's sysmon backs off within 5-10 ms of 1 ms calls).
const idleBatch, idleSettled = 20, 12

// afterIdleStats are BenchmarkSklearnAfterIdle's metrics from the times
// (µs) of each position over rounds.
func afterIdleStats(at [][]float64) (first, settled, excess float64) {
	med := make([]float64, len(at))
	for i, us := range at {
		med[i] = benchpair.Median(us)
	}
	for _, v := range med[idleSettled:] {
		settled += v / float64(len(med)-idleSettled)
	}
	for _, v := range med[1:idleSettled] {
		excess += v - settled
	}
	return med[0], settled, excess
}
