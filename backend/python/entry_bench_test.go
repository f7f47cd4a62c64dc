package python

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/internal/schedtick"
)

// entryBenchScript loads testdata/sklearn under a name of its own and
// defines loop(n): n calls timed by Python, their median in ns.
const entryBenchScript = `import importlib.util, sys, time
import numpy as np
spec = importlib.util.spec_from_file_location("_carton_entry_bench", MAIN_PY)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
f = mod.get_model().infer_with_tensors
x = {"x": (np.arange(256) % 7 + 0.5).reshape(64, 4)}
for _ in range(200): f(x)
def loop(n):
    ds = []
    for _ in range(n):
        t = time.perf_counter_ns(); f(x); ds.append(time.perf_counter_ns() - t)
    ds.sort()
    return ds[len(ds) // 2]
`

// BenchmarkEntryFromGo: the scikit-learn pipeline's infer_with_tensors,
// one Go call into Python per call (PyObject_CallOneArg, nothing of
// carton's around it), against the same method called by a Python loop in
// the same interpreter and process. One b.N round is entryCalls calls of
// each way, alternated; the metrics are the loop's median p50 and the
// medians over rounds of each Go way's p50 minus the loop's, in µs:
//   - locked: the goroutine locked and the GIL held for the round;
//   - per-call: a plain goroutine taking the thread and the GIL per call,
//     after a schedtick.Refresher, as carton.Model.Infer does.
//
// The locked way's excess is Python's own work running slower, not the
// call: the Go scheduler's tick goes stale in a goroutine that never
// yields, and sysmon then takes the P from every native call. The
// Refresher keeps the per-call way's tick fresh; its excess is within this
// VM's noise (docs/benchmarks-history.md, third round).
func BenchmarkEntryFromGo(b *testing.B) {
	exe := os.Getenv("CARTON_TEST_SKLEARN_PYTHON")
	if exe == "" {
		b.Skip("needs $CARTON_TEST_SKLEARN_PYTHON")
	}
	in, err := probe(context.Background(), exe)
	if err != nil {
		b.Fatal(err)
	}
	it, err := interpreter(in.Lib, in.Executable)
	if err != nil {
		b.Fatal(err)
	}
	h, err := purego.Dlopen(in.Lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		b.Fatal(err)
	}
	sym := func(name string) uintptr {
		p, err := purego.Dlsym(h, name)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	runString, addModule, getAttr := sym("PyRun_SimpleString"), sym("PyImport_AddModule"), sym("PyObject_GetAttrString")
	callOne, fromLong, asLong := sym("PyObject_CallOneArg"), sym("PyLong_FromLong"), sym("PyLong_AsLongLong")
	mainPy, err := filepath.Abs("testdata/sklearn/main.py")
	if err != nil {
		b.Fatal(err)
	}
	var keep [][]byte // C strings Python reads during the calls below
	cstr := func(s string) uintptr {
		c := dlopen.CString(s)
		keep = append(keep, c)
		return uintptr(unsafe.Pointer(&c[0]))
	}
	c := new(pyCall)
	it.enter(c)
	// The script's namespace is a module of its own, so nothing lands in
	// __main__ of the process's one interpreter.
	ns := c.Call(addModule, cstr("_carton_entry_bench_ns"))
	script := strings.Replace(entryBenchScript, "MAIN_PY", pyQuote(b, mainPy), 1)
	src := "import _carton_entry_bench_ns as _ns\nexec(compile(" + pyQuote(b, script) + ", '<entry bench>', 'exec'), _ns.__dict__)\n"
	if ns == 0 || c.Call(runString, cstr(src)) != 0 {
		it.leave(c)
		b.Fatal("the benchmark's script failed (see stderr)")
	}
	f, x, loop := c.Call(getAttr, ns, cstr("f")), c.Call(getAttr, ns, cstr("x")), c.Call(getAttr, ns, cstr("loop"))
	n := c.Call(fromLong, entryCalls)
	it.leave(c)
	if f == 0 || x == 0 || loop == 0 || n == 0 {
		b.Fatal("the benchmark's script defined no f, x or loop")
	}

	var tick schedtick.Refresher
	ds := make([]time.Duration, entryCalls)
	p50 := func() float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2]) / float64(time.Microsecond)
	}
	ways := []func() float64{
		func() float64 { // the Python loop
			it.enter(c)
			defer it.leave(c)
			v := c.Call(callOne, loop, n)
			if v == 0 {
				c.Call(it.fn.errPrint)
				b.Fatal("loop raised (see stderr)")
			}
			defer c.Call(it.fn.decRef, v)
			return float64(int64(c.Call(asLong, v))) / float64(time.Microsecond)
		},
		func() float64 { // locked, GIL held
			it.enter(c)
			defer it.leave(c)
			for i := range ds {
				start := time.Now()
				c.Call(it.fn.decRef, c.Call(callOne, f, x))
				ds[i] = time.Since(start)
			}
			return p50()
		},
		func() float64 { // per call, as carton.Model.Infer
			for i := range ds {
				tick.Refresh()
				start := time.Now()
				it.enter(c)
				c.Call(it.fn.decRef, c.Call(callOne, f, x))
				it.leave(c)
				ds[i] = time.Since(start)
			}
			return p50()
		},
	}
	var loops, locked, perCall []float64
	round := 0
	for b.Loop() {
		var got [3]float64
		for k := range ways {
			w := (k + round) % len(ways)
			got[w] = ways[w]()
		}
		loops = append(loops, got[0])
		locked = append(locked, got[1]-got[0])
		perCall = append(perCall, got[2]-got[0])
		round++
	}
	b.ReportMetric(median(loops), "loop-p50-µs")
	b.ReportMetric(median(locked), "locked-excess-µs")
	b.ReportMetric(median(perCall), "per-call-excess-µs")
	b.ReportMetric(0, "ns/op") // a round's time says nothing
	_ = keep
}

// entryCalls is one round of BenchmarkEntryFromGo for each way.
const entryCalls = 1000

// pyQuote is s as a Python str literal (JSON's escapes are Python's).
func pyQuote(b *testing.B, s string) string {
	q, err := json.Marshal(s)
	if err != nil {
		b.Fatal(err)
	}
	return string(q)
}

func median(vs []float64) float64 {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return vs[len(vs)/2]
}
