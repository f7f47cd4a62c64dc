package python_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/internal/testneed"
	"github.com/carton-run/carton/tensor"
)

// formsModel returns arrays in every form a model may: each numeric dtype
// (taken as they are), and forms that need the bridge (strided, Fortran
// order, big-endian, a subclass, lists, scalars), plus views of its input.
const formsModel = `
import numpy as np

class Sub(np.ndarray):
    pass

class Model:
    def infer_with_tensors(self, tensors):
        x = tensors["x"]  # float32 [2, 3]: 1..6
        out = {name: np.arange(6).reshape(2, 3).astype(name) for name in
               ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64"]}
        out["longlong"] = np.arange(3, dtype=np.longlong)
        out["strided"] = x.T
        out["fortran"] = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
        out["bigendian"] = np.arange(3, dtype=">i4")
        out["subclass"] = np.arange(3, dtype=np.float32).view(Sub)
        out["list"] = [1.5, 2.5]
        out["scalar"] = np.float64(7)
        out["empty"] = np.zeros((0, 3), dtype=np.float32)
        out["same"] = x
        out["view"] = x[1]
        return out

def get_model():
    return Model()
`

func TestOutputForms(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	m := loadPython(t, formsModel, nil)
	x, err := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	require.NoError(t, err)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
	require.NoError(t, err)
	defer m.ReleaseOutputs(out)

	for _, dt := range []tensor.DType{tensor.Bool, tensor.Int8, tensor.Int16, tensor.Int32, tensor.Int64, tensor.Uint8,
		tensor.Uint16, tensor.Uint32, tensor.Uint64, tensor.Float16, tensor.Float32, tensor.Float64} {
		got := out[dt.String()]
		require.Equal(t, dt, got.DType(), dt.String())
		assert.Equal(t, tensor.Shape{2, 3}, got.Shape(), dt.String())
		vals, err := tensor.Float64s(got)
		require.NoError(t, err, dt.String())
		want := []float64{0, 1, 2, 3, 4, 5}
		if dt == tensor.Bool {
			want = []float64{0, 1, 1, 1, 1, 1}
		}
		assert.Equal(t, want, vals, dt.String())
	}
	assert.Equal(t, []int64{0, 1, 2}, tensor.MustView[int64](out["longlong"]))
	assert.Equal(t, []float32{1, 4, 2, 5, 3, 6}, tensor.MustView[float32](out["strided"]))
	assert.Equal(t, []float64{0, 1, 2, 3, 4, 5}, tensor.MustView[float64](out["fortran"]))
	assert.Equal(t, []int32{0, 1, 2}, tensor.MustView[int32](out["bigendian"]))
	assert.Equal(t, []float32{0, 1, 2}, tensor.MustView[float32](out["subclass"]))
	assert.Equal(t, []float64{1.5, 2.5}, tensor.MustView[float64](out["list"]))
	assert.Equal(t, tensor.Shape{}, out["scalar"].Shape())
	assert.Equal(t, []float64{7}, tensor.MustView[float64](out["scalar"]))
	assert.Equal(t, tensor.Shape{0, 3}, out["empty"].Shape())

	// Outputs over the input's memory are copied: the input is the
	// caller's to change once Infer returns.
	xs := tensor.MustView[float32](x)
	for _, name := range []string{"same", "view"} {
		o := out[name]
		p, q := uintptr(o.Pointer()), uintptr(x.Pointer())
		assert.False(t, p >= q && p < q+uintptr(x.ByteLen()), "%s lies in the input", name)
	}
	xs[0], xs[3] = 100, 400
	assert.Equal(t, []float32{1, 2, 3, 4, 5, 6}, tensor.MustView[float32](out["same"]))
	assert.Equal(t, []float32{4, 5, 6}, tensor.MustView[float32](out["view"]))

	// Outputs outlive their model; a closed model answers ErrClosed.
	require.NoError(t, m.Close())
	assert.Equal(t, []float32{1, 4, 2, 5, 3, 6}, tensor.MustView[float32](out["strided"]))
	assert.Equal(t, []int64{0, 1, 2}, tensor.MustView[int64](out["longlong"]))
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": x})
	assert.ErrorIs(t, err, carton.ErrClosed)
}

// What a model must not return, and inputs numpy cannot hold, are errors.
func TestBadOutputsAndInputs(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	m := loadPython(t, `
import numpy as np

class Model:
    def infer_with_tensors(self, tensors):
        kind = int(tensors["kind"][0])
        if kind == 0:
            return {1: np.zeros(2)}
        if kind == 1:
            return [np.zeros(2)]
        if kind == 2:
            return {"c": np.zeros(2, dtype=np.complex64)}
        if kind == 3:
            return {}
        return {"ok": tensors["kind"]}

def get_model():
    return Model()
`, nil)
	for kind, want := range map[int64]string{0: "output names are str", 1: "not a dict of arrays", 2: "no dtype for numpy's complex64"} {
		k, _ := tensor.From(tensor.Shape{1}, []int64{kind})
		_, err := m.Infer(ctx, map[string]tensor.Tensor{"kind": k})
		require.Error(t, err, kind)
		assert.ErrorIs(t, err, carton.ErrFramework, kind)
		assert.Contains(t, err.Error(), want, kind)
	}
	bf, _ := tensor.From(tensor.Shape{1}, []tensor.BF16{tensor.NewBF16(1)})
	_, err := m.Infer(ctx, map[string]tensor.Tensor{"kind": bf})
	assert.ErrorIs(t, err, carton.ErrInvalidInput)
	assert.Contains(t, err.Error(), "numpy has no bfloat16")
	k, _ := tensor.From(tensor.Shape{1}, []int64{9})
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"kind": k, "\xff": k})
	assert.ErrorIs(t, err, carton.ErrInvalidInput)
	assert.Contains(t, err.Error(), "not UTF-8")

	k3, _ := tensor.From(tensor.Shape{1}, []int64{3})
	none, err := m.Infer(ctx, map[string]tensor.Tensor{"kind": k3})
	require.NoError(t, err)
	assert.Empty(t, none, "a model may return no outputs")

	// Still serving after all that.
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"kind": k})
	require.NoError(t, err)
	assert.Equal(t, []int64{9}, tensor.MustView[int64](out["ok"]))
	m.ReleaseOutputs(out)
}

