package carton_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/ziptest"
	"github.com/carton-run/carton/tensor"
)

const upstreamCarton = "testdata/upstream/test.carton"

func mustShape(t testing.TB, s string) format.ShapeSpec {
	sp, err := format.ParseShapeSpec(s)
	require.NoError(t, err)
	return sp
}

func noopOptions(t testing.TB) carton.PackOptions {
	x, err := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	require.NoError(t, err)
	ids, err := tensor.From(tensor.Shape{2}, []int64{7, 8})
	require.NoError(t, err)
	return carton.PackOptions{
		Config: format.Config{
			ModelName: "echo",
			Inputs: []format.TensorSpec{
				{Name: "x", DType: tensor.Float32, Shape: mustShape(t, "batch,3")},
				{Name: "ids", DType: tensor.Int64, Shape: mustShape(t, "[batch]")},
			},
			Outputs: []format.TensorSpec{{Name: "x", DType: tensor.Float32, Shape: mustShape(t, "batch,3")}},
			Runner:  format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*", Opts: map[string]any{"threads": int64(2)}},
		},
		SelfTests: []carton.PackSelfTest{{Name: "echo", Inputs: map[string]tensor.Tensor{"x": x, "ids": ids}, ExpectedOut: map[string]tensor.Tensor{"x": x}}},
	}
}

func packNoop(t testing.TB) (string, string) {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "weights.bin")
	require.NoError(t, os.WriteFile(model, bytes.Repeat([]byte{0xab}, 4096), 0o644))
	out := filepath.Join(dir, "echo.carton")
	sha, err := carton.Pack(context.Background(), model, out, noopOptions(t))
	require.NoError(t, err)
	return out, sha
}

// loadNoop packs a noop carton and loads it with a cache of its own.
func loadNoop(t testing.TB) *carton.Model {
	t.Helper()
	path, _ := packNoop(t)
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	return m
}

func TestPackInfoLoadInferRoundTrip(t *testing.T) {
	ctx := context.Background()
	path, sha := packNoop(t)

	info, err := carton.ModelInfo(ctx, path)
	require.NoError(t, err)
	assert.Equal(t, sha, info.ManifestSHA256)
	assert.Equal(t, "echo", info.ModelName)
	assert.Nil(t, info.Runtime)

	m, err := carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, "noop", m.Info().Runtime.Framework)
	assert.Equal(t, "builtin", m.Info().Runtime.Source)

	x, _ := tensor.From(tensor.Shape{1, 3}, []float32{9, 8, 7})
	ids, _ := tensor.From(tensor.Shape{1}, []int64{1})
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "ids": ids})
	require.NoError(t, err)
	assert.Equal(t, []float32{9, 8, 7}, tensor.MustView[float32](out["x"]))
	assert.Equal(t, x.Pointer(), out["x"].Pointer(), "noop echoes the very same buffer")

	results, err := m.SelfTest(ctx, tensor.DefaultTolerance)
	require.NoError(t, err)
	require.Len(t, results, 1)
	assert.True(t, results[0].Passed, "%+v", results[0])
}

func TestPackTwiceIsByteIdentical(t *testing.T) {
	a, shaA := packNoop(t)
	b, shaB := packNoop(t)
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	assert.Equal(t, shaA, shaB)
	assert.True(t, bytes.Equal(ab, bb))
}

func TestPackedCartonFollowsUpstreamRules(t *testing.T) {
	path, _ := packNoop(t)
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	last := zr.File[len(zr.File)-1]
	assert.Equal(t, "MANIFEST", last.Name)
	assert.Equal(t, zip.Store, last.Method)
	var index []byte
	for _, f := range zr.File {
		assert.NotEqual(t, byte('/'), f.Name[len(f.Name)-1], "no directory entries")
		if f.Name == "tensor_data/index.toml" {
			c, err := format.Open(path, format.OpenOptions{})
			require.NoError(t, err)
			index, err = c.ReadFile(f.Name)
			require.NoError(t, err)
			c.Close()
		}
	}
	assert.Contains(t, string(index), "inner = []")
	names := map[string]bool{}
	for _, f := range zr.File {
		names[f.Name] = true
	}
	assert.True(t, names["model/weights.bin"])
	assert.True(t, names["carton.toml"])
}

