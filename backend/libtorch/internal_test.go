package libtorch

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/dlopen"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// testShim loads the shim of the libtorch TestEveryLibtorch picked for this
// child process (CARTON_TEST_LIBTORCH_VERSION).
func testShim(t *testing.T) *shim {
	v := os.Getenv("CARTON_TEST_LIBTORCH_VERSION")
	if v == "" {
		t.Skip("runs in a child process of TestEveryLibtorch")
	}
	rts, err := Runner{}.Runtimes(context.Background(), backend.Hints{})
	require.NoError(t, err)
	for _, rt := range rts {
		if rt.Version == v {
			s, err := loadShim(context.Background(), rt)
			require.NoError(t, err)
			return s
		}
	}
	t.Fatalf("libtorch %s not found", v)
	return nil
}

// ramp is an n/4 x 4 float32 tensor holding 0, 1, 2, ...
func ramp(t *testing.T, n int) tensor.Tensor {
	xs := make([]float32, n)
	for i := range xs {
		xs[i] = float32(i)
	}
	x, err := tensor.From(tensor.Shape{int64(n / 4), 4}, xs)
	require.NoError(t, err)
	return x
}

// Small outputs are copied into Go memory and their result goes back to
// the shim with the next forward; larger ones stay in libtorch memory,
// zero-copy, until released, even after the module is closed.
func TestOnOutputMemory(t *testing.T) {
	s := testShim(t)
	m, err := newModule(s, filepath.Join("..", "..", "testdata", "torch", "dict_io.pt"), nil, "cpu", &format.Config{})
	require.NoError(t, err)
	ctx := context.Background()

	small := ramp(t, 12)
	out := map[string]tensor.Tensor{} // one map for every call, as carton.InferInto's callers pass
	for range 50 {
		require.NoError(t, m.Infer(ctx, map[string]tensor.Tensor{"x": small}, out))
		assert.False(t, out["y"].IsForeign())
		assert.False(t, out["doubled"].IsForeign())
		assert.Equal(t, float32(22), tensor.MustView[float32](out["doubled"])[11])
	}
	assert.Equal(t, 1, m.retiredCount(), "one caller: each forward frees the result of the one before")
	assert.NotZero(t, m.retiredOne.Load(), "one caller's result waits in the lock-free slot")

	// 2048x4 floats: doubled is 32 KiB (stays in libtorch), y is 2048x2,
	// exactly backend.SmallOutputBytes (copied).
	big := ramp(t, 8192)
	out = map[string]tensor.Tensor{}
	require.NoError(t, m.Infer(ctx, map[string]tensor.Tensor{"x": big}, out))
	assert.True(t, out["doubled"].IsForeign())
	assert.False(t, out["y"].IsForeign())
	assert.Equal(t, backend.SmallOutputBytes, out["y"].ByteLen())
	assert.Zero(t, m.retiredCount(), "a result an output still uses is not retired")

	require.NoError(t, m.Close())
	assert.Zero(t, m.retiredCount(), "Close frees the retired results")
	d := tensor.MustView[float32](out["doubled"])
	assert.Equal(t, float32(2*8191), d[8191], "a libtorch output outlives its module")
	out["doubled"].Release()
	out["y"].Release()
}

// retiredCount is how many results wait for the next forward.
func (m *module) retiredCount() int {
	m.retiredMu.Lock()
	defer m.retiredMu.Unlock()
	n := len(m.retired)
	if m.retiredOne.Load() != 0 {
		n++
	}
	return n
}

// Results retired while the lock-free slot is taken (concurrent calls)
// queue behind it; a forward takes the slot and up to maxDone-1 queued
// ones, oldest first; past maxRetired a result is freed at once.
func TestRetiredResultsQueue(t *testing.T) {
	var freed []uintptr
	m := &module{freeResult: func(r uintptr) { freed = append(freed, r) }}
	for r := uintptr(1); r <= maxRetired+2; r++ {
		m.retire(r)
	}
	assert.Equal(t, maxRetired+1, m.retiredCount(), "the slot and a full queue")
	assert.Equal(t, []uintptr{maxRetired + 2}, freed, "past the bound: freed at once")

	cs := &callState{}
	m.takeRetired(cs)
	require.EqualValues(t, maxDone, cs.call.nDone)
	assert.Equal(t, [maxDone]uintptr{1, 2, 3, 4, 5, 6, 7, 8}, cs.call.done)
	assert.Equal(t, maxRetired+1-maxDone, m.retiredCount())
	for m.retiredCount() > 0 {
		m.takeRetired(cs)
	}
	m.takeRetired(cs)
	assert.Zero(t, cs.call.nDone, "nothing left to free")
	m.retire(99)
	m.takeRetired(cs)
	assert.EqualValues(t, 1, cs.call.nDone)
	assert.Equal(t, uintptr(99), cs.call.done[0])
}

