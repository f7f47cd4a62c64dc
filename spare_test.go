package carton_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/racebuild"
	"github.com/carton-run/carton/tensor"
)

// echoInputs are inputs for the noop carton whose x is foreign memory
// counting its releases in released (the noop runner returns its inputs).
func echoInputs(t *testing.T, released *atomic.Int32, first float32) map[string]tensor.Tensor {
	t.Helper()
	buf := []float32{first, 2, 3, 4, 5, 6}
	x, err := tensor.Foreign(tensor.Float32, tensor.Shape{2, 3}, unsafe.Pointer(&buf[0]), 24, func() { released.Add(1) })
	require.NoError(t, err)
	ids, err := tensor.From(tensor.Shape{2}, []int64{7, 8})
	require.NoError(t, err)
	return map[string]tensor.Tensor{"x": x, "ids": ids}
}

func mapID(m map[string]tensor.Tensor) unsafe.Pointer { return reflect.ValueOf(m).UnsafePointer() }

func TestReleaseOutputsReleasesAndLeavesTheMapTheCallers(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	defer m.Close()
	var released atomic.Int32

	out, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	x := out["x"]
	m.ReleaseOutputs(out)
	assert.EqualValues(t, 1, released.Load(), "the foreign output is released")
	assert.False(t, x.Valid(), "a copy of a released output is invalid")
	assert.False(t, out["x"].Valid(), "the map's own copy is released too")

	again, err := m.Infer(ctx, echoInputs(t, &released, 10))
	require.NoError(t, err)
	assert.NotEqual(t, mapID(out), mapID(again), "a map given back is never handed to another call")
	require.Len(t, again, 2)
	v, err := tensor.View[float32](again["x"])
	require.NoError(t, err)
	assert.Equal(t, float32(10), v[0])

	m.ReleaseOutputs(again)
	m.ReleaseOutputs(again) // twice: released once, kept once
	assert.EqualValues(t, 2, released.Load())
	a, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	b, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	assert.NotEqual(t, mapID(a), mapID(b), "a map given back twice goes to one call only")

	m.ReleaseOutputs(b)
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": tensor.Scalar(float32(1))})
	require.ErrorIs(t, err, carton.ErrInvalidInput)
	c, err := m.Infer(ctx, echoInputs(t, &released, 1))
	require.NoError(t, err)
	assert.NotEqual(t, mapID(b), mapID(c))
	assert.Len(t, c, 2)

	m.ReleaseOutputs(nil) // nothing to do
}

// The model keeps no map given back, so nothing in it (a large Go
// output, strings) stays reachable from the model.
func TestReleaseOutputsLeavesTheMapAlone(t *testing.T) {
	ctx := context.Background()
	m, cleanup := loadEcho(ctx) // declares no inputs
	defer cleanup()
	big, err := tensor.New(tensor.Float32, tensor.Shape{1 << 15, 3}) // 384 KiB
	require.NoError(t, err)
	small, err := tensor.From(tensor.Shape{2}, []int64{7, 8})
	require.NoError(t, err)
	words, err := tensor.FromStrings(tensor.Shape{1}, []string{"kept?"})
	require.NoError(t, err)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": big, "ids": small, "s": words})
	require.NoError(t, err)
	before := maps.Clone(out)
	m.ReleaseOutputs(out)
	assert.Equal(t, before, out, "the map is the caller's: giving it back does not touch its entries")
}

// Under -race: maps handed between goroutines through ReleaseOutputs never
// reach two calls at once, and each call sees its own outputs.
func TestReleaseOutputsConcurrent(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	defer m.Close()
	var released atomic.Int32
	calls := concurrently(func(want float32) bool {
		out, err := m.Infer(ctx, echoInputs(t, &released, want))
		if !assert.NoError(t, err) {
			return false
		}
		v, err := tensor.View[float32](out["x"])
		if !assert.NoError(t, err) || !assert.Equal(t, want, v[0]) || !assert.Len(t, out, 2) {
			return false
		}
		m.ReleaseOutputs(out)
		return true
	})
	assert.EqualValues(t, calls, released.Load())
}

