package onnx_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/racebuild"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/internal/semver"
	"github.com/carton-run/carton/internal/ziptest"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

const models = "../../testdata/onnx"

// runtimes returns every ONNX Runtime this machine offers: what discovery
// finds plus the libraries in $CARTON_TEST_ORT_LIBS. Under CI=true finding
// fewer than two releases fails the test: CI installs three.
func runtimes(t *testing.T) []backend.Runtime {
	t.Helper()
	found, err := onnx.Runner{}.Runtimes(context.Background(), backend.Hints{})
	if err != nil && os.Getenv("CI") != "true" {
		t.Logf("discovery: %v", err)
	}
	for _, p := range filepath.SplitList(os.Getenv("CARTON_TEST_ORT_LIBS")) {
		if p == "" {
			continue
		}
		v, err := onnx.Version(p)
		require.NoError(t, err, "CARTON_TEST_ORT_LIBS names %s", p)
		found = append(found, backend.Runtime{Framework: "onnxruntime", Version: v, Source: "option", Path: p})
	}
	versions := map[string]bool{}
	for _, rt := range found {
		versions[rt.Version] = true
	}
	if os.Getenv("CI") == "true" {
		require.GreaterOrEqual(t, len(versions), 2, "CI must find at least two ONNX Runtime releases (run make setup); found %v", found)
	} else if len(found) == 0 {
		t.Skip("no ONNX Runtime found: run `make setup` or set CARTON_ONNXRUNTIME_LIB")
	}
	return found
}

// pack wraps a test model (a file, or a directory for external data) with
// specs read from the model itself.
func pack(t *testing.T, model string, opts map[string]any) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(model)+".carton")
	_, err := carton.Pack(context.Background(), model, out, carton.PackOptions{Config: format.Config{
		ModelName: filepath.Base(model),
		Runner:    format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: ">=1.20", Opts: opts},
	}})
	require.NoError(t, err)
	return out
}

func TestModelsOnEveryRuntime(t *testing.T) {
	rts := runtimes(t)
	cases := []struct{ name, model, dir string }{
		{"matmul_add", filepath.Join(models, "matmul_add.onnx"), models},
		{"multi_io", filepath.Join(models, "multi_io.onnx"), models},
		{"float16", filepath.Join(models, "float16.onnx"), models},
		{"strings", filepath.Join(models, "strings.onnx"), models},
		{"model", filepath.Join(models, "external"), filepath.Join(models, "external")},
		{"shape_of", filepath.Join(models, "shape_of.onnx"), models},
		{"lying_shape", filepath.Join(models, "lying_shape.onnx"), models},
		{"compute", filepath.Join(models, "compute.onnx"), models},
		{"any_rank", filepath.Join(models, "any_rank.onnx"), models},
		{"passthrough", filepath.Join(models, "passthrough.onnx"), models},
		{"lying_static", filepath.Join(models, "lying_static.onnx"), models},
		{"sequence_output", filepath.Join(models, "sequence_output.onnx"), models}, // its sequence output left out
	}
	for _, c := range cases {
		path := pack(t, c.model, nil)
		in, want := refdata.Load(t, c.dir, c.name)
		for _, rt := range rts {
			t.Run(c.name+"/"+rt.Version+"-"+rt.Source, func(t *testing.T) {
				ctx := context.Background()
				m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
				require.NoError(t, err)
				defer m.Close()
				assert.Equal(t, rt.Version, m.Info().Runtime.Version)
				got, err := m.Infer(ctx, in)
				require.NoError(t, err)
				require.Len(t, got, len(want))
				if strings.HasPrefix(c.name, "lying_") { // a second call goes straight to ORT-allocated outputs
					for _, o := range got {
						o.Release()
					}
					got, err = m.Infer(ctx, in)
					require.NoError(t, err)
				}
				for name, w := range want {
					tol := tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}
					if w.DType() == tensor.Float16 {
						tol = tensor.Tolerance{Rtol: 1e-3, Atol: 1e-3}
					}
					if c.name == "compute" { // 512-term sums: accumulation order differs across releases
						tol = tensor.Tolerance{Rtol: 1e-4, Atol: 1e-3}
					}
					assert.Nil(t, tensor.Compare(got[name], w, tol), "%s: got %v", name, got[name])
					got[name].Release()
				}
			})
		}
	}
}