// Many goroutines on one model: Python serialises them; every answer is
// its own caller's.
func TestConcurrentInfer(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	m := loadPython(t, echoModel, map[string]any{"model.scale": int64(2)})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				v := float32(g*1000 + i)
				x, _ := tensor.From(tensor.Shape{1, 2}, []float32{v, v + 1})
				w, _ := tensor.FromStrings(tensor.Shape{1}, []string{fmt.Sprint("g", g)})
				out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "w": w})
				if err != nil {
					errs <- err
					return
				}
				y := tensor.MustView[float32](out["y"])
				words, _ := out["words"].Strings()
				ok := y[0] == 2*v && y[1] == 2*(v+1) && words[0] == fmt.Sprint("G", g)
				if !ok {
					errs <- fmt.Errorf("goroutine %d call %d: got %v %v", g, i, y, words)
				}
				m.ReleaseOutputs(out)
				if !ok {
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Outputs a caller never releases are dropped in Python once no tensor
// over them is reachable.
func TestUnreleasedOutputsAreDropped(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	m := loadPython(t, `
import weakref
import numpy as np

class Model:
    def __init__(self):
        self.refs = []

    def infer_with_tensors(self, tensors):
        alive = sum(1 for r in self.refs if r() is not None)
        y = np.ones(1 << 16, dtype=np.float32)
        self.refs.append(weakref.ref(y))
        return {"y": y, "alive": np.array([alive], dtype=np.int64)}

def get_model():
    return Model()
`, nil)
	x, _ := tensor.From(tensor.Shape{1}, []float32{1})
	in := map[string]tensor.Tensor{"x": x}
	for range 20 {
		out, err := m.Infer(ctx, in)
		require.NoError(t, err)
		_ = out // dropped without ReleaseOutputs
	}
	var alive int64 = -1
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		out, err := m.Infer(ctx, in)
		require.NoError(t, err)
		alive = tensor.MustView[int64](out["alive"])[0]
		m.ReleaseOutputs(out)
		if alive == 0 {
			break
		}
	}
	assert.Zero(t, alive, "arrays of unreleased outputs still alive in Python")
}

// loadPython packs and loads a python model, closed when t ends.
func loadPython(t *testing.T, main string, opts map[string]any) *carton.Model {
	m, err := carton.Load(context.Background(), packPython(t, main, opts))
	testneed.Runtime(t, err)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// Upstream's other model shape: seal(tensors) -> an int handle, then
// infer_with_handle(handle), which an infer calls in turn when the model
// has no infer_with_tensors.
func TestSealAndInferWithHandle(t *testing.T) {
	isolated(t)
	ctx := context.Background()
	m := loadPython(t, `
import itertools
import numpy as np

class Model:
    def __init__(self):
        self.sealed, self.ids = {}, itertools.count(7)

    def seal(self, tensors):
        h = next(self.ids)
        self.sealed[h] = {k: np.array(v) for k, v in tensors.items()}
        return h

    def infer_with_handle(self, handle):
        x = self.sealed.pop(handle)["x"]
        return {"y": x * 2, "handle": np.array([handle], dtype=np.int64), "left": np.array([len(self.sealed)], dtype=np.int64)}

def get_model():
    return Model()
`, nil)
	for i := range 3 {
		x, _ := tensor.From(tensor.Shape{2}, []float32{1, float32(i)})
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
		require.NoError(t, err)
		assert.Equal(t, []float32{2, float32(2 * i)}, tensor.MustView[float32](out["y"]))
		assert.Equal(t, []int64{int64(7 + i)}, tensor.MustView[int64](out["handle"]))
		assert.Equal(t, []int64{0}, tensor.MustView[int64](out["left"]))
		m.ReleaseOutputs(out)
	}

	bad := loadPython(t, `
class Model:
    def seal(self, tensors):
        return "handle"

    def infer_with_handle(self, handle):
        return {}

def get_model():
    return Model()
`, nil)
	x, _ := tensor.From(tensor.Shape{1}, []float32{1})
	_, err := bad.Infer(ctx, map[string]tensor.Tensor{"x": x})
	assert.ErrorIs(t, err, carton.ErrFramework)
	assert.Contains(t, err.Error(), "seal returned str, not an int handle")

	_, err = carton.Load(ctx, packPython(t, "class M:\n    def seal(self, t):\n        return 1\n\ndef get_model():\n    return M()\n", nil))
	assert.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "nor seal and infer_with_handle")
}