// concurrently runs call on 8 goroutines, 300 times each, each time with
// a value no other call gets, until it returns false; it returns how many
// calls it made in all.
func concurrently(call func(want float32) bool) int {
	var wg sync.WaitGroup
	const goroutines, calls = 8, 300
	for g := range goroutines {
		wg.Go(func() {
			for i := range calls {
				if !call(float32(g*calls + i)) {
					return
				}
			}
		})
	}
	wg.Wait()
	return goroutines * calls
}

// loadCopy loads a carton for the test-copy runner (blockrunner_internal_test.go),
// which copies its numeric inputs into one Go block, taking the block it
// is offered when it can.
func loadCopy(t testing.TB) *carton.Model {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "weights.bin")
	require.NoError(t, os.WriteFile(model, []byte("weights"), 0o644))
	path := filepath.Join(dir, "copy.carton")
	_, err := carton.Pack(context.Background(), model, path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "test-copy", RequiredFrameworkVersion: "*"}}})
	require.NoError(t, err)
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func floats(t testing.TB, vs ...float32) tensor.Tensor {
	t.Helper()
	x, err := tensor.From(tensor.Shape{int64(len(vs))}, vs)
	require.NoError(t, err)
	return x
}

func firstFloat(t testing.TB, x tensor.Tensor) float32 {
	t.Helper()
	v, err := tensor.View[float32](x)
	require.NoError(t, err)
	return v[0]
}

// The outputs of a map given back are refilled in place, over the same Go
// memory: the block its outputs occupied goes back to the runner with it.
func TestReleaseOutputsReusesTheOutputsMemory(t *testing.T) {
	ctx := context.Background()
	m := loadCopy(t)
	first, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 1, 2)})
	require.NoError(t, err)
	m.ReleaseOutputs(first) // a first call's map goes out alone: its block is not known
	second, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 2, 2)})
	require.NoError(t, err)
	at := second["x"].Pointer()
	m.ReleaseOutputs(second)
	third, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 3, 2)})
	require.NoError(t, err)
	assert.Equal(t, at, third["x"].Pointer(), "the outputs reuse the memory given back")
	assert.Equal(t, float32(3), firstFloat(t, third["x"]))

	// A larger output than the block holds gets a new block.
	m.ReleaseOutputs(third)
	big, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, make([]float32, 64)...)})
	require.NoError(t, err)
	assert.NotEqual(t, at, big["x"].Pointer())
	assert.Len(t, tensor.MustView[float32](big["x"]), 64)
}

// InferInto may refill a map Infer returned; the caller may still hold the
// outputs it had, so their memory is not reused when the map comes back.
func TestReleaseOutputsAfterInferIntoKeepsEarlierOutputs(t *testing.T) {
	ctx := context.Background()
	m := loadCopy(t)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 1)})
	require.NoError(t, err)
	m.ReleaseOutputs(out)
	out, err = m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 2)})
	require.NoError(t, err)
	held := out["x"] // from Infer, then dropped by InferInto without release: still the caller's
	require.NoError(t, m.InferInto(ctx, map[string]tensor.Tensor{"x": floats(t, 3)}, out))
	m.ReleaseOutputs(out)
	next, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 4)})
	require.NoError(t, err)
	assert.NotEqual(t, held.Pointer(), next["x"].Pointer())
	assert.Equal(t, float32(2), firstFloat(t, held), "an output InferInto dropped is not overwritten")
	assert.Equal(t, float32(4), firstFloat(t, next["x"]))
}

// An output fed back as the next input (a recurrent state, say) after its
// map was given back, which ReleaseOutputs forbids, is at least not carved
// over by that call: the runner gets a new block.
func TestReleaseOutputsOutputFedBackAsInput(t *testing.T) {
	ctx := context.Background()
	m := loadCopy(t)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 1, 2, 3)})
	require.NoError(t, err)
	m.ReleaseOutputs(out)
	out, err = m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 5, 6, 7)})
	require.NoError(t, err)
	state := out["x"]
	m.ReleaseOutputs(out)
	next, err := m.Infer(ctx, map[string]tensor.Tensor{"x": state})
	require.NoError(t, err)
	assert.NotEqual(t, state.Pointer(), next["x"].Pointer())
	if !racebuild.Enabled { // which poisons state (spare_race_test.go)
		assert.Equal(t, []float32{5, 6, 7}, tensor.MustView[float32](next["x"]))
	}
}