func TestPackFillsSpecsFromTheModel(t *testing.T) {
	runtimes(t)
	info, err := carton.ModelInfo(context.Background(), pack(t, filepath.Join(models, "multi_io.onnx"), nil))
	require.NoError(t, err)
	assert.Equal(t, "[a:float32:[n,2] ids:int64:[n] mask:bool:[n]]", fmt.Sprint(info.Inputs))
	assert.Equal(t, "[scaled:float32:[n,2] next_ids:int64:[n] inverted:bool:[n] masked_sum:float32:[n]]", fmt.Sprint(info.Outputs))
}

func TestVersionSelection(t *testing.T) {
	rts := runtimes(t)
	ctx := context.Background()
	newest := rts[0]
	for _, rt := range rts {
		if semverLess(newest.Version, rt.Version) {
			newest = rt
		}
	}
	m, err := carton.Load(ctx, pack(t, filepath.Join(models, "matmul_add.onnx"), nil), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	m.Close()
	if m.Info().Runtime.Source != "option" { // discovery picks the newest it found
		found, _ := onnx.Runner{}.Runtimes(ctx, backend.Hints{})
		best := found[0]
		for _, rt := range found {
			if semverLess(best.Version, rt.Version) {
				best = rt
			}
		}
		assert.Equal(t, best.Version, m.Info().Runtime.Version)
	}

	out := filepath.Join(t.TempDir(), "old.carton")
	_, err = carton.Pack(ctx, filepath.Join(models, "matmul_add.onnx"), out, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "=1.99"}}})
	require.NoError(t, err)
	_, err = carton.Load(ctx, out, carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrNoRuntime)
	assert.Contains(t, err.Error(), "onnxruntime =1.99")
}

func semverLess(a, b string) bool {
	return semver.MustParse(a).Compare(semver.MustParse(b)) < 0
}

func TestConcurrentInfer(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, filepath.Join(models, "multi_io.onnx"), nil), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				n := 1 + (g+i)%5
				a := make([]float32, 2*n)
				ids := make([]int64, n)
				mask := make([]bool, n)
				for j := range ids {
					a[2*j], a[2*j+1], ids[j], mask[j] = float32(g), float32(i), int64(g*1000+i), j%2 == 0
				}
				at, _ := tensor.From(tensor.Shape{int64(n), 2}, a)
				it, _ := tensor.From(tensor.Shape{int64(n)}, ids)
				mt, _ := tensor.From(tensor.Shape{int64(n)}, mask)
				out, err := m.Infer(ctx, map[string]tensor.Tensor{"a": at, "ids": it, "mask": mt})
				if !assert.NoError(t, err) {
					return
				}
				next := tensor.MustView[int64](out["next_ids"])
				sums := tensor.MustView[float32](out["masked_sum"])
				for j := 0; j < n; j++ {
					assert.Equal(t, int64(g*1000+i+1), next[j])
					want := float32(0)
					if j%2 == 0 {
						want = float32(g + i)
					}
					assert.Equal(t, want, sums[j])
				}
				if g%2 == 0 { // half give their maps back: outputs of varying size in memory reused across goroutines
					m.ReleaseOutputs(out)
					continue
				}
				for _, o := range out {
					o.Release()
				}
			}
		}(g)
	}
	wg.Wait()
}