// A call state remembers the last call's input names and their order; a
// call with other names (more, fewer, or as many but different) must
// gather them afresh, and the outputs must follow.
func TestOnChangingInputNames(t *testing.T) {
	s := testShim(t)
	m, err := newModule(s, filepath.Join("..", "..", "testdata", "torch", "dict_io.pt"), nil, "cpu", &format.Config{})
	require.NoError(t, err)
	defer m.Close()
	ctx := context.Background()
	a, b := ramp(t, 4), ramp(t, 8)
	doubled := func(in map[string]tensor.Tensor) []float32 {
		out := map[string]tensor.Tensor{}
		require.NoError(t, m.Infer(ctx, in, out))
		return tensor.MustView[float32](out["doubled"])
	}
	assert.Equal(t, []float32{0, 2, 4, 6}, doubled(map[string]tensor.Tensor{"x": a}))
	assert.Equal(t, []float32{0, 2, 4, 6}, doubled(map[string]tensor.Tensor{"x": a, "w": b}), "an extra name")
	err = m.Infer(ctx, map[string]tensor.Tensor{"w": a}, map[string]tensor.Tensor{})
	require.ErrorIs(t, err, ErrTorch, "as many names as before, but not x")
	assert.Contains(t, err.Error(), "KeyError: x")
	assert.Len(t, doubled(map[string]tensor.Tensor{"x": b}), 8, "x again, another size")
	assert.Len(t, doubled(map[string]tensor.Tensor{"x": a}), 4)
}

func TestCstrIs(t *testing.T) {
	c := dlopen.CString("doubled")
	p := uintptr(unsafe.Pointer(&c[0]))
	assert.True(t, cstrIs(p, "doubled"))
	assert.False(t, cstrIs(p, "double"), "a prefix")
	assert.False(t, cstrIs(p, "doubled2"), "longer")
	assert.False(t, cstrIs(p, "tripled"))
	assert.False(t, cstrIs(p, ""))
	runtime.KeepAlive(c)
}

// A reused output map keeps exactly this call's outputs: entries under
// their names are overwritten, others deleted, and none of the caller's
// is released.
func TestOnReusedOutputMap(t *testing.T) {
	s := testShim(t)
	m, err := newModule(s, filepath.Join("..", "..", "testdata", "torch", "dict_io.pt"), nil, "cpu", &format.Config{})
	require.NoError(t, err)
	defer m.Close()
	released := map[string]bool{}
	callers := func(name string) tensor.Tensor {
		v := []float32{1}
		ct, err := tensor.Foreign(tensor.Float32, tensor.Shape{1}, unsafe.Pointer(&v[0]), 4, func() { released[name] = true })
		require.NoError(t, err)
		return ct
	}
	out := map[string]tensor.Tensor{"y": callers("y"), "stale": callers("stale")}
	for range 3 {
		require.NoError(t, m.Infer(context.Background(), map[string]tensor.Tensor{"x": ramp(t, 8)}, out))
		assert.Len(t, out, 2)
		assert.Equal(t, []float32{0, 2, 4, 6, 8, 10, 12, 14}, tensor.MustView[float32](out["doubled"]))
		assert.False(t, out["y"].IsForeign(), "y is this call's output")
	}
	assert.Empty(t, released)
}

// A declared output may not take the name the shim gives a positional
// output past the declared ones; the check runs at load.
func TestDefaultNameClash(t *testing.T) {
	names := func(ns ...string) []cname {
		var out []cname
		for _, n := range ns {
			out = append(out, cname{name: n})
		}
		return out
	}
	for _, c := range []struct {
		declared []string
		clash    string
	}{
		{[]string{"sum", "product"}, ""},
		{[]string{"output_0"}, ""},         // position 0 is named by the declaration itself
		{[]string{"a", "output_1"}, ""},    // likewise position 1
		{[]string{"output_1"}, "output_1"}, // position 1 would be named output_1 too
		{[]string{"a", "b", "output_7"}, "output_7"},
		{[]string{"output_01", "output_x"}, ""}, // not names the shim makes
	} {
		name, clash := defaultNameClash(names(c.declared...))
		assert.Equal(t, c.clash != "", clash, c.declared)
		assert.Equal(t, c.clash, name, c.declared)
	}
}

func TestOnDefaultNameClashAtLoad(t *testing.T) {
	s := testShim(t)
	_, err := newModule(s, filepath.Join("..", "..", "testdata", "torch", "positional.pt"), nil, "cpu",
		&format.Config{Outputs: []format.TensorSpec{{Name: "output_1", DType: tensor.Float32}}})
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), `"output_1"`)
}
