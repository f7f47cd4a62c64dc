package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/internal/ziptest"
	"github.com/carton-run/carton/tensor"
)

// everyRunner packs and loads one model of each framework (libtorch's
// dict_io declares no specs: TorchScript reports none), with the inputs
// and reference outputs of each.
type runnerModel struct {
	name    string
	m       *carton.Model
	in, out map[string]tensor.Tensor
}

func everyRunner(t *testing.T) []runnerModel {
	t.Helper()
	ctx := context.Background()
	models := "../../testdata/"
	var out []runnerModel
	for _, c := range []struct{ dir, name, model string }{
		{"tensorflow", "dense", "dense"},
		{"torch", "dict_io", "dict_io.pt"},
		{"onnx", "matmul_add", "matmul_add.onnx"},
	} {
		path := filepath.Join(t.TempDir(), c.name+".carton")
		_, err := carton.Pack(ctx, models+c.dir+"/"+c.model, path, carton.PackOptions{})
		var m *carton.Model
		if err == nil {
			m, err = carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()))
		}
		if errors.Is(err, carton.ErrNoRuntime) && os.Getenv("CI") != "true" {
			t.Skipf("%s: %v (run make setup)", c.name, err)
		}
		require.NoError(t, err, c.name)
		t.Cleanup(func() { m.Close() })
		in, want := refdata.Load(t, models+c.dir, c.name)
		out = append(out, runnerModel{c.name, m, in, want})
	}
	return out
}

// assertOutputs compares got with the model's reference outputs.
func (r runnerModel) assertOutputs(t *testing.T, got map[string]tensor.Tensor) bool {
	ok := true
	for k, w := range r.out {
		ok = assert.Nil(t, tensor.Compare(got[k], w, tensor.Tolerance{Rtol: 1e-4, Atol: 1e-5}), "%s %s", r.name, k) && ok
	}
	return ok
}

// released returns a foreign tensor over a copy of t's data, released.
func released(t *testing.T, x tensor.Tensor) tensor.Tensor {
	c, err := x.Clone()
	require.NoError(t, err)
	f, err := tensor.Foreign(c.DType(), c.Shape(), c.Pointer(), c.ByteLen(), func() {})
	require.NoError(t, err)
	f.Release()
	require.False(t, f.Valid())
	return f
}

// Every runner refuses a released tensor, or the zero Tensor, as an
// input with ErrInvalidTensor (and ErrInvalidInput), whether or not the
// carton declares specs: none reaches the framework.
func TestEveryRunnerRefusesInvalidTensors(t *testing.T) {
	ctx := context.Background()
	for _, r := range everyRunner(t) {
		for name := range r.in {
			for what, bad := range map[string]tensor.Tensor{"released": released(t, r.in[name]), "zero": {}} {
				in := map[string]tensor.Tensor{}
				for k, v := range r.in {
					in[k] = v
				}
				in[name] = bad
				_, err := r.m.Infer(ctx, in)
				require.ErrorIs(t, err, carton.ErrInvalidTensor, "%s: %s input %s", r.name, what, name)
				require.ErrorIs(t, err, carton.ErrInvalidInput, "%s: %s input %s", r.name, what, name)
				assert.ErrorIs(t, r.m.InferInto(ctx, in, map[string]tensor.Tensor{}), carton.ErrInvalidTensor)
			}
		}
		// The model still works afterwards.
		got, err := r.m.Infer(ctx, r.in)
		require.NoError(t, err, r.name)
		r.assertOutputs(t, got)
		r.m.ReleaseOutputs(got)
	}
}