func TestTamperedModelFailsLoad(t *testing.T) {
	path, _ := packNoop(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.carton")
	require.NoError(t, os.WriteFile(bad, tamperWeights(t, raw), 0o644))

	cache := t.TempDir()
	_, err = carton.Load(context.Background(), bad, carton.WithCacheDir(cache))
	require.ErrorIs(t, err, carton.ErrChecksum)
	assert.Contains(t, err.Error(), "model/weights.bin")
	left, _ := os.ReadDir(filepath.Join(cache, "models"))
	assert.Empty(t, left, "nothing is left in the cache")
}

// A carton whose model/ was extracted by an earlier Load is verified while
// the runner loads the extracted copy: a zip tampered since (same
// MANIFEST, so the same cache entry) still fails with ErrChecksum.
func TestTamperedZipOverExtractedCopyFailsLoad(t *testing.T) {
	ctx := context.Background()
	path, sha := packNoop(t)
	cache := t.TempDir()
	m, err := carton.Load(ctx, path, carton.WithCacheDir(cache))
	require.NoError(t, err)
	require.NoError(t, m.Close())
	_, err = os.Stat(filepath.Join(cache, "models", sha, "model", "weights.bin"))
	require.NoError(t, err, "extracted")

	m, err = carton.Load(ctx, path, carton.WithCacheDir(cache))
	require.NoError(t, err, "the second Load reads the extracted copy")
	require.NoError(t, m.Close())

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	bad := filepath.Join(t.TempDir(), "bad.carton")
	require.NoError(t, os.WriteFile(bad, tamperWeights(t, raw), 0o644))
	_, err = carton.Load(ctx, bad, carton.WithCacheDir(cache))
	require.ErrorIs(t, err, carton.ErrChecksum)
	assert.Contains(t, err.Error(), "model/weights.bin")
}

// tamperWeights re-stores model/weights.bin of a packed noop carton with
// one byte changed, keeping everything else.
func tamperWeights(t *testing.T, raw []byte) []byte {
	data := bytes.Repeat([]byte{0xab}, 4096)
	data[100] = 0
	return ziptest.ReplaceEntry(t, raw, "model/weights.bin", data)
}

// LoadReader loads a carton held in memory as Load loads the file: same
// verification, model/ extracted into the cache for a runner that does
// not load from memory, tensor_data/ read through the reader after Load.
func TestLoadReader(t *testing.T) {
	ctx := context.Background()
	path, sha := packNoop(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)

	cache := t.TempDir()
	m, err := carton.LoadReader(ctx, bytes.NewReader(raw), int64(len(raw)), carton.WithCacheDir(cache))
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, sha, m.Info().ManifestSHA256)
	assert.Equal(t, "", m.Info().Path)
	assert.Equal(t, "noop", m.Info().Runtime.Framework)
	weights, err := os.ReadFile(filepath.Join(cache, "models", sha, "model", "weights.bin"))
	require.NoError(t, err, "noop does not load from memory: model/ is extracted")
	assert.Len(t, weights, 4096)

	x, _ := tensor.From(tensor.Shape{1, 3}, []float32{9, 8, 7})
	ids, _ := tensor.From(tensor.Shape{1}, []int64{1})
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "ids": ids})
	require.NoError(t, err)
	assert.Equal(t, []float32{9, 8, 7}, tensor.MustView[float32](out["x"]))
	results, err := m.SelfTest(ctx, tensor.DefaultTolerance)
	require.NoError(t, err)
	require.Len(t, results, 1)
	assert.True(t, results[0].Passed, "%+v", results[0])

	bad := tamperWeights(t, raw)
	badCache := t.TempDir()
	_, err = carton.LoadReader(ctx, bytes.NewReader(bad), int64(len(bad)), carton.WithCacheDir(badCache))
	require.ErrorIs(t, err, carton.ErrChecksum)
	assert.Contains(t, err.Error(), "model/weights.bin")
	left, _ := os.ReadDir(filepath.Join(badCache, "models"))
	assert.Empty(t, left, "nothing is left in the cache")

	_, err = carton.LoadReader(ctx, nil, 0)
	assert.ErrorIs(t, err, carton.ErrMalformed)
	_, err = carton.LoadReader(ctx, bytes.NewReader(raw[:100]), 100)
	assert.ErrorIs(t, err, carton.ErrMalformed)
	_, err = carton.LoadReader(ctx, bytes.NewReader(raw), int64(len(raw)), carton.WithDevice("gpu"))
	assert.ErrorIs(t, err, carton.ErrInvalidOption)
}