// With the outputs' memory given back, InferInto on one map allocates
// nothing, and Infer only its new map.
func TestReleaseOutputsSavesTheOutputsAllocation(t *testing.T) {
	ctx := context.Background()
	m := loadCopy(t)
	in := map[string]tensor.Tensor{"x": floats(t, 1, 2)}
	out := map[string]tensor.Tensor{}
	into := testing.AllocsPerRun(100, func() {
		if err := m.InferInto(ctx, in, out); err != nil {
			panic(err)
		}
		m.ReleaseOutputs(out)
	})
	assert.Zero(t, into)
	fresh := testing.AllocsPerRun(100, func() {
		out, err := m.Infer(ctx, in)
		if err != nil {
			panic(err)
		}
		m.ReleaseOutputs(out)
	})
	plain := testing.AllocsPerRun(100, func() {
		if _, err := m.Infer(ctx, in); err != nil {
			panic(err)
		}
	})
	assert.Equal(t, plain-1, fresh, "Infer with ReleaseOutputs saves the block, not the map")
}

// Under -race: concurrent callers each get outputs no other call writes.
func TestReleaseOutputsReusesMemoryConcurrently(t *testing.T) {
	ctx := context.Background()
	m := loadCopy(t)
	concurrently(func(want float32) bool {
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, want, want)})
		if !assert.NoError(t, err) {
			return false
		}
		runtime.Gosched() // let other calls run while these outputs are held
		if !assert.Equal(t, []float32{want, want}, tensor.MustView[float32](out["x"])) {
			return false
		}
		m.ReleaseOutputs(out)
		return true
	})
}

// Random sequences of Infer, InferInto and ReleaseOutputs, as callers may
// mix them: every output the caller may still use (from a map not given
// back, or dropped from a map by InferInto, which does not release) keeps
// its values whatever memory later calls reuse.
func TestReleaseOutputsNeverOverwritesHeldOutputs(t *testing.T) {
	ctx := context.Background()
	m := loadCopy(t)
	rng := rand.New(rand.NewPCG(1, 2))
	type held struct {
		x    tensor.Tensor
		want float32
	}
	var maps []map[string]tensor.Tensor // out with the caller
	var kept []held                     // outputs the caller may still use
	for step := range 2000 {
		v := float32(step)
		n := 1 + rng.IntN(6) // sizes vary, so blocks are sometimes too small
		switch op := rng.IntN(3); {
		case op == 0 || len(maps) == 0:
			out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, slices.Repeat([]float32{v}, n)...)})
			require.NoError(t, err)
			maps = append(maps, out)
			kept = append(kept, held{out["x"], v})
		case op == 1:
			i := rng.IntN(len(maps))
			out := maps[i]
			require.NoError(t, m.InferInto(ctx, map[string]tensor.Tensor{"x": floats(t, slices.Repeat([]float32{v}, n)...)}, out))
			kept = append(kept, held{out["x"], v}) // the one it replaced stays in kept
		default:
			i := rng.IntN(len(maps))
			out := maps[i]
			maps = slices.Delete(maps, i, i+1)
			gone := out["x"].Pointer() // the map's own output goes back with it; those InferInto dropped stay
			kept = slices.DeleteFunc(kept, func(h held) bool { return h.x.Pointer() == gone })
			m.ReleaseOutputs(out)
		}
		for _, h := range kept {
			for _, got := range tensor.MustView[float32](h.x) {
				if got != h.want {
					t.Fatalf("step %d: an output the caller still holds reads %v, want %v", step, got, h.want)
				}
			}
		}
	}
}
