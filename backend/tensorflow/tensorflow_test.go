package tensorflow_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tfpb "github.com/wamuir/graft/tensorflow/core/framework/types_go_proto"
	pb "github.com/wamuir/graft/tensorflow/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/backend/tensorflow"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/racebuild"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/tensor"
)

const models = "../../testdata/tensorflow"

func TestMain(m *testing.M) {
	if _, set := os.LookupEnv("TF_CPP_MIN_LOG_LEVEL"); !set {
		os.Setenv("TF_CPP_MIN_LOG_LEVEL", "1") // TensorFlow's INFO lines drown the test log
	}
	os.Exit(m.Run())
}

// runtime returns the TensorFlow to test on. Under CI=true not finding one
// fails: make setup installs tensorflow-cpu into build/venv.
func runtime(t testing.TB) backend.Runtime {
	t.Helper()
	found, err := tensorflow.Runner{}.Runtimes(context.Background(), backend.Hints{})
	if len(found) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs a TensorFlow runtime (make setup installs tensorflow-cpu): %v", err)
		}
		t.Skipf("no TensorFlow found (run make setup, or set CARTON_TENSORFLOW_DIR): %v", err)
	}
	return found[0]
}

// pack wraps a test SavedModel with specs read from saved_model.pb.
func pack(t testing.TB, name string, opts map[string]any) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".carton")
	_, err := carton.Pack(context.Background(), filepath.Join(models, name), out, carton.PackOptions{Config: format.Config{
		ModelName: name,
		Runner:    format.Runner{RunnerName: "tensorflow", RequiredFrameworkVersion: "^2", Opts: opts},
	}})
	require.NoError(t, err)
	return out
}

func load(t testing.TB, path string, opts ...carton.Option) *carton.Model {
	t.Helper()
	rt := runtime(t)
	opts = append([]carton.Option{carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir())}, opts...)
	m, err := carton.Load(context.Background(), path, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func TestModels(t *testing.T) {
	rt := runtime(t)
	cases := []struct {
		name string
		opts map[string]any
	}{
		{name: "dense"},
		{name: "mixed"},
		{name: "dtypes"},
		{name: "strings"},
		{name: "signatures", opts: map[string]any{"signature": "times_two"}},
		{name: "first"},
		{name: "lying_signature"}, // the signature says y is [8]
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := load(t, pack(t, c.name, c.opts))
			assert.Equal(t, rt.Version, m.Info().Runtime.Version)
			in, want := refdata.Load(t, models, c.name)
			for round := 0; round < 2; round++ { // the second call reuses pooled call state
				got, err := m.Infer(context.Background(), in)
				require.NoError(t, err)
				require.Len(t, got, len(want))
				for name, w := range want {
					tol := tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}
					if w.DType() == tensor.Float16 {
						tol = tensor.Tolerance{Rtol: 1e-3, Atol: 1e-3}
					}
					require.Contains(t, got, name)
					assert.Nil(t, tensor.Compare(got[name], w, tol), "%s: got %v want %v", name, got[name], w)
					got[name].Release()
				}
			}
		})
	}
}

// A SavedModel carton held in memory (as with //go:embed) is extracted
// into the cache, as Load extracts a file, and runs from there.
func TestLoadReader(t *testing.T) {
	rt := runtime(t)
	ctx := context.Background()
	raw, err := os.ReadFile(pack(t, "dense", nil))
	require.NoError(t, err)
	cache := t.TempDir()
	m, err := carton.LoadReader(ctx, bytes.NewReader(raw), int64(len(raw)), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(cache))
	require.NoError(t, err)
	defer m.Close()
	_, err = os.Stat(filepath.Join(cache, "models", m.Info().ManifestSHA256, "model", "saved_model.pb"))
	assert.NoError(t, err, "the SavedModel is extracted")
	in, want := refdata.Load(t, models, "dense")
	got, err := m.Infer(ctx, in)
	require.NoError(t, err)
	require.Len(t, got, len(want))
	refdata.Check(t, got, want)
}