// InferInto fills the caller's map with this call's outputs and nothing
// else, releasing none of what it held; one map serves call after call,
// and an error leaves it empty.
func TestInferInto(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	x, _ := tensor.From(tensor.Shape{1, 3}, []float32{9, 8, 7})
	ids, _ := tensor.From(tensor.Shape{1}, []int64{1})
	in := map[string]tensor.Tensor{"x": x, "ids": ids}
	released := map[string]bool{}
	callers := func(name string) tensor.Tensor {
		v := []int64{1}
		ct, err := tensor.Foreign(tensor.Int64, tensor.Shape{1}, unsafe.Pointer(&v[0]), 8, func() { released[name] = true })
		require.NoError(t, err)
		return ct
	}
	out := map[string]tensor.Tensor{"stale": callers("stale"), "x": callers("x")}
	for range 3 {
		require.NoError(t, m.InferInto(ctx, in, out))
		assert.Len(t, out, 2, "the noop runner echoes both inputs; the stale entry is gone")
		assert.Equal(t, x.Pointer(), out["x"].Pointer())
	}
	assert.Empty(t, released, "the entries the map held are the caller's: dropped, not released")
	out["stale"] = callers("stale")
	err := m.InferInto(ctx, map[string]tensor.Tensor{"x": x}, out)
	assert.ErrorIs(t, err, carton.ErrInvalidInput)
	assert.Empty(t, out)
	assert.Empty(t, released)
	assert.ErrorIs(t, m.InferInto(ctx, in, nil), carton.ErrInvalidInput)
	require.NoError(t, m.Close())
	out["left"] = x
	assert.ErrorIs(t, m.InferInto(ctx, in, out), carton.ErrClosed)
	assert.Empty(t, out)
}

