package python_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/tensor"
)

// BenchmarkSklearnLoop: the scikit-learn pipeline called back to back,
// never blocking, each call timed: carton from Go (a plain goroutine, or
// one locked to its thread) against Python's own loop in a process beside
// it. One b.N round is loopCalls calls on each side, alternated; the
// metrics are the medians over rounds of each side's p50, p99 and mean,
// in µs, and carton's context switches per call. benchpair's batches
// block between batches, which renews Go's scheduler tick; this loop is
// where a stale tick shows (internal/schedtick).
func BenchmarkSklearnLoop(b *testing.B) {
	ctx := context.Background()
	m, in, skpy := sklearnModel(b)
	py := pythonTimedCalls(b, skpy, "testdata/sklearn", sklearnInputs)
	for _, locked := range []bool{false, true} {
		b.Run(callerName(locked), func(b *testing.B) {
			if locked {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
			}
			carton := cartonTimedCalls(ctx, m, in)
			if _, err := carton(loopWarmup); err != nil {
				b.Fatal(err)
			}
			var cs, ps []loopStats
			var switches float64
			round := 0
			for b.Loop() {
				var r0, r1 syscall.Rusage
				runCarton := func() {
					_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
					ds, err := carton(loopCalls)
					_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
					if err != nil {
						b.Fatal(err)
					}
					cs = append(cs, statsOf(ds))
					switches += float64(r1.Nvcsw - r0.Nvcsw + r1.Nivcsw - r0.Nivcsw)
				}
				runPython := func() {
					ds, err := py(loopCalls)
					if err != nil {
						b.Fatal(err)
					}
					ps = append(ps, statsOf(ds))
				}
				if round%2 == 0 {
					runCarton()
					runPython()
				} else {
					runPython()
					runCarton()
				}
				round++
			}
			for _, side := range []struct {
				name  string
				stats []loopStats
			}{{"carton", cs}, {"python", ps}} {
				b.ReportMetric(medianOf(side.stats, func(s loopStats) time.Duration { return s.p50 }), side.name+"-p50-µs")
				b.ReportMetric(medianOf(side.stats, func(s loopStats) time.Duration { return s.p99 }), side.name+"-p99-µs")
				b.ReportMetric(medianOf(side.stats, func(s loopStats) time.Duration { return s.mean }), side.name+"-mean-µs")
			}
			b.ReportMetric(switches/float64(len(cs)*loopCalls), "carton-switches/call")
			b.ReportMetric(0, "ns/op") // a round's time says nothing
		})
	}
}

// cartonTimedCalls returns a function that runs n calls of m.Infer from
// the calling goroutine, each timed with its ReleaseOutputs.
func cartonTimedCalls(ctx context.Context, m *carton.Model, in map[string]tensor.Tensor) func(n int) ([]time.Duration, error) {
	return func(n int) ([]time.Duration, error) {
		ds := make([]time.Duration, n)
		for i := range ds {
			start := time.Now()
			out, err := m.Infer(ctx, in)
			if err != nil {
				return nil, err
			}
			m.ReleaseOutputs(out)
			ds[i] = time.Since(start)
		}
		return ds, nil
	}
}

// loopCalls is one round of BenchmarkSklearnLoop on each side, after
// loopWarmup calls not timed.
const loopCalls, loopWarmup = 2000, 50

type loopStats struct{ p50, p99, mean time.Duration }

func statsOf(ds []time.Duration) loopStats {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[int(q*float64(len(ds)-1))] }
	return loopStats{p50: at(0.5), p99: at(0.99), mean: sum / time.Duration(len(ds))}
}

// medianOf is the median over rounds of one statistic, in µs.
func medianOf(rounds []loopStats, stat func(loopStats) time.Duration) float64 {
	vs := make([]time.Duration, len(rounds))
	for i, r := range rounds {
		vs[i] = stat(r)
	}
	slices.Sort(vs)
	return float64(vs[len(vs)/2]) / float64(time.Microsecond)
}

const pythonTimedCallsScript = `import sys, time, numpy as np
sys.path.insert(0, sys.argv[1])
import main
m = main.get_model()
x = eval(sys.argv[2])
for _ in range(int(sys.argv[3])): m.infer_with_tensors(x)
print("ready", flush=True)
clock = time.perf_counter_ns
for line in sys.stdin:
    ds = []
    for _ in range(int(line)):
        t = clock()
        m.infer_with_tensors(x)
        ds.append(clock() - t)
    print(" ".join(map(str, ds)), flush=True)
`

// pythonTimedCalls starts python on the model in dir (its
// main.get_model()) with the inputs of the Python expression inputs, and
// returns a function that runs n calls there, each timed by Python.
func pythonTimedCalls(b *testing.B, python, dir, inputs string) func(n int) ([]time.Duration, error) {
	in, out := startPython(b, python, "-c", pythonTimedCallsScript, dir, inputs, strconv.Itoa(loopWarmup))
	if out == nil {
		b.Fatalf("%s does not run the model", python)
	}
	return func(n int) ([]time.Duration, error) {
		if _, err := fmt.Fprintln(in, n); err != nil {
			return nil, err
		}
		if !out.Scan() {
			return nil, fmt.Errorf("the Python side stopped: %v", out.Err())
		}
		fields := strings.Fields(out.Text())
		ds := make([]time.Duration, len(fields))
		for i, f := range fields {
			ns, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("the Python side wrote %q", f)
			}
			ds[i] = time.Duration(ns)
		}
		return ds, nil
	}
}