// Pack reads signatures from saved_model.pb in pure Go: no runtime needed.
func TestPackFillsSpecsFromTheSignature(t *testing.T) {
	ctx := context.Background()
	info, err := carton.ModelInfo(ctx, pack(t, "dense", nil))
	require.NoError(t, err)
	assert.Equal(t, "[x:float32:[*,4]]", fmt.Sprint(info.Inputs))
	assert.Equal(t, "[y:float32:[*,3]]", fmt.Sprint(info.Outputs))

	info, err = carton.ModelInfo(ctx, pack(t, "mixed", nil))
	require.NoError(t, err)
	assert.Equal(t, "[ids:int64:[*] mask:bool:[*] x:float64:[*]]", fmt.Sprint(info.Inputs))
	assert.Equal(t, "[halved:float64:[*] inverted:bool:[*] masked_sum:int64:[] next_ids:int64:[*]]", fmt.Sprint(info.Outputs))

	info, err = carton.ModelInfo(ctx, pack(t, "signatures", map[string]any{"signature": "times_two"}))
	require.NoError(t, err)
	assert.Equal(t, "[value:float32:[*]]", fmt.Sprint(info.Inputs))
	assert.Equal(t, "[doubled:float32:[*]]", fmt.Sprint(info.Outputs))

	info, err = carton.ModelInfo(ctx, pack(t, "strings", nil))
	require.NoError(t, err)
	assert.Equal(t, "[text:string:[*]]", fmt.Sprint(info.Inputs))
	assert.Equal(t, "[joined:string:[] lengths:int32:[*] upper:string:[*]]", fmt.Sprint(info.Outputs))
}

func TestPackRejectsUnknownSignatureAndTags(t *testing.T) {
	ctx := context.Background()
	pk := func(opts map[string]any) error {
		_, err := carton.Pack(ctx, filepath.Join(models, "signatures"), filepath.Join(t.TempDir(), "x.carton"), carton.PackOptions{Config: format.Config{
			Runner: format.Runner{RunnerName: "tensorflow", RequiredFrameworkVersion: "^2", Opts: opts},
		}})
		return err
	}
	err := pk(map[string]any{"signature": "nope"})
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), `no signature "nope" (the SavedModel has serving_default, times_two)`)
	err = pk(map[string]any{"tags": "serve,gpu"})
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "no meta graph tagged [gpu,serve] (the SavedModel has [serve])")
	err = pk(map[string]any{"threads": int64(2)})
	require.ErrorIs(t, err, backend.ErrInvalidOption)
}

func TestLoadErrors(t *testing.T) {
	rt := runtime(t)
	ctx := context.Background()
	try := func(path string, opts ...carton.Option) error {
		opts = append([]carton.Option{carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir())}, opts...)
		m, err := carton.Load(ctx, path, opts...)
		if err == nil {
			m.Close()
		}
		return err
	}
	path := pack(t, "signatures", nil)
	err := try(path, carton.WithRunnerOpt("signature", "nope"))
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "times_two")
	err = try(path, carton.WithRunnerOpt("tags", "train"))
	require.ErrorIs(t, err, backend.ErrModel)
	err = try(path, carton.WithRunnerOpt("intra_op_threads", int64(-1)))
	require.ErrorIs(t, err, backend.ErrInvalidOption)
	err = try(path, carton.WithRunnerOpt("inter_op_threads", int64(-2)))
	require.ErrorIs(t, err, backend.ErrInvalidOption)
	err = try(path, carton.WithRunnerOpt("intra_op_threads", int64(backend.MaxThreads+1)))
	require.ErrorIs(t, err, backend.ErrInvalidOption)
	err = try(path, carton.WithDevice("cuda:0"))
	require.ErrorIs(t, err, backend.ErrInvalidOption)

	// A carton whose model/ holds no SavedModel.
	bad := filepath.Join(t.TempDir(), "bad.carton")
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "readme.txt"), []byte("not a model"), 0o644))
	_, err = carton.Pack(ctx, dir, bad, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "tensorflow", RequiredFrameworkVersion: "^2"},
	}})
	require.ErrorIs(t, err, backend.ErrModel, "pack reads the signature and finds no SavedModel")
}