// Outputs of a map given back are written into the Go memory the last
// call's outputs occupied; an output fed back as an input (which
// ReleaseOutputs forbids) gets new memory, since ONNX Runtime writes
// outputs while it reads inputs.
func TestReleaseOutputsReusesOutputMemory(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	m, err := carton.Load(ctx, pack(t, filepath.Join(models, "multi_io.onnx"), nil), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	inputs := func(first int64) map[string]tensor.Tensor {
		a, _ := tensor.From(tensor.Shape{2, 2}, []float32{1, 2, 3, 4})
		ids, _ := tensor.From(tensor.Shape{2}, []int64{first, first + 1})
		mask, _ := tensor.From(tensor.Shape{2}, []bool{true, false})
		return map[string]tensor.Tensor{"a": a, "ids": ids, "mask": mask}
	}
	out := refdata.CheckOutputMemoryReuse(t, m, inputs, "next_ids", func(out map[string]tensor.Tensor) {
		assert.Equal(t, []int64{21, 22}, tensor.MustView[int64](out["next_ids"]))
		assert.Equal(t, []float32{2, 4, 6, 8}, tensor.MustView[float32](out["scaled"]))
		assert.Equal(t, []bool{false, true}, tensor.MustView[bool](out["inverted"]))
		assert.Equal(t, []float32{3, 0}, tensor.MustView[float32](out["masked_sum"]))
	}, map[string]string{"a": "scaled", "ids": "next_ids", "mask": "inverted"})
	if !racebuild.Enabled { // which poisons what ReleaseOutputs took back
		assert.Equal(t, []int64{22, 23}, tensor.MustView[int64](out["next_ids"]))
		assert.Equal(t, []float32{4, 8, 12, 16}, tensor.MustView[float32](out["scaled"]))
		assert.Equal(t, []bool{true, false}, tensor.MustView[bool](out["inverted"]))
		assert.Equal(t, []float32{0, 14}, tensor.MustView[float32](out["masked_sum"]))
	}
}

func TestInputErrors(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	path := pack(t, filepath.Join(models, "matmul_add.onnx"), nil)
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	bad, _ := tensor.From(tensor.Shape{2, 5}, make([]float32, 10))
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": bad})
	require.ErrorIs(t, err, carton.ErrInvalidInput)
	wrongType, _ := tensor.From(tensor.Shape{2, 4}, make([]float64, 8))
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": wrongType})
	require.ErrorIs(t, err, carton.ErrInvalidInput)
	empty, _ := tensor.From(tensor.Shape{0, 4}, []float32{})
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": empty})
	require.NoError(t, err, "a zero-size batch is valid")
	assert.Equal(t, tensor.Shape{0, 3}, out["y"].Shape())
}

func TestOptionsAndLoadErrors(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	path := pack(t, filepath.Join(models, "matmul_add.onnx"), map[string]any{"intra_op_threads": int64(1), "graph_optimization_level": "basic"})
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()), carton.WithRunnerOpt("inter_op_threads", 1))
	require.NoError(t, err)
	m.Close()

	_, err = carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithRunnerOpt("intra_op_threads", "many"))
	require.ErrorIs(t, err, carton.ErrInvalidOption)
	_, err = carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithRunnerOpt("intra_op_threads", 1<<32+1))
	require.ErrorIs(t, err, carton.ErrInvalidOption, "ORT takes a C int: 1<<32+1 would be 1")
	_, err = carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithRunnerOpt("warp_speed", true))
	require.ErrorIs(t, err, carton.ErrInvalidOption)
	assert.Contains(t, err.Error(), "warp_speed")

	_, err = carton.Load(ctx, path, carton.WithRuntimePath("/nonexistent/libonnxruntime.so"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/nonexistent/libonnxruntime.so")

	notORT := filepath.Join(t.TempDir(), "libnot.so")
	require.NoError(t, os.WriteFile(notORT, []byte("garbage"), 0o644))
	_, err = carton.Load(ctx, path, carton.WithRuntimePath(notORT))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "libnot.so")

	broken := filepath.Join(t.TempDir(), "broken.onnx")
	require.NoError(t, os.WriteFile(broken, []byte("not a protobuf"), 0o644))
	out := filepath.Join(t.TempDir(), "broken.carton")
	_, err = carton.Pack(ctx, broken, out, carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*"}}})
	require.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "is not an ONNX model", "pack's own look at the file")
	// Bytes that do not parse inside the graph: pack's look finds them too.
	require.NoError(t, os.WriteFile(broken, []byte("\x3a\x03bad"), 0o644))
	_, err = carton.Pack(ctx, broken, out, carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*"}}})
	require.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "is not an ONNX model")
	// Well-formed protobuf all through (a graph with one node of an op no
	// one defines), so only ONNX Runtime finds it is no model when pack
	// asks it for the specs.
	require.NoError(t, os.WriteFile(broken, []byte("\x3a\x0c\x0a\x0a\x22\x08NoSuchOp"), 0o644))
	_, err = carton.Pack(ctx, broken, out, carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "onnx", RequiredFrameworkVersion: "*"}}})
	require.ErrorIs(t, err, carton.ErrModel)
	require.ErrorIs(t, err, carton.ErrFramework, "ONNX Runtime's own error")
	require.ErrorIs(t, err, onnx.ErrRuntime)
	assert.NoFileExists(t, out)
}