func TestInferChecksInputs(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	defer m.Close()
	f32 := func(shape tensor.Shape, n int) tensor.Tensor {
		x, err := tensor.From(shape, make([]float32, n))
		require.NoError(t, err)
		return x
	}
	i64 := func(shape tensor.Shape, n int) tensor.Tensor {
		x, err := tensor.From(shape, make([]int64, n))
		require.NoError(t, err)
		return x
	}
	cases := map[string]map[string]tensor.Tensor{
		"missing":         {"x": f32(tensor.Shape{1, 3}, 3)},
		"unknown":         {"x": f32(tensor.Shape{1, 3}, 3), "ids": i64(tensor.Shape{1}, 1), "z": i64(tensor.Shape{1}, 1)},
		"dtype":           {"x": i64(tensor.Shape{1, 3}, 3), "ids": i64(tensor.Shape{1}, 1)},
		"rank":            {"x": f32(tensor.Shape{3}, 3), "ids": i64(tensor.Shape{1}, 1)},
		"fixed dim":       {"x": f32(tensor.Shape{1, 4}, 4), "ids": i64(tensor.Shape{1}, 1)},
		"symbol mismatch": {"x": f32(tensor.Shape{2, 3}, 6), "ids": i64(tensor.Shape{3}, 3)},
		"invalid tensor":  {"x": {}, "ids": i64(tensor.Shape{1}, 1)},
	}
	for name, in := range cases {
		_, err := m.Infer(ctx, in)
		assert.ErrorIs(t, err, carton.ErrInvalidInput, name)
	}
	_, err := m.Infer(ctx, map[string]tensor.Tensor{"x": f32(tensor.Shape{4, 3}, 12), "ids": i64(tensor.Shape{4}, 4)})
	assert.NoError(t, err)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.Infer(cancelled, map[string]tensor.Tensor{"x": f32(tensor.Shape{4, 3}, 12), "ids": i64(tensor.Shape{4}, 4)})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestConcurrentInferAndClose(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	x, _ := tensor.From(tensor.Shape{1, 3}, []float32{1, 2, 3})
	ids, _ := tensor.From(tensor.Shape{1}, []int64{1})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "ids": ids})
				if err != nil {
					assert.ErrorIs(t, err, carton.ErrClosed)
					return
				}
				assert.Equal(t, float32(2), tensor.MustView[float32](out["x"])[1])
			}
		}()
	}
	wg.Wait()
	require.NoError(t, m.Close())
	require.NoError(t, m.Close())
	_, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "ids": ids})
	assert.ErrorIs(t, err, carton.ErrClosed)
}

func TestSelfTestDetectsMismatch(t *testing.T) {
	ctx := context.Background()
	opts := noopOptions(t)
	wrong, _ := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 7})
	opts.SelfTests[0].ExpectedOut = map[string]tensor.Tensor{"x": wrong}
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	out := filepath.Join(dir, "m.carton")
	_, err := carton.Pack(ctx, model, out, opts)
	require.NoError(t, err)
	m, err := carton.Load(ctx, out, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	res, err := m.SelfTest(ctx, tensor.DefaultTolerance)
	require.NoError(t, err)
	require.Len(t, res, 1)
	assert.False(t, res[0].Passed)
	require.Len(t, res[0].Failures, 1)
	assert.Contains(t, res[0].Failures[0], "element 5 is 6, want 7")
}

func TestLoadErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	pack := func(runner, req string, platforms []string) string {
		out := filepath.Join(t.TempDir(), "x.carton")
		_, err := carton.Pack(ctx, model, out, carton.PackOptions{Config: format.Config{RequiredPlatforms: platforms, Runner: format.Runner{RunnerName: runner, RequiredFrameworkVersion: req}}})
		require.NoError(t, err)
		return out
	}
	_, err := carton.Load(ctx, pack("martian", "*", nil), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrUnknownRunner)
	assert.Contains(t, err.Error(), "available: noop")

	_, err = carton.Load(ctx, pack("noop", "=9", nil), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrNoRuntime)
	assert.Contains(t, err.Error(), "1.0.0 (builtin)")

	other := "aarch64-apple-darwin"
	if format.HostTriple() == other {
		other = "x86_64-unknown-linux-gnu"
	}
	_, err = carton.Load(ctx, pack("noop", "*", []string{other}), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrPlatform)

	_, err = carton.Load(ctx, filepath.Join(dir, "absent.carton"))
	require.True(t, errors.Is(err, os.ErrNotExist))

	_, err = carton.Load(ctx, model, carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrMalformed)

	_, err = carton.LoadUnpacked(ctx, pack("noop", "*", nil))
	require.ErrorIs(t, err, carton.ErrMalformed)

	_, err = carton.Load(ctx, pack("noop", "*", nil), carton.WithRunnerOpt("x", []int{1}))
	require.ErrorIs(t, err, carton.ErrInvalidOption)
}