func TestVersionRequirement(t *testing.T) {
	rt := runtime(t)
	ctx := context.Background()
	path := pack(t, "dense", nil)
	m, err := carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()), carton.WithFrameworkVersion(rt.Version))
	require.NoError(t, err)
	assert.Equal(t, rt.Version, m.Info().Runtime.Version)
	assert.NotEmpty(t, m.Info().Runtime.Source)
	m.Close()
	tooNew := pack(t, "dense", nil)
	_, err = carton.Pack(ctx, filepath.Join(models, "dense"), tooNew, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "tensorflow", RequiredFrameworkVersion: ">=99"},
	}})
	require.NoError(t, err)
	_, err = carton.Load(ctx, tooNew, carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, backend.ErrNoRuntime)
	assert.Contains(t, err.Error(), rt.Version, "the error lists what is available")
}

func TestInvalidInputs(t *testing.T) {
	m := load(t, pack(t, "dense", nil))
	ctx := context.Background()
	x4 := func(shape ...int64) tensor.Tensor {
		x, err := tensor.New(tensor.Float32, shape)
		require.NoError(t, err)
		return x
	}
	cases := map[string]map[string]tensor.Tensor{
		"missing":     {},
		"extra":       {"x": x4(1, 4), "z": x4(1, 4)},
		"wrong dtype": {"x": tensor.Scalar(int32(1))},
		"wrong rank":  {"x": x4(4)},
		"wrong dim":   {"x": x4(2, 5)},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := m.Infer(ctx, in)
			require.ErrorIs(t, err, backend.ErrInvalidInput)
		})
	}
	// An empty batch is valid.
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x4(0, 4)})
	require.NoError(t, err)
	assert.Equal(t, tensor.Shape{0, 3}, out["y"].Shape())
}

// TensorFlow's own shape checks come back as ErrInvalidInput too.
func TestTensorFlowRejectsInput(t *testing.T) {
	m := load(t, pack(t, "mixed", nil))
	in, _ := refdata.Load(t, models, "mixed")
	short, err := tensor.From(tensor.Shape{2}, []bool{true, false})
	require.NoError(t, err)
	in["mask"] = short // ids has 4 elements: tf.where cannot broadcast
	_, err = m.Infer(context.Background(), in)
	require.Error(t, err)
	require.ErrorIs(t, err, tensorflow.ErrTensorFlow)
	require.ErrorIs(t, err, backend.ErrInvalidInput)
	require.ErrorIs(t, err, backend.ErrFramework)
}

func TestOptionsAndThreads(t *testing.T) {
	// A one-thread inter-op pool, and -1: every op on the caller's thread.
	for _, interOp := range []int64{1, -1} {
		m := load(t, pack(t, "dense", map[string]any{"intra_op_threads": int64(1), "inter_op_threads": interOp}))
		in, want := refdata.Load(t, models, "dense")
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 {
					got, err := m.Infer(context.Background(), in)
					if !assert.NoError(t, err) {
						return
					}
					assert.Nil(t, tensor.Compare(got["y"], want["y"], tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}), "inter_op_threads %d", interOp)
				}
			}()
		}
		wg.Wait()
	}
}

func TestDeadline(t *testing.T) {
	m := load(t, pack(t, "dense", nil))
	in, want := refdata.Load(t, models, "dense")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := m.Infer(ctx, in) // a deadline becomes a RunOptions timeout
	require.NoError(t, err)
	assert.Nil(t, tensor.Compare(got["y"], want["y"], tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}))
	past, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	_, err = m.Infer(past, in)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// mixedInputs are inputs for the mixed model: ids first, first+1.