func TestLoadFromBytesSkipsExtraction(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	cache := t.TempDir()
	m, err := carton.Load(ctx, pack(t, filepath.Join(models, "matmul_add.onnx"), nil), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache))
	require.NoError(t, err)
	defer m.Close()
	entries, _ := os.ReadDir(filepath.Join(cache, "models"))
	assert.Empty(t, entries, "a lone model.onnx loads from the zip's bytes")
	in, want := refdata.Load(t, models, "matmul_add")
	got, err := m.Infer(ctx, in)
	require.NoError(t, err)
	assert.Nil(t, tensor.Compare(got["y"], want["y"], tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}))

	m2, err := carton.Load(ctx, pack(t, filepath.Join(models, "external"), nil), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache))
	require.NoError(t, err)
	defer m2.Close()
	entries, _ = os.ReadDir(filepath.Join(cache, "models"))
	assert.Len(t, entries, 1, "external data needs the files on disk")
}

// A model.onnx above backend.MemoryLoadMaxBytes is extracted into the
// cache on its first Load, and later Loads read that copy while the zip is
// verified beside them (a zip tampered since fails); load_from = "bytes"
// still loads it from memory.
func TestLargeModelLoadsFromTheCache(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	model, err := os.ReadFile(filepath.Join(models, "matmul_add.onnx"))
	require.NoError(t, err)
	// A second doc_string (ModelProto field 6, the last one wins) makes it
	// large without changing what it computes.
	pad := bytes.Repeat([]byte("carton "), (backend.MemoryLoadMaxBytes+7)/7)
	model = append(model, 6<<3|2)
	model = binary.AppendUvarint(model, uint64(len(pad)))
	model = append(model, pad...)
	large := filepath.Join(t.TempDir(), "model.onnx")
	require.NoError(t, os.WriteFile(large, model, 0o644))
	path := pack(t, large, nil)
	in, want := refdata.Load(t, models, "matmul_add")
	check := func(m *carton.Model) {
		t.Helper()
		got, err := m.Infer(ctx, in)
		require.NoError(t, err)
		refdata.Check(t, got, want)
		require.NoError(t, m.Close())
	}

	cache := t.TempDir()
	for range 2 {
		m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache))
		require.NoError(t, err)
		_, err = os.Stat(filepath.Join(cache, "models", m.Info().ManifestSHA256, "model", "model.onnx"))
		require.NoError(t, err, "extracted")
		check(m)
	}

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.carton")
	require.NoError(t, os.WriteFile(bad, ziptest.ReplaceEntry(t, raw, "model/model.onnx", append(bytes.Clone(model[:len(model)-1]), 'X')), 0o644))
	_, err = carton.Load(ctx, bad, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache))
	require.ErrorIs(t, err, carton.ErrChecksum, "the zip is verified beside the extracted copy")

	memCache := t.TempDir()
	m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(memCache),
		carton.WithRunnerOpt("load_from", "bytes"))
	require.NoError(t, err)
	entries, _ := os.ReadDir(memCache)
	assert.Empty(t, entries, "load_from = bytes extracts nothing")
	check(m)
}