func TestPackValidation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	out := filepath.Join(dir, "bad.carton")
	_, err := carton.Pack(ctx, model, out, carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "not a req"}}})
	require.ErrorIs(t, err, carton.ErrMalformed)
	assert.NoFileExists(t, out)
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".bad.carton.tmp-*"))
	assert.Empty(t, leftovers)

	opts := noopOptions(t)
	opts.SelfTests[0].Inputs["nope"] = tensor.Scalar(int8(1))
	_, err = carton.Pack(ctx, model, out, opts)
	require.ErrorIs(t, err, carton.ErrInvalidInput)

	// short_description is at most 100 characters, as upstream counts
	// them (not bytes); a string carton.toml cannot hold is refused.
	opts = noopOptions(t)
	opts.Config.ShortDescription = strings.Repeat("é", 100)
	_, err = carton.Pack(ctx, model, out, opts)
	require.NoError(t, err, "100 characters in 200 bytes")
	opts.Config.ShortDescription += "!"
	_, err = carton.Pack(ctx, model, out, opts)
	require.ErrorIs(t, err, carton.ErrMalformed)
	assert.ErrorContains(t, err, "101 characters")
	// Every @misc/ file the description shows must be in the carton.
	diagram := filepath.Join(dir, "diagram.png")
	require.NoError(t, os.WriteFile(diagram, []byte("png"), 0o644))
	opts = noopOptions(t)
	opts.Config.ModelDescription = "How it works: ![diagram](@misc/diagram.png).\n\nLink files as `![x](@misc/file.png)`:\n```\n[y](@misc/y.png)\n```\n"
	_, err = carton.Pack(ctx, model, out, opts)
	require.ErrorIs(t, err, carton.ErrInvalidInput)
	assert.ErrorContains(t, err, "@misc/diagram.png")
	opts.Misc = []string{diagram}
	_, err = carton.Pack(ctx, model, out, opts)
	require.NoError(t, err, "links shown in code are text")

	// Upstream's own example description passes with its misc file.
	upstream, err := carton.ModelInfo(ctx, upstreamCarton)
	require.NoError(t, err)
	arch := filepath.Join(dir, "model_architecture.png")
	require.NoError(t, os.WriteFile(arch, []byte("png"), 0o644))
	opts.Config.ModelDescription, opts.Misc = upstream.ModelDescription, []string{arch}
	_, err = carton.Pack(ctx, model, out, opts)
	require.NoError(t, err)
	opts.Misc = nil
	_, err = carton.Pack(ctx, model, out, opts)
	require.ErrorIs(t, err, carton.ErrInvalidInput, "without it")

	opts = noopOptions(t)
	opts.Config.ModelName = "caf\xe9" // Latin-1, not UTF-8
	_, err = carton.Pack(ctx, model, filepath.Join(dir, "latin1.carton"), opts)
	require.ErrorIs(t, err, carton.ErrMalformed)
	assert.NoFileExists(t, filepath.Join(dir, "latin1.carton"))
}

func TestUpstreamCartonInfo(t *testing.T) {
	info, err := carton.ModelInfo(context.Background(), upstreamCarton)
	require.NoError(t, err)
	assert.Equal(t, "Test Model", info.ModelName)
	assert.Equal(t, "f1cae5143a92a44e3a7e1d9c32a0245065dfb6e0f1e91c18b5e44356d081dfb5", info.ManifestSHA256)
	assert.Equal(t, "=3.11", info.Runner.RequiredFrameworkVersion)
	assert.Len(t, info.Inputs, 7)

	_, err = carton.Load(context.Background(), upstreamCarton, carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrUnknownRunner, "this build has no python runner")
}