func mixedInputs(first int64) map[string]tensor.Tensor {
	ids, _ := tensor.From(tensor.Shape{2}, []int64{first, first + 1})
	mask, _ := tensor.From(tensor.Shape{2}, []bool{true, false})
	x, _ := tensor.From(tensor.Shape{2}, []float64{float64(first), 2})
	return map[string]tensor.Tensor{"ids": ids, "mask": mask, "x": x}
}

// checkMixed compares the mixed model's outputs for mixedInputs(first).
func checkMixed(t testing.TB, out map[string]tensor.Tensor, first int64) bool {
	return assert.Equal(t, []int64{first + 1, first + 2}, tensor.MustView[int64](out["next_ids"])) &&
		assert.Equal(t, []bool{false, true}, tensor.MustView[bool](out["inverted"])) &&
		assert.Equal(t, []float64{float64(first) / 2, 1}, tensor.MustView[float64](out["halved"])) &&
		assert.Equal(t, []int64{first}, tensor.MustView[int64](out["masked_sum"]))
}

// Each call sees its own outputs, whether the caller releases them one by
// one or gives the map back for any goroutine's next call to refill.
func TestConcurrentInfer(t *testing.T) {
	m := load(t, pack(t, "mixed", nil))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				first := int64(g*1000 + i)
				out, err := m.Infer(context.Background(), mixedInputs(first))
				if !assert.NoError(t, err) || !checkMixed(t, out, first) {
					return
				}
				if g%2 == 0 {
					m.ReleaseOutputs(out)
					continue
				}
				for _, o := range out {
					o.Release()
				}
			}
		})
	}
	wg.Wait()
}

// Small outputs of a map given back are copied into the Go memory the last
// call's outputs occupied; an output fed back as an input (which
// ReleaseOutputs forbids) gets new memory.
func TestReleaseOutputsReusesOutputMemory(t *testing.T) {
	m := load(t, pack(t, "mixed", nil))
	out := refdata.CheckOutputMemoryReuse(t, m, mixedInputs, "next_ids", func(out map[string]tensor.Tensor) { checkMixed(t, out, 20) },
		map[string]string{"ids": "next_ids", "mask": "inverted", "x": "halved"})
	if !racebuild.Enabled { // which poisons what ReleaseOutputs took back
		assert.Equal(t, []int64{22, 23}, tensor.MustView[int64](out["next_ids"]))
		assert.Equal(t, []bool{true, false}, tensor.MustView[bool](out["inverted"]))
		assert.Equal(t, []float64{5, 0.5}, tensor.MustView[float64](out["halved"]))
		assert.Equal(t, []int64{22}, tensor.MustView[int64](out["masked_sum"]))
	}
}

// Outputs up to 16 KiB are copied into Go memory; larger ones hold their
// own TF_Tensor, zero-copy, and stay valid after the model is closed.
func TestOutputsOutliveClose(t *testing.T) {
	rt := runtime(t)
	m, err := carton.Load(context.Background(), pack(t, "dense", nil), carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	in, want := refdata.Load(t, models, "dense")
	small, err := m.Infer(context.Background(), in)
	require.NoError(t, err)
	assert.False(t, small["y"].IsForeign(), "a 60-byte output is copied")

	// The reference rows repeated 400 times: y is 2000x3 floats, 24 KiB.
	const reps = 400
	x := tensor.MustView[float32](in["x"])
	rows := in["x"].Shape()[0]
	tiled := make([]float32, 0, len(x)*reps)
	for range reps {
		tiled = append(tiled, x...)
	}
	bigIn, err := tensor.From(tensor.Shape{rows * reps, 4}, tiled)
	require.NoError(t, err)
	big, err := m.Infer(context.Background(), map[string]tensor.Tensor{"x": bigIn})
	require.NoError(t, err)
	require.NoError(t, m.Close())

	assert.Nil(t, tensor.Compare(small["y"], want["y"], tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}))
	assert.True(t, big["y"].IsForeign(), "a 24 KiB output stays in TensorFlow's buffer")
	y, w := tensor.MustView[float32](big["y"]), tensor.MustView[float32](want["y"])
	require.Len(t, y, len(w)*reps)
	for i := range y {
		require.InDelta(t, w[i%len(w)], y[i], 1e-5, "element %d after Close", i)
	}
	big["y"].Release()
}