// ReleaseOutputs called on one map by several goroutines at once takes
// effect once: no later Infer shares a map with another, and every
// result keeps its values until its own caller gives it back. Run under
// -race, where a map handed to two calls is a reported race and released
// data is overwritten with 0xff.
func TestConcurrentDoubleReleaseOutputsIsHarmless(t *testing.T) {
	ctx := context.Background()
	for _, r := range everyRunner(t) {
		t.Run(r.name, func(t *testing.T) {
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Go(func() {
					for i := 0; i < 50; i++ {
						out, err := r.m.Infer(ctx, r.in)
						if !assert.NoError(t, err) {
							return
						}
						var rel sync.WaitGroup
						for k := 0; k < 3; k++ { // three releases of one map, at once
							rel.Go(func() { r.m.ReleaseOutputs(out) })
						}
						rel.Wait()
						r.m.ReleaseOutputs(out) // and once more, after

						// A fresh call's outputs hold their values while held.
						got, err := r.m.Infer(ctx, r.in)
						if !assert.NoError(t, err) {
							return
						}
						if !r.assertOutputs(t, got) {
							return
						}
						r.m.ReleaseOutputs(got)
					}
				})
			}
			wg.Wait()
		})
	}
}

// A carton whose declared specs contradict the model (a dtype, a rank, a
// dimension the model fixes) is refused: by Pack, where a runtime can read
// the model's, and at Load with ErrModel naming the tensor (a carton
// packed elsewhere, or edited), on the runners whose framework reports
// its specs.
func TestDeclaredSpecsContradictingTheModelAreRefused(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		model, from, to, want string
	}{
		{"onnx/matmul_add.onnx", `dtype = "float32"
shape = ["batch", 3]`, `dtype = "int64"
shape = ["batch", 3]`, `output "y" as int64`},
		{"onnx/matmul_add.onnx", `shape = ["batch", 4]`, `shape = ["batch", 5]`, `input "x"`},
		{"onnx/matmul_add.onnx", `shape = ["batch", 3]`, `shape = ["batch", 3, 1]`, `output "y"`},
		{"tensorflow/dense", `dtype = "float32"`, `dtype = "int32"`, `as int32`},
	} {
		t.Run(c.model+" "+c.want, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.carton")
			_, err := carton.Pack(ctx, "../../testdata/"+c.model, path, carton.PackOptions{})
			if errors.Is(err, carton.ErrNoRuntime) && os.Getenv("CI") != "true" {
				t.Skipf("%v (run make setup)", err)
			}
			require.NoError(t, err)
			info, err := carton.ModelInfo(ctx, path)
			require.NoError(t, err)
			cfg := *info.Config
			toml, err := cfg.Marshal()
			require.NoError(t, err)
			edited := strings.Replace(string(toml), c.from, c.to, 1)
			require.NotEqual(t, string(toml), edited, "the edit applies:\n%s", toml)
			bad, err := format.ParseConfig([]byte(edited))
			require.NoError(t, err)

			_, err = carton.Pack(ctx, "../../testdata/"+c.model, filepath.Join(t.TempDir(), "p.carton"), carton.PackOptions{Config: *bad})
			require.ErrorIs(t, err, carton.ErrModel, "Pack refuses it")
			assert.Contains(t, err.Error(), c.want)

			hostile := withConfig(t, path, []byte(edited))
			m, err := carton.Load(ctx, hostile, carton.WithCacheDir(t.TempDir()))
			if err == nil {
				m.Close()
			}
			if errors.Is(err, carton.ErrNoRuntime) && os.Getenv("CI") != "true" {
				t.Skipf("%v (run make setup)", err)
			}
			require.ErrorIs(t, err, carton.ErrModel, "Load refuses it")
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// withConfig writes a copy of the carton at path with carton.toml
// replaced (its MANIFEST line updated), as a carton packed elsewhere or
// edited by hand would be.
func withConfig(t *testing.T, path string, toml []byte) string {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	c, err := format.Open(path, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	entries := map[string]string{}
	for _, p := range c.Manifest.Paths() {
		entries[p], _ = c.Manifest.Hash(p)
	}
	entries["carton.toml"] = format.SHA256(toml)
	mf, err := format.NewManifest(entries)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "edited.carton")
	require.NoError(t, os.WriteFile(out, ziptest.Rewrite(t, raw, map[string][]byte{"carton.toml": toml, "MANIFEST": mf.Bytes()}), 0o644))
	return out
}
