package libtorch

import (
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carton-run/carton/internal/benchpair"
	"github.com/carton-run/carton/tensor"
)

// BenchmarkGoWorkAfterForward times single Go operations in the place a
// binding runs them: between two libtorch forwards (ct_forward through the
// binding, as level=shim of BenchmarkOverheadPaired). Each round runs a
// batch of (operation, forward) pairs and a batch of (nothing, forward)
// pairs, in alternating order, and reports the medians over rounds of
// work-ns/op, the operation's own time there (the two clock reads around
// nothing subtracted), and forward-added-ns/op, how much longer the next
// forward took after it, with its 95% interval. The same operations cost a
// few nanoseconds in a tight loop; here their code and data are cold, and
// what they touch is evicted from the forward's caches. That is what the
// Go side of carton.Infer pays (docs/benchmarks-history.md, RATIONALE.md).
func BenchmarkGoWorkAfterForward(b *testing.B) {
	rt := pairedRuntime(b)
	tiny, _ := tensor.From(tensor.Shape{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8})
	big, _ := tensor.New(tensor.Float32, tensor.Shape{16 << 20})
	for _, c := range []struct {
		name, model string
		x           tensor.Tensor
	}{{"tiny", "dict_io", tiny}, {"64MiB", "first", big}} {
		m, cs := oneInputCall(b, rt, filepath.Join("..", "..", "testdata", "torch", c.model+".pt"), c.x)
		forward := func() error {
			err := cs.forwardOne(m, c.x)
			cs.call.done[0], cs.call.nDone = cs.call.result, 1
			return err
		}
		for _, w := range goWork(tiny) {
			b.Run("input="+c.name+"/work="+w.name, func(b *testing.B) {
				afterForward(b, forward, w.op)
			})
		}
	}
}

// afterForwardBatch is how many (operation, forward) pairs one side of a
// round runs.
const afterForwardBatch = 20

func afterForward(b *testing.B, forward func() error, op func()) {
	timed := func(op func()) (work, fwd float64) {
		var w, f time.Duration
		for range afterForwardBatch {
			t0 := time.Now()
			op()
			t1 := time.Now()
			if err := forward(); err != nil {
				b.Fatal(err)
			}
			f += time.Since(t1)
			w += t1.Sub(t0)
		}
		return float64(w) / afterForwardBatch, float64(f) / afterForwardBatch
	}
	// Run the operation alone first, through a few collections: the heap
	// then has the spans its allocations need, already faulted in, as a
	// process that has been serving a while does. Else the first page
	// faults are charged to whichever operation allocates first.
	for range 20000 {
		op()
	}
	nothing := func() {}
	for range 20 {
		timed(nothing)
		timed(op)
	}
	var work, fwd []float64
	round := 0
	for b.Loop() {
		var nw, nf, ow, of float64
		if round%2 == 0 {
			nw, nf = timed(nothing)
			ow, of = timed(op)
		} else {
			ow, of = timed(op)
			nw, nf = timed(nothing)
		}
		work, fwd = append(work, ow-nw), append(fwd, of-nf)
		round++
	}
	lo, hi := benchpair.MedianCI(fwd)
	b.ReportMetric(benchpair.Median(work), "work-ns/op")
	b.ReportMetric(benchpair.Median(fwd), "forward-added-ns/op")
	b.ReportMetric(lo, "forward-added-low-ns/op")
	b.ReportMetric(hi, "forward-added-high-ns/op")
}

// Sinks keep the operations' results alive, as a caller would.
var (
	sinkBytes []byte
	sinkMap   map[string]tensor.Tensor
	sinkT     [2]tensor.Tensor
	sinkInt   int
)

// goWork lists the operations: what a binding's Go side is made of, and
// two controls (arithmetic, and a copy within memory it reuses).
func goWork(t tensor.Tensor) []struct {
	name string
	op   func()
} {
	src, hot := make([]byte, 256), make([]byte, 256)
	out := map[string]tensor.Tensor{"doubled": t, "y": t}
	pool := &sync.Pool{New: func() any { return new(callState) }}
	var slot atomic.Pointer[callState]
	slot.Store(new(callState))
	return []struct {
		name string
		op   func()
	}{
		{"spin-300", func() { // control: no memory
			x := 1
			for i := range 300 {
				x = x*3 + i
			}
			sinkInt += x
		}},
		{"copy-256B-reused", func() { copy(hot, src) }}, // control: memory it reuses
		{"make-32B", func() { sinkBytes = make([]byte, 32) }},
		{"make-256B", func() { sinkBytes = make([]byte, 256) }},
		{"make-256B-copy", func() { b := make([]byte, 256); copy(b, src); sinkBytes = b }},
		{"map-lookup-2", func() { sinkT[0], sinkT[1] = out["doubled"], out["y"] }},
		{"map-overwrite-2", func() { out["doubled"], out["y"] = t, t }},
		{"map-clear-store-2", func() { clear(out); out["doubled"], out["y"] = t, t }},
		{"map-range-release-2", func() {
			for _, t := range out {
				t.Release()
			}
		}},
		{"map-new-store-2", func() { sinkMap = map[string]tensor.Tensor{"doubled": t, "y": t} }},
		{"sync-pool-get-put", func() { pool.Put(pool.Get()) }},
		{"atomic-slot-swap-cas", func() {
			cs := slot.Swap(nil)
			slot.CompareAndSwap(nil, cs)
		}},
	}
}