// A carton held in memory (as with //go:embed) loads a lone model.onnx
// from the reader's bytes: nothing is written to disk.
func TestLoadReader(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	raw, err := os.ReadFile(pack(t, filepath.Join(models, "matmul_add.onnx"), nil))
	require.NoError(t, err)
	cache := t.TempDir()
	m, err := carton.LoadReader(ctx, bytes.NewReader(raw), int64(len(raw)), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache))
	require.NoError(t, err)
	defer m.Close()
	entries, _ := os.ReadDir(cache)
	assert.Empty(t, entries, "nothing written to the cache")
	in, want := refdata.Load(t, models, "matmul_add")
	got, err := m.Infer(ctx, in)
	require.NoError(t, err)
	refdata.Check(t, got, want)
}

// A model dropped without Close must not bring the process down when the
// collector finds it (its session pins names for its life).
func TestDroppedModel(t *testing.T) {
	rt := runtimes(t)[0]
	path := pack(t, filepath.Join(models, "multi_io.onnx"), nil)
	for range 3 {
		_, err := carton.Load(context.Background(), path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
		require.NoError(t, err)
	}
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// Outputs left in ONNX Runtime's memory stay valid after the model is
// closed, and after a dropped model is closed by the collector.
func TestOutputsOutliveClose(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	path := pack(t, filepath.Join(models, "matmul_add.onnx"), nil)
	x := make([]float32, 4096*4) // a 4096-row batch: outputs past backend.SmallOutputBytes
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	in, err := tensor.From(tensor.Shape{4096, 4}, x)
	require.NoError(t, err)
	for _, drop := range []bool{false, true} {
		m, err := carton.Load(ctx, path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
		require.NoError(t, err)
		out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": in})
		require.NoError(t, err)
		y := out["y"]
		require.True(t, y.IsForeign(), "a large output stays in ONNX Runtime's memory")
		want, err := y.Clone()
		require.NoError(t, err)
		if drop { // m is not used again: the collector finds it unreachable
			dropped := weak.Make(m)
			for range 5 {
				runtime.GC()
				time.Sleep(10 * time.Millisecond)
			}
			require.Nil(t, dropped.Value(), "the dropped model was collected (and its cleanup closed it)")
		} else {
			require.NoError(t, m.Close())
		}
		assert.Nil(t, tensor.Compare(y, want, tensor.Tolerance{}), "drop=%v", drop)
		y.Release()
	}
}

// A carton by URL runs on ONNX Runtime, a lone model.onnx and one with
// external data, extracted into the cache as they are read (a tampered
// one fails its check), and offline from there afterwards.
func TestLoadFromURL(t *testing.T) {
	rt := runtimes(t)[0]
	ctx := context.Background()
	files := map[string][]byte{}
	for name, model := range map[string]string{"/lone.carton": "matmul_add.onnx", "/external.carton": "external"} {
		raw, err := os.ReadFile(pack(t, filepath.Join(models, model), nil))
		require.NoError(t, err)
		files[name] = raw
	}
	files["/tampered.carton"] = ziptest.ReplaceEntry(t, files["/lone.carton"], "model/model.onnx", []byte("not the model"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"`+r.URL.Path+`"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(files[r.URL.Path]))
	}))
	defer srv.Close()

	for name, ref := range map[string][2]string{"/lone.carton": {models, "matmul_add"}, "/external.carton": {filepath.Join(models, "external"), "model"}} {
		in, want := refdata.Load(t, ref[0], ref[1])
		cache := t.TempDir()
		for _, offline := range []bool{false, true} {
			m, err := carton.Load(ctx, srv.URL+name, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache),
				carton.WithFetchOptions(libfetch.FetchOptions{Offline: offline}))
			require.NoError(t, err, "%s offline=%v", name, offline)
			got, err := m.Infer(ctx, in)
			require.NoError(t, err, name)
			refdata.Check(t, got, want)
			require.NoError(t, m.Close())
		}
	}
	_, err := carton.Load(ctx, srv.URL+"/tampered.carton", carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrChecksum)
}