// $CARTON_TENSORFLOW_DIR names the runtime explicitly: the only candidate,
// its version read from the library (TF_Version).
func TestRuntimeFromEnv(t *testing.T) {
	rt := runtime(t)
	t.Setenv("CARTON_TENSORFLOW_DIR", rt.Path)
	found, err := tensorflow.Runner{}.Runtimes(context.Background(), backend.Hints{})
	require.NoError(t, err)
	require.NotEmpty(t, found)
	assert.Equal(t, "env", found[0].Source)
	assert.Equal(t, rt.Version, found[0].Version)

	t.Setenv("CARTON_TENSORFLOW_DIR", t.TempDir())
	_, err = carton.Load(context.Background(), pack(t, "dense", nil), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, backend.ErrNoRuntime, "a directory without the C API library")
}

// A model dropped without Close must not bring the process down when the
// collector finds it (its session pins its operations for its life).
func TestDroppedModel(t *testing.T) {
	rt := runtime(t)
	path := pack(t, "dense", nil)
	for range 2 {
		_, err := carton.Load(context.Background(), path, carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
		require.NoError(t, err)
	}
	for range 5 {
		goruntime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// An output TensorFlow hands back in an input's buffer (the dtypes model's
// Identity outputs) outlives that input: a view of Go memory, a copy when
// another framework owns the input, which may free it first.
func TestOutputsOutliveForeignInputsTheyAlias(t *testing.T) {
	m := load(t, pack(t, "dtypes", nil))
	ref, _ := refdata.Load(t, models, "dtypes")
	for _, n := range []int64{3, 1 << 15} { // copied anyway, and large enough to stay in TensorFlow's memory
		in, owned, want := map[string]tensor.Tensor{}, map[string]tensor.Tensor{}, map[string]tensor.Tensor{}
		for name, r := range ref {
			x, err := tensor.New(r.DType(), tensor.Shape{n})
			require.NoError(t, err)
			for i := range x.Bytes() {
				x.Bytes()[i] = byte(i%61) &^ 0x40 // finite float16s
			}
			want[name+"_out"] = x
			in[name] = refdata.OwnedElsewhere(t, x)
			owned[name] = in[name]
		}
		out, err := m.Infer(context.Background(), in)
		require.NoError(t, err)
		for _, x := range owned {
			x.Release()
		}
		for name, w := range want {
			assert.Nil(t, tensor.Compare(out[name], w, tensor.Tolerance{}), "%s, %d elements", name, n)
		}
		m.ReleaseOutputs(out)
	}
}

// A signature declaring an output dtype its graph does not compute fails
// the load: the runner would read the output's bytes as the wrong type.
func TestSignatureDTypeTheGraphDoesNotCompute(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "model")
	require.NoError(t, os.CopyFS(dir, os.DirFS(filepath.Join(models, "lying_signature"))))
	pbPath := filepath.Join(dir, "saved_model.pb")
	raw, err := os.ReadFile(pbPath)
	require.NoError(t, err)
	var sm pb.SavedModel
	require.NoError(t, proto.Unmarshal(raw, &sm))
	y := sm.MetaGraphs[0].SignatureDef["serving_default"].Outputs["y"]
	y.Dtype = tfpb.DataType_DT_DOUBLE // the graph computes float32
	raw, err = proto.Marshal(&sm)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pbPath, raw, 0o644))

	path := filepath.Join(t.TempDir(), "lying.carton")
	_, err = carton.Pack(context.Background(), dir, path, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: "tensorflow", RequiredFrameworkVersion: "^2"}}})
	require.NoError(t, err)
	_, err = carton.Load(context.Background(), path, carton.WithRuntimePath(runtime(t).Path), carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), `declares output "y" as TF_DataType 2, but the graph computes 1`)
}