func TestPackDirectoryWithSymlinks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	require.NoError(t, os.MkdirAll(filepath.Join(model, "blobs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(model, "blobs", "abc"), []byte("weights"), 0o644))
	require.NoError(t, os.Symlink("blobs/abc", filepath.Join(model, "weights.bin")))
	outside := filepath.Join(dir, "outside.txt")
	require.NoError(t, os.WriteFile(outside, []byte("copied"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(model, "vocab.txt")))
	out := filepath.Join(dir, "d.carton")
	_, err := carton.Pack(ctx, model, out, carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"}}})
	require.NoError(t, err)

	zr, err := zip.OpenReader(out)
	require.NoError(t, err)
	modes := map[string]os.FileMode{}
	for _, f := range zr.File {
		modes[f.Name] = f.Mode()
	}
	zr.Close()
	assert.NotZero(t, modes["model/weights.bin"]&os.ModeSymlink, "inner symlink stays a symlink")
	assert.Zero(t, modes["model/vocab.txt"]&os.ModeSymlink, "outer symlink becomes a copy")

	m, err := carton.Load(ctx, out, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
}

// Packing a directory into a carton inside it, twice, does not pack the
// first carton into the second.
func TestPackLeavesItsOutputOut(t *testing.T) {
	ctx := context.Background()
	model := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(model, "weights.bin"), []byte("w"), 0o644))
	out := filepath.Join(model, "model.carton")
	opts := carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"}}}
	first, err := carton.Pack(ctx, model, out, opts)
	require.NoError(t, err)
	second, err := carton.Pack(ctx, model, out, opts)
	require.NoError(t, err)
	assert.Equal(t, first, second, "the same files: the same MANIFEST")
	c, err := format.Open(out, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, []string{"model/weights.bin"}, c.Files("model/"))
}

// Symlinks to directories are walked as upstream's pack walks them: one
// inside the model becomes symlinks to the files it leads to (no bytes
// twice), one outside brings copies of its files; the extracted model
// reads the same files through either. Loops are refused, writing nothing.
func TestPackDirectoryWithDirectoryLinks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	require.NoError(t, os.MkdirAll(filepath.Join(model, "layers", "deep"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(model, "layers", "a.bin"), []byte("layer a"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(model, "layers", "deep", "b.bin"), []byte("layer b"), 0o644))
	require.NoError(t, os.Symlink("layers", filepath.Join(model, "current")))
	vocab := filepath.Join(dir, "shared", "vocab")
	require.NoError(t, os.MkdirAll(vocab, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(vocab, "words.txt"), []byte("a b c"), 0o644))
	require.NoError(t, os.Symlink(filepath.Join(model, "layers", "a.bin"), filepath.Join(vocab, "back.bin")))
	require.NoError(t, os.Symlink(filepath.Join(dir, "shared"), filepath.Join(model, "shared")))
	opts := carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "noop", RequiredFrameworkVersion: "*"}}}
	out := filepath.Join(dir, "d.carton")
	_, err := carton.Pack(ctx, model, out, opts)
	require.NoError(t, err)

	c, err := format.Open(out, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	targets := map[string]string{}
	for _, name := range c.Symlinks() {
		targets[name], _ = c.Symlink(name)
	}
	assert.Equal(t, map[string]string{
		"model/current/a.bin":         "../layers/a.bin",
		"model/current/deep/b.bin":    "../../layers/deep/b.bin",
		"model/shared/vocab/back.bin": "../../layers/a.bin",
	}, targets, "files reached through a link stay links to the model's own")
	assert.Equal(t, []string{
		"carton.toml", "model/current/a.bin", "model/current/deep/b.bin", "model/layers/a.bin",
		"model/layers/deep/b.bin", "model/shared/vocab/back.bin", "model/shared/vocab/words.txt",
		"tensor_data/index.toml",
	}, c.Manifest.Paths())
	_, linked := c.Symlink("model/shared/vocab/words.txt")
	assert.False(t, linked, "a file outside the model is copied")

	extracted, err := c.Materialize(ctx, t.TempDir())
	require.NoError(t, err)
	for name, want := range map[string]string{
		"current/a.bin": "layer a", "current/deep/b.bin": "layer b",
		"shared/vocab/words.txt": "a b c", "shared/vocab/back.bin": "layer a",
	} {
		got, err := os.ReadFile(filepath.Join(extracted, filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.Equal(t, want, string(got), name)
	}

	for name, target := range map[string]string{"to the model": ".", "out and back in": "..", "to its own directory": "layers/deep"} {
		t.Run("loop "+name, func(t *testing.T) {
			link := filepath.Join(model, "layers", "deep", "loop")
			require.NoError(t, os.Symlink(filepath.Join(model, target), link))
			defer os.Remove(link)
			out := filepath.Join(t.TempDir(), "loop.carton")
			_, err := carton.Pack(ctx, model, out, opts)
			require.ErrorIs(t, err, carton.ErrMalformed)
			assert.ErrorContains(t, err, "symlink loop")
			assert.NoFileExists(t, out)
		})
	}
}

// Each Infer call's output map is the caller's alone, whatever the caller
// does with the ones before, after errors, and from many goroutines at
// once: a guard for any reuse or pooling of maps inside Infer (one was
// tried, RATIONALE.md "InferInto beside Infer").
func TestInferMapsAreTheCallers(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	defer m.Close()
	x, _ := tensor.From(tensor.Shape{1, 3}, []float32{9, 8, 7})
	ids, _ := tensor.From(tensor.Shape{1}, []int64{1})
	in := map[string]tensor.Tensor{"x": x, "ids": ids}
	check := func(out map[string]tensor.Tensor) {
		t.Helper()
		require.Len(t, out, 2)
		assert.Equal(t, x.Pointer(), out["x"].Pointer())
		assert.Equal(t, ids.Pointer(), out["ids"].Pointer())
	}
	seen := map[unsafe.Pointer]bool{}
	for i := range 300 {
		if i%97 == 0 {
			out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
			assert.ErrorIs(t, err, carton.ErrInvalidInput)
			assert.Nil(t, out)
		}
		out, err := m.Infer(ctx, in)
		require.NoError(t, err)
		check(out)
		id := reflect.ValueOf(out).UnsafePointer()
		require.False(t, seen[id], "call %d got a map an earlier call returned", i)
		seen[id] = true
		delete(out, "ids") // the caller's to change
		out["mine"] = x
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				out, err := m.Infer(ctx, in)
				if !assert.NoError(t, err) {
					return
				}
				check(out)
				out["mine"] = x // under -race, a map shared between calls shows here
			}
		})
	}
	wg.Wait()
}

func TestLoadOptionErrors(t *testing.T) {
	ctx := context.Background()
	path, _ := packNoop(t)
	load := func(opts ...carton.Option) error {
		m, err := carton.Load(ctx, path, append(opts, carton.WithCacheDir(t.TempDir()))...)
		if err == nil {
			m.Close()
		}
		return err
	}
	for _, d := range []string{"gpu", "cuda", "cuda:", "cuda:x", "cuda:-1", "cuda:01", "cuda:0 ", "CPU", "cuda:99999999999"} {
		assert.ErrorIs(t, load(carton.WithDevice(d)), carton.ErrInvalidOption, d)
	}
	for _, d := range []string{"cpu", "cuda:0", "cuda:7"} {
		assert.NoError(t, load(carton.WithDevice(d)), d, "the noop runner runs anywhere")
	}
	for _, v := range []any{[]int{1}, nil, uint64(1 << 63), struct{}{}} {
		assert.ErrorIs(t, load(carton.WithRunnerOpt("k", v)), carton.ErrInvalidOption, "%v", v)
	}
	for _, v := range []any{int32(4), uint8(1), float32(0.5), "s", true, int64(-1)} {
		assert.NoError(t, load(carton.WithRunnerOpt("k", v)), "%T", v)
	}
}

// An example's inputs and outputs may be files (an image, a sound), stored
// under misc/ as upstream names them.
func TestPackExampleFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	img := filepath.Join(dir, "cat.png")
	require.NoError(t, os.WriteFile(img, []byte("png bytes"), 0o644))
	out := filepath.Join(dir, "ex.carton")
	opts := noopOptions(t)
	x := opts.SelfTests[0].Inputs["x"]
	opts.Examples = []carton.PackExample{
		{Name: "photo", MiscInputs: map[string]string{"x": img}, SampleOut: map[string]tensor.Tensor{"x": x}},
		{Inputs: map[string]tensor.Tensor{"x": x}, MiscSampleOut: map[string]string{"x": img}},
	}
	_, err := carton.Pack(ctx, model, out, opts)
	require.NoError(t, err)
	info, err := carton.ModelInfo(ctx, out)
	require.NoError(t, err)
	require.Len(t, info.Examples, 2)
	assert.Equal(t, "@misc/_example_misc_file_0", info.Examples[0].Inputs["x"])
	assert.Equal(t, "@tensor_data/example_0_out_x", info.Examples[0].SampleOut["x"])
	assert.Equal(t, "@misc/_example_misc_file_1", info.Examples[1].SampleOut["x"])
	c, err := format.Open(out, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	for _, name := range []string{"misc/_example_misc_file_0", "misc/_example_misc_file_1"} {
		b, err := c.ReadFile(name)
		require.NoError(t, err)
		assert.Equal(t, "png bytes", string(b))
	}

	for what, ex := range map[string]carton.PackExample{
		"both a tensor and a file": {Inputs: map[string]tensor.Tensor{"x": x}, MiscInputs: map[string]string{"x": img}},
		"not declared":             {MiscInputs: map[string]string{"nope": img}},
		"not declared output":      {MiscSampleOut: map[string]string{"ids": img}},
	} {
		opts.Examples = []carton.PackExample{ex}
		_, err := carton.Pack(ctx, model, out+"2", opts)
		require.ErrorIs(t, err, carton.ErrInvalidInput, what)
		assert.NoFileExists(t, out+"2")
	}
	opts.Examples = []carton.PackExample{{MiscInputs: map[string]string{"x": dir}}}
	_, err = carton.Pack(ctx, model, out+"2", opts)
	require.ErrorIs(t, err, carton.ErrMalformed, "a directory is no misc file")
	opts.Examples = []carton.PackExample{{MiscInputs: map[string]string{"x": filepath.Join(dir, "absent.png")}}}
	_, err = carton.Pack(ctx, model, out+"2", opts)
	require.ErrorIs(t, err, os.ErrNotExist)

	clash := filepath.Join(dir, "_example_misc_file_0")
	require.NoError(t, os.WriteFile(clash, []byte("mine"), 0o644))
	opts.Examples = []carton.PackExample{{MiscInputs: map[string]string{"x": img}}}
	opts.Misc = []string{clash}
	_, err = carton.Pack(ctx, model, out+"2", opts)
	require.ErrorIs(t, err, carton.ErrMalformed)
	assert.Contains(t, err.Error(), "misc/_example_misc_file_0")
}

// Reading a carton's metadata or checking it needs no cache directory: it
// works where none can be found (no HOME, as in some containers). Reading
// a file's metadata needs no download settings either.
func TestInfoAndVerifyNeedNoCacheDir(t *testing.T) {
	path, sha := packNoop(t)
	t.Setenv("CARTON_CACHE_DIR", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	_, err := carton.DefaultCacheDir()
	require.Error(t, err, "no cache directory here")
	info, err := carton.ModelInfo(context.Background(), path)
	require.NoError(t, err)
	assert.Equal(t, sha, info.ManifestSHA256)
	_, err = carton.Verify(context.Background(), path)
	require.NoError(t, err)

	// Nor does it need download settings: a malformed one in the
	// environment concerns downloads only.
	t.Setenv("CARTON_DOWNLOAD_STALL_TIMEOUT", "soon")
	_, err = carton.ModelInfo(context.Background(), path)
	require.NoError(t, err)
	_, err = carton.ModelInfo(context.Background(), "https://127.0.0.1:1/m.carton")
	require.ErrorIs(t, err, carton.ErrInvalidOption, "a URL does")
}
