package onnx_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/tensor"
)

func TestValuesDeclaredWithoutAShapeTakeAnyRank(t *testing.T) {
	ctx := context.Background()
	path := pack(t, filepath.Join(models, "any_rank.onnx"), nil)
	info, err := carton.ModelInfo(ctx, path)
	require.NoError(t, err)
	assert.Equal(t, "[x:float32:* scale:float32:[] to:int64:[k]]", fmt.Sprint(info.Inputs),
		"no shape is any shape; an empty shape is a scalar")
	assert.Equal(t, "[scaled:float32:* reshaped:float32:*]", fmt.Sprint(info.Outputs))

	onEveryRuntime(t, path, func(t *testing.T, m *carton.Model) {
		scale, _ := tensor.From(tensor.Shape{}, []float32{3})
		for _, shape := range []tensor.Shape{{4}, {1, 2, 2}, {}} {
			n, _ := shape.NumElements()
			x, _ := tensor.From(shape, make([]float32, n))
			for i := range tensor.MustView[float32](x) {
				tensor.MustView[float32](x)[i] = float32(i + 1)
			}
			to, _ := tensor.From(tensor.Shape{2}, []int64{int64(n), 1})
			out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "scale": scale, "to": to})
			require.NoError(t, err, "x of shape %v", shape)
			assert.Equal(t, shape, out["scaled"].Shape())
			assert.Equal(t, tensor.Shape{int64(n), 1}, out["reshaped"].Shape())
			want := make([]float32, n)
			for i := range want {
				want[i] = 3 * float32(i+1)
			}
			assert.Equal(t, want, tensor.MustView[float32](out["scaled"]))
			m.ReleaseOutputs(out)
		}
		vector, _ := tensor.From(tensor.Shape{1}, []float32{3})
		x, _ := tensor.From(tensor.Shape{1}, []float32{1})
		to, _ := tensor.From(tensor.Shape{1}, []int64{1})
		_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": x, "scale": vector, "to": to})
		assert.ErrorIs(t, err, carton.ErrInvalidInput, "a scalar stays a scalar")
	})
}

func TestPassedThroughInputs(t *testing.T) {
	ctx := context.Background()
	path := pack(t, filepath.Join(models, "passthrough.onnx"), nil)
	onEveryRuntime(t, path, func(t *testing.T, m *carton.Model) {
		for _, rows := range []int{3, 20000} { // outputs Go allocates before the run, and ORT after
			values := make([]float32, 2*rows)
			for i := range values {
				values[i] = float32(i)
			}
			x, _ := tensor.From(tensor.Shape{int64(rows), 2}, values)
			out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
			require.NoError(t, err)
			assert.Nil(t, tensor.Compare(out["x"], x, tensor.Tolerance{}), "%d rows", rows)
			assert.Equal(t, x.Pointer(), out["x"].Pointer(), "a view of the caller's input")
			assert.False(t, out["x"].IsForeign())
			assert.Equal(t, 2*values[rows], tensor.MustView[float32](out["doubled"])[rows])

			// An input in another owner's memory (an output fed back) is
			// copied: its owner may release it before the output.
			fed := refdata.OwnedElsewhere(t, x)
			again, err := m.Infer(ctx, map[string]tensor.Tensor{"x": fed})
			require.NoError(t, err)
			assert.NotEqual(t, fed.Pointer(), again["x"].Pointer())
			fed.Release()
			assert.Nil(t, tensor.Compare(again["x"], x, tensor.Tolerance{}), "%d rows", rows)
			m.ReleaseOutputs(again)
		}
	})
}

func TestOutputsBreakingTheirDeclaredShape(t *testing.T) {
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, filepath.Join(models, "lying_static.onnx"), nil), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	x, _ := tensor.From(tensor.Shape{2, 4}, []float32{0, 1, 2, 3, 4, 5, 6, 7})
	for _, start := range []int64{1, 0, 1, 2} { // the model declares [2, 4]: true only for 0
		st, _ := tensor.From(tensor.Shape{1}, []int64{start})
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "start": st})
		require.NoError(t, err)
		assert.Equal(t, tensor.Shape{2 - start, 4}, out["y"].Shape(), "start %d", start)
		assert.Equal(t, []float32{0, 1, 2, 3, 4, 5, 6, 7}[4*start:], tensor.MustView[float32](out["y"]))
		m.ReleaseOutputs(out)
	}
}

// ORT takes strings as C strings; one holding a NUL byte is written whole.
func TestStringsWithNULBytes(t *testing.T) {
	ctx := context.Background()
	path := pack(t, filepath.Join(models, "strings.onnx"), nil)
	onEveryRuntime(t, path, func(t *testing.T, m *carton.Model) {
		text, _ := tensor.FromStrings(tensor.Shape{4}, []string{"a\x00b", "", "xy\x00", "\x00"})
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"text": text})
		require.NoError(t, err)
		got, _ := out["upper"].Strings()
		assert.Equal(t, []string{"A\x00B", "", "XY\x00", "\x00"}, got)
	})
}

// onEveryRuntime loads the carton at path on each ONNX Runtime this machine
// offers and runs test on it, as a subtest per runtime.
func onEveryRuntime(t *testing.T, path string, test func(*testing.T, *carton.Model)) {
	for _, rt := range runtimes(t) {
		t.Run(rt.Version+"-"+rt.Source, func(t *testing.T) {
			m, err := carton.Load(context.Background(), path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
			require.NoError(t, err)
			defer m.Close()
			test(t, m)
		})
	}
}

// Outputs that are not tensors (a sequence here; skl2onnx's ZipMap gives a
// sequence of maps) are left out of the carton's specs and of every run;
// the tensor outputs beside them are served. A model with none fails Load.
func TestNonTensorOutputsAreLeftOut(t *testing.T) {
	info, err := carton.ModelInfo(context.Background(), pack(t, filepath.Join(models, "sequence_output.onnx"), nil))
	require.NoError(t, err)
	assert.Equal(t, "[y:float32:[n,2]]", fmt.Sprint(info.Outputs))

	dir := t.TempDir()
	_, err = carton.Pack(context.Background(), filepath.Join(models, "sequence_only.onnx"), filepath.Join(dir, "seq_only.carton"), carton.PackOptions{})
	require.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "the model has no tensor outputs (pieces")
}
