package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/backend/tensorflow"
	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/internal/ziptest"
	"github.com/carton-run/carton/tensor"
)

func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// packEcho packs a one-byte model for the noop runner (it echoes its
// inputs) with the pack flags given, in a directory of its own whose cache
// the test uses; it returns the directory and the carton.
func packEcho(t *testing.T, flags ...string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	t.Setenv("CARTON_CACHE_DIR", filepath.Join(dir, "cache"))
	model := filepath.Join(dir, "m.bin")
	require.NoError(t, os.WriteFile(model, []byte("m"), 0o644))
	path = filepath.Join(dir, "echo.carton")
	code, _, stderr := cli(t, append([]string{"pack", model, "--runner", "noop", "--framework-version", "*", "-o", path}, flags...)...)
	require.Equal(t, 0, code, stderr)
	return dir, path
}

func writeNpy(t *testing.T, dir, name string, x tensor.Tensor) string {
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	require.NoError(t, err)
	require.NoError(t, npy.Write(f, x))
	require.NoError(t, f.Close())
	return p
}

func TestInfoUpstreamJSON(t *testing.T) {
	code, out, errOut := cli(t, "info", "../../testdata/upstream/test.carton", "--json")
	require.Equal(t, 0, code, errOut)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &doc))
	assert.Equal(t, "Test Model", doc["model_name"])
	assert.Equal(t, "f1cae5143a92a44e3a7e1d9c32a0245065dfb6e0f1e91c18b5e44356d081dfb5", doc["manifest_sha256"])
	runner := doc["runner"].(map[string]any)
	assert.Equal(t, "python", runner["runner_name"])
	assert.Equal(t, "=3.11", runner["required_framework_version"])
	inputs := doc["input"].([]any)
	require.Len(t, inputs, 7)
	var shapes []string
	for _, in := range inputs {
		b, _ := json.Marshal(in.(map[string]any)["shape"])
		shapes = append(shapes, string(b))
	}
	assert.Equal(t, []string{`"*"`, `"some_symbol"`, `["*"]`, `["some_symbol"]`, `[]`, `["batch_size",3,512,512]`, `["*","*","*"]`}, shapes)
	assert.Len(t, doc["self_test"], 1)
	assert.Len(t, doc["example"], 1)
	for k := range doc {
		assert.NotContains(t, []string{"path", "runtime", "Config"}, k)
	}
}

func TestPackInferSelfTestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model.bin")
	require.NoError(t, os.WriteFile(model, []byte("weights"), 0o644))
	x, _ := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	words, _ := tensor.FromStrings(tensor.Shape{2}, []string{"hi", "there"})
	xp := writeNpy(t, dir, "x.npy", x)
	wp := writeNpy(t, dir, "w.npy", words)
	out := filepath.Join(dir, "echo.carton")

	args := []string{"pack", model, "--runner", "noop", "--framework-version", "*", "-o", out,
		"--name", "echo", "--description", "echoes", "--license", "MIT",
		"--input", "x:float32:batch,3", "--input", "w:string:[*]",
		"--output", "x:float32:batch,3", "--output", "w:string:[*]",
		"--opt", "threads=2", "--opt", "mode=fast",
		"--self-test", "x=" + xp + ",w=" + wp + ",out:x=" + xp,
		"--example", "x=" + xp + ",w=" + wp}
	code, stdout, stderr := cli(t, args...)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "manifest sha256")
	first, _ := os.ReadFile(out)
	code, _, stderr = cli(t, args...)
	require.Equal(t, 0, code, stderr)
	second, _ := os.ReadFile(out)
	assert.True(t, bytes.Equal(first, second), "packing twice gives identical bytes")

	code, stdout, _ = cli(t, "info", out)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "noop * (compat 1)")
	assert.Contains(t, stdout, "[batch,3]")
	assert.Regexp(t, `opt threads:\s+2`, stdout)

	outDir := filepath.Join(dir, "out")
	t.Setenv("CARTON_CACHE_DIR", filepath.Join(dir, "cache"))
	code, stdout, stderr = cli(t, "infer", out, "--input", "x="+xp, "--input", "w="+wp, "--output-dir", outDir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "x: float32[2 3] min=1 max=6 mean=3.5")
	assert.Contains(t, stdout, `w: string[2] ["hi" "there"]`)
	assert.Nil(t, tensor.Compare(refdata.ReadNpy(t, filepath.Join(outDir, "x.npy")), x, tensor.Tolerance{}))
	assert.Nil(t, tensor.Compare(refdata.ReadNpy(t, filepath.Join(outDir, "w.npy")), words, tensor.Tolerance{}))

	code, stdout, stderr = cli(t, "selftest", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "1 of 1 self-tests passed")

	// An example may show an input as a file (@FILE).
	withFile := filepath.Join(dir, "example.carton")
	code, _, stderr = cli(t, "pack", model, "--runner", "noop", "--framework-version", "*", "-o", withFile,
		"--example", "x=@"+xp+",out:x="+xp)
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr = cli(t, "info", withFile)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "inputs x=@misc/_example_misc_file_0; sample_out x=@tensor_data/example_0_out_x")

	// A self-test whose expectation is wrong fails with exit 1.
	y, _ := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 60})
	yp := writeNpy(t, dir, "y.npy", y)
	bad := filepath.Join(dir, "bad.carton")
	code, _, stderr = cli(t, "pack", model, "--runner", "noop", "--framework-version", "*", "-o", bad,
		"--input", "x:float32:batch,3", "--output", "x:float32:batch,3", "--self-test", "x="+xp+",out:x="+yp)
	require.Equal(t, 0, code, stderr)
	code, stdout, _ = cli(t, "selftest", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, "FAIL")
	assert.Contains(t, stdout, "element 5 is 6, want 60")
}

func TestErrorsAndHelp(t *testing.T) {
	code, _, stderr := cli(t)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "Commands:")
	for _, c := range commands {
		code, _, stderr := cli(t, c.name, "--help")
		assert.Equal(t, 0, code, c.name)
		assert.Contains(t, stderr, "Usage: carton "+c.name, c.name)
		code, _, stderr = cli(t, "help", c.name)
		assert.Equal(t, 0, code, c.name)
		assert.Contains(t, stderr, "Usage: carton "+c.name, c.name)
	}
	code, _, stderr = cli(t, "frobnicate")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "unknown command")

	code, _, stderr = cli(t, "pack", "x")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "required")

	code, _, stderr = cli(t, "info", "/nonexistent.carton")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no such file")

	dir := t.TempDir()
	code, _, stderr = cli(t, "pack", dir, "--runner", "noop", "--framework-version", "*", "-o", filepath.Join(dir, "o.carton"), "--input", "x:complex:*")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "unknown dtype")

	code, _, stderr = cli(t, "pack", "../../testdata/onnx/matmul_add.onnx", "--runner", "noop", "--framework-version", "*", "-o", filepath.Join(dir, "st.carton"),
		"--self-test", "x=@../../testdata/README.md")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "only examples take files")

	wrong := filepath.Join(dir, "wrong.carton") // an ONNX file packed for libtorch
	code, _, stderr = cli(t, "pack", "../../testdata/onnx/matmul_add.onnx", "--runner", "torchscript", "--framework-version", "*", "-o", wrong)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "model.pt is not TorchScript")
	assert.NoFileExists(t, wrong)

	code, _, stderr = cli(t, "infer", "../../testdata/upstream/test.carton", "--input", "a=/nonexistent.npy")
	assert.Equal(t, 1, code)
	assert.True(t, strings.Contains(stderr, "no such file"), stderr)
}

func TestONNXEndToEnd(t *testing.T) {
	if !haveONNX() {
		if os.Getenv("CI") == "true" {
			t.Fatal("no ONNX Runtime found under CI=true (make setup installs it)")
		}
		t.Skip("no ONNX Runtime found: run make setup")
	}
	dir := t.TempDir()
	t.Setenv("CARTON_CACHE_DIR", filepath.Join(dir, "cache"))
	models := "../../testdata/onnx/"
	out := filepath.Join(dir, "m.carton")
	code, _, stderr := cli(t, "pack", models+"matmul_add.onnx", "--runner", "onnx", "--framework-version", ">=1.20", "-o", out,
		"--self-test", "x="+models+"matmul_add.in.x.npy,out:y="+models+"matmul_add.out.y.npy")
	require.Equal(t, 0, code, stderr)
	code, stdout, _ := cli(t, "info", out)
	require.Equal(t, 0, code)
	assert.Regexp(t, `x\s+float32\s+\[batch,4\]`, stdout, "specs read from the model")
	code, stdout, stderr = cli(t, "infer", out, "--input", "x="+models+"matmul_add.in.x.npy", "--output-dir", dir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "ran on onnxruntime")
	assert.Nil(t, tensor.Compare(refdata.ReadNpy(t, filepath.Join(dir, "y.npy")), refdata.ReadNpy(t, models+"matmul_add.out.y.npy"), tensor.Tolerance{Rtol: 1e-5, Atol: 1e-6}))
	code, stdout, _ = cli(t, "selftest", out)
	assert.Equal(t, 0, code, stdout)
}

func haveONNX() bool {
	rts, _ := (onnx.Runner{}).Runtimes(context.Background(), backend.Hints{})
	return len(rts) > 0
}

func TestBench(t *testing.T) {
	_, out := packEcho(t, "--input", "x:float32:batch,3", "--input", "ids:int64:[batch]", "--input", "s:string:[2]")

	code, stdout, stderr := cli(t, "bench", out, "--random", "--dim", "batch=4", "-n", "200", "--warmup", "5", "--concurrency", "2", "--json")
	require.Equal(t, 0, code, stderr)
	var res benchResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	assert.Equal(t, 200, res.Calls)
	assert.Equal(t, 2, res.Concurrency)
	assert.Equal(t, "noop", res.Framework)
	assert.Greater(t, res.Throughput, 0.0)
	assert.LessOrEqual(t, res.P50, res.P99)
	assert.LessOrEqual(t, res.P99, res.Max)
	assert.Greater(t, res.PeakRSSKiB, int64(0))

	code, stdout, _ = cli(t, "bench", out, "--random", "--duration", "50ms")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "noop 1.0.0")

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0)) // the CLI runs in this process
	code, stdout, stderr = cli(t, "bench", out, "--random", "-n", "50", "--concurrency", "2", "--gomaxprocs", "3", "--json")
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	assert.Equal(t, 3, res.GOMAXPROCS)
	assert.Equal(t, "Infer", res.API)

	code, stdout, stderr = cli(t, "bench", out, "--random", "-n", "50", "--concurrency", "2", "--reuse-outputs", "--json")
	require.Equal(t, 0, code, stderr)
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	assert.Equal(t, "InferInto", res.API)
	assert.Equal(t, 50, res.Calls)
	assert.Less(t, res.AllocsPerCall, 3.0, "one map per goroutine, not one per call")

	code, stdout, stderr = cli(t, "bench", out, "--random", "-n", "20", "--compare", "--json")
	require.Equal(t, 0, code, stderr)
	var all []benchResult
	require.NoError(t, json.Unmarshal([]byte(stdout), &all))
	require.Len(t, all, 1, "noop has one version")
	assert.Equal(t, 20, all[0].Calls)

	// --framework-version narrows the runtimes, with --compare too: the
	// noop runner's one version is 1.0.0.
	for req, want := range map[string]int{"^1": 1, "1.0": 1, "1.0.0": 1, "^2": 0, "<1": 0} {
		code, stdout, stderr = cli(t, "bench", out, "--random", "-n", "5", "--compare", "--framework-version", req, "--json")
		if want == 0 {
			assert.Equal(t, 1, code, req)
			assert.Contains(t, stderr, "satisfies * and "+req, req)
			code, _, stderr = cli(t, "bench", out, "--random", "-n", "5", "--framework-version", req)
			assert.Equal(t, 1, code, req)
			assert.Contains(t, stderr, "pinned to "+req, req)
			continue
		}
		require.Equal(t, 0, code, "%s: %s", req, stderr)
		require.NoError(t, json.Unmarshal([]byte(stdout), &all))
		assert.Len(t, all, want, req)
		code, _, stderr = cli(t, "bench", out, "--random", "-n", "5", "--framework-version", req)
		assert.Equal(t, 0, code, "%s: %s", req, stderr)
	}
	code, _, stderr = cli(t, "bench", out, "--random", "-n", "5", "--compare", "--framework-version", "latest")
	assert.Equal(t, 2, code, stderr)
	code, _, stderr = cli(t, "bench", out, "--random", "-n", "5", "--compare", "--runtime", "/x")
	assert.Equal(t, 2, code, stderr)

	code, _, stderr = cli(t, "bench", out)
	assert.Equal(t, 2, code, "needs --input or --random")
	assert.Contains(t, stderr, "--random")
	code, _, _ = cli(t, "bench", out, "--random", "--dim", "batch=x")
	assert.Equal(t, 2, code)
}

// A SavedModel directory: pack reads the signature in pure Go, infer runs
// it on TensorFlow and the string output comes back intact.
func TestTensorFlowEndToEnd(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CARTON_CACHE_DIR", filepath.Join(dir, "cache"))
	models := "../../testdata/tensorflow/"
	out := filepath.Join(dir, "s.carton")
	code, _, stderr := cli(t, "pack", models+"strings", "--runner", "tensorflow", "--framework-version", "^2", "-o", out,
		"--self-test", "text="+models+"strings.in.text.npy,out:upper="+models+"strings.out.upper.npy")
	require.Equal(t, 0, code, stderr)
	code, stdout, _ := cli(t, "info", out)
	require.Equal(t, 0, code)
	assert.Regexp(t, `text\s+string\s+\[\*\]`, stdout, "specs read from saved_model.pb")
	assert.Regexp(t, `joined\s+string\s+\[\]`, stdout)
	if rts, _ := (tensorflow.Runner{}).Runtimes(context.Background(), backend.Hints{}); len(rts) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("no TensorFlow found under CI=true (make setup installs it)")
		}
		t.Skip("no TensorFlow found: run make setup")
	}
	code, stdout, stderr = cli(t, "infer", out, "--input", "text="+models+"strings.in.text.npy", "--output-dir", dir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "ran on tensorflow")
	assert.Nil(t, tensor.Compare(refdata.ReadNpy(t, filepath.Join(dir, "joined.npy")), refdata.ReadNpy(t, models+"strings.out.joined.npy"), tensor.Tolerance{}))
	code, stdout, _ = cli(t, "selftest", out)
	assert.Equal(t, 0, code, stdout)
}

func TestFetchAndRuntimesCommands(t *testing.T) {
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	t.Setenv("CARTON_OFFLINE", "1")
	code, _, stderr := cli(t, "fetch", "onnx", "1.20.1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "CARTON_OFFLINE=1", "offline names what was missing")
	assert.Contains(t, stderr, "onnxruntime 1.20.1")

	code, _, stderr = cli(t, "fetch", "caffe", "1.0")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "unknown framework")

	t.Setenv("CARTON_OFFLINE", "")
	t.Setenv("CARTON_RELEASE_TABLE", "")
	t.Setenv("CARTON_PYPI_INDEX", "")
	t.Setenv("PIP_NO_INDEX", "1") // without an index, the table alone would serve it
	code, _, stderr = cli(t, "fetch", "torchscript", "2.1.0")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no known sha256", "the embedded table's entries are unverified: refused before any network access")

	code, stdout, _ := cli(t, "runtimes", "--json")
	require.Equal(t, 0, code)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rows))
	for _, r := range rows {
		assert.NotEmpty(t, r["framework"])
		assert.NotEmpty(t, r["source"])
	}
	code, _, stderr = cli(t, "runtimes", "rm", "onnxruntime", "9.9.9")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "not in the cache")
}

// Output names are the carton's to choose and may hold path separators:
// infer keeps every file inside --output-dir, and refuses two outputs
// that would share one.
func TestInferOutputNamesStayInOutputDir(t *testing.T) {
	dir, echo := packEcho(t) // noop: each input comes back as an output of its name
	x, _ := tensor.From(tensor.Shape{2}, []float32{1, 2})
	xp := writeNpy(t, dir, "x.npy", x)

	outDir := filepath.Join(dir, "a", "out")
	code, stdout, stderr := cli(t, "infer", echo, "--input", "../../escape="+xp, "--input", `dense/BiasAdd\0=`+xp, "--output-dir", outDir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, ".._.._escape.npy")
	assert.Nil(t, tensor.Compare(refdata.ReadNpy(t, filepath.Join(outDir, ".._.._escape.npy")), x, tensor.Tolerance{}))
	assert.FileExists(t, filepath.Join(outDir, `dense_BiasAdd_0.npy`))
	assert.NoFileExists(t, filepath.Join(dir, "escape.npy"))

	code, _, stderr = cli(t, "infer", echo, "--input", "a/b="+xp, "--input", "a_b="+xp, "--output-dir", filepath.Join(dir, "clash"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "would both be written to a_b.npy")
	assert.NoFileExists(t, filepath.Join(dir, "clash", "a_b.npy"), "checked before writing")
}

// Without --runner, pack asks each runner whether the model is its kind
// (pure Go, no runtime); without --framework-version it requires any.
func TestPackRecognizesTheRunner(t *testing.T) {
	dir := t.TempDir()
	for model, want := range map[string]string{
		"../../testdata/onnx/matmul_add.onnx": "onnx", // specs given: reading them would need ONNX Runtime
		"../../testdata/onnx/external":        "onnx",
		"../../testdata/torch/dict_io.pt":     "torchscript",
		"../../testdata/tensorflow/dense":     "tensorflow",
	} {
		out := filepath.Join(dir, filepath.Base(model)+".carton")
		code, stdout, stderr := cli(t, "pack", model, "-o", out, "--input", "x:float32:*", "--output", "y:float32:*")
		require.Equal(t, 0, code, "%s: %s", model, stderr)
		assert.Contains(t, stdout, "runner "+want+", recognized from the model", model)
		info, err := carton.ModelInfo(context.Background(), out)
		require.NoError(t, err)
		assert.Equal(t, want, info.Runner.RunnerName, model)
		assert.Equal(t, carton.AnyFrameworkVersion, info.Runner.RequiredFrameworkVersion, model)
	}

	// An ONNX model whose external data stayed behind is ONNX's to refuse.
	code, _, stderr := cli(t, "pack", "../../testdata/onnx/external/model.onnx", "-o", filepath.Join(dir, "alone.carton"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "onnx runner: cannot load model: model.onnx keeps initializer data in weights.bin, which is not beside it; pack the directory")
	assert.NoFileExists(t, filepath.Join(dir, "alone.carton"))

	code, _, stderr = cli(t, "pack", "../../testdata/torch/state_dict.pt", "-o", filepath.Join(dir, "pickle.carton"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no runner recognizes")
	assert.Contains(t, stderr, "written by torch.save", "each runner's finding is given")
	assert.NoFileExists(t, filepath.Join(dir, "pickle.carton"))

	code, stdout, stderr := cli(t, "pack", "../../testdata/onnx/matmul_add.onnx", "-o", filepath.Join(dir, "named.carton"),
		"--runner", "onnx", "--framework-version", ">=1.20", "--input", "x:float32:*", "--output", "y:float32:*")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, stdout, "recognized", "a named runner is not second-guessed")
}

// .npy has no bfloat16: a float32 file feeds a bfloat16 input (rounded),
// and a bfloat16 output is written as float32 (exactly).
func TestInferBFloat16ThroughFloat32Files(t *testing.T) {
	dir, echo := packEcho(t, "--input", "x:bfloat16:*", "--output", "x:bfloat16:*") // noop: x comes back
	x, _ := tensor.From(tensor.Shape{3}, []float32{1.5, -2, 1.00390625})            // the last rounds to 1 (ties to even)
	xp := writeNpy(t, dir, "x.npy", x)
	outDir := filepath.Join(dir, "out")
	code, stdout, stderr := cli(t, "infer", echo, "--input", "x="+xp, "--output-dir", outDir)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "x: bfloat16[3]")
	assert.Contains(t, stdout, "(as float32: .npy has no bfloat16)")
	got := refdata.ReadNpy(t, filepath.Join(outDir, "x.npy"))
	assert.Equal(t, []float32{1.5, -2, 1}, tensor.MustView[float32](got))

	_, undeclared := packEcho(t) // no specs: nothing says the input is bfloat16
	code, _, stderr = cli(t, "infer", undeclared, "--input", "x="+xp, "--output-dir", outDir)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, tensor.Float32, refdata.ReadNpy(t, filepath.Join(outDir, "x.npy")).DType())
}

// Packing an ONNX model without specs asks ONNX Runtime for them; with no
// runtime installed the error says how to do without.
func TestPackWithoutRuntimeNamesTheWayOut(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CARTON_CACHE_DIR", filepath.Join(dir, "cache"))
	t.Setenv("CARTON_NODE_MODULES", filepath.Join(dir, "none"))
	t.Setenv("CARTON_PYTHON", filepath.Join(dir, "no-python"))
	t.Setenv("CARTON_ONNXRUNTIME_LIB", "")
	t.Setenv("PATH", "")
	out := filepath.Join(dir, "m.carton")
	code, _, stderr := cli(t, "pack", "../../testdata/onnx/matmul_add.onnx", "--runner", "onnx", "--framework-version", "*", "-o", out)
	require.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "declare the inputs and outputs")
	code, _, stderr = cli(t, "pack", "../../testdata/onnx/matmul_add.onnx", "--runner", "onnx", "--framework-version", "*", "-o", out,
		"--input", "x:float32:batch,4", "--output", "y:float32:batch,3")
	require.Equal(t, 0, code, stderr)
}

func TestShrinkCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CARTON_CACHE_DIR", filepath.Join(dir, "cache"))
	weights := bytes.Repeat([]byte("w"), 10000)
	model := filepath.Join(dir, "weights.bin")
	require.NoError(t, os.WriteFile(model, weights, 0o644))
	in := filepath.Join(dir, "in.carton")
	code, _, stderr := cli(t, "pack", model, "--runner", "noop", "--framework-version", "*", "-o", in)
	require.Equal(t, 0, code, stderr)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(weights) }))
	defer srv.Close()

	out := filepath.Join(dir, "out.carton")
	code, stdout, stderr := cli(t, "shrink", in, "--link", "model/weights.bin="+srv.URL+"/w", "-o", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "unchanged")
	code, stdout, stderr = cli(t, "info", out, "--json")
	require.Equal(t, 0, code, stderr)
	var shrunk map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &shrunk))
	assert.Equal(t, map[string]any{"model/weights.bin": []any{srv.URL + "/w"}}, shrunk["linked"])
	delete(shrunk, "linked")
	code2, stdoutIn, _ := cli(t, "info", in, "--json")
	require.Equal(t, 0, code2)
	var orig map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdoutIn), &orig))
	assert.Equal(t, orig, shrunk, "the same carton, by every field and its manifest hash")
	code, stdout, _ = cli(t, "info", out)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "linked model/weights.bin: "+srv.URL+"/w")
	x, _ := tensor.From(tensor.Shape{2}, []float32{1, 2})
	code, _, stderr = cli(t, "infer", out, "--input", "x="+writeNpy(t, dir, "x.npy", x), "--output-dir", filepath.Join(dir, "o"))
	require.Equal(t, 0, code, "loads, fetching the weights: %s", stderr)

	code, _, stderr = cli(t, "shrink", in, "--link", "model/nope.bin="+srv.URL, "-o", filepath.Join(dir, "x.carton"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "has no file model/nope.bin")
	code, _, _ = cli(t, "shrink", in, "-o", filepath.Join(dir, "x.carton"))
	assert.Equal(t, 2, code)
	assert.NoFileExists(t, filepath.Join(dir, "x.carton"))
}

// carton verify checks every file against MANIFEST, downloading the ones
// behind LINKS (refused offline), and fails on any byte that differs.
func TestVerifyCommand(t *testing.T) {
	dir, path := packEcho(t)
	code, stdout, stderr := cli(t, "verify", path)
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `^ok: 3 files match MANIFEST \(manifest sha256 [0-9a-f]{64}\)\n$`, stdout)

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	tampered := filepath.Join(dir, "tampered.carton")
	require.NoError(t, os.WriteFile(tampered, ziptest.Rewrite(t, raw, map[string][]byte{"model/m.bin": []byte("n")}), 0o644))
	code, _, stderr = cli(t, "verify", tampered)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "model/m.bin")
	assert.Contains(t, stderr, "does not match MANIFEST")

	var wrong atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wrong.Load() {
			_, _ = w.Write([]byte("n"))
			return
		}
		_, _ = w.Write([]byte("m"))
	}))
	defer srv.Close()
	shrunk := filepath.Join(dir, "shrunk.carton")
	code, _, stderr = cli(t, "shrink", path, "--link", "model/m.bin="+srv.URL+"/m", "-o", shrunk)
	require.Equal(t, 0, code, stderr)
	code, stdout, stderr = cli(t, "verify", shrunk)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "fetched through LINKS: model/m.bin\n")
	wrong.Store(true)
	code, _, stderr = cli(t, "verify", shrunk)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "checksum mismatch")
	t.Setenv("CARTON_OFFLINE", "1")
	code, _, stderr = cli(t, "verify", shrunk)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "offline")
}

// carton cache lists what infer extracted, removes it by hash, and prunes.
func TestCacheCommand(t *testing.T) {
	dir, path := packEcho(t)
	code, stdout, stderr := cli(t, "cache", "--json")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "[]\n", stdout)
	x, _ := tensor.From(tensor.Shape{2}, []float32{1, 2})
	code, _, stderr = cli(t, "infer", path, "--input", "x="+writeNpy(t, dir, "x.npy", x), "--output-dir", filepath.Join(dir, "o"))
	require.Equal(t, 0, code, stderr)
	info, err := carton.ModelInfo(context.Background(), path)
	require.NoError(t, err)

	code, stdout, stderr = cli(t, "cache", "--json")
	require.Equal(t, 0, code, stderr)
	var models []carton.CachedModel
	require.NoError(t, json.Unmarshal([]byte(stdout), &models))
	require.Len(t, models, 1)
	assert.Equal(t, info.ManifestSHA256, models[0].ManifestSHA256)
	code, stdout, _ = cli(t, "cache")
	require.Equal(t, 0, code)
	assert.Regexp(t, `(?m)^`+info.ManifestSHA256+` +1 B +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\S+model$`, stdout)

	code, stdout, stderr = cli(t, "cache", "rm", info.ManifestSHA256)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "removed "+info.ManifestSHA256+"\n", stdout)
	code, _, stderr = cli(t, "cache", "rm", info.ManifestSHA256)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no model extracted for manifest sha256")
	code, _, stderr = cli(t, "cache", "rm", "../runtimes")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "not a manifest sha256")

	code, _, _ = cli(t, "infer", path, "--input", "x="+filepath.Join(dir, "x.npy"), "--output-dir", filepath.Join(dir, "o2"))
	require.Equal(t, 0, code)
	code, _, stderr = cli(t, "cache", "prune")
	assert.Equal(t, 2, code, "--unused-for is required: %s", stderr)
	code, stdout, stderr = cli(t, "cache", "prune", "--unused-for", "24h")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "0 models removed, 0 B freed\n", stdout)
	code, stdout, stderr = cli(t, "cache", "prune", "--unused-for", "0")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "removed "+info.ManifestSHA256+" (1 B, last loaded ")
	assert.Contains(t, stdout, "1 models removed, 1 B freed\n")
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 200 << 20: "200.0 MiB", 3 << 40: "3.0 TiB"} {
		assert.Equal(t, want, humanBytes(n), n)
	}
}

// The commands that read a carton take a URL too.
func TestCommandsTakeURLs(t *testing.T) {
	dir, path := packEcho(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"1"`)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(raw))
	}))
	defer srv.Close()
	url := srv.URL + "/echo.carton"
	code, stdout, stderr := cli(t, "info", url)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "path:              "+url)
	code, stdout, stderr = cli(t, "verify", url)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "ok: 3 files match MANIFEST")
	x, _ := tensor.From(tensor.Shape{2}, []float32{1, 2})
	code, _, stderr = cli(t, "infer", url, "--input", "x="+writeNpy(t, dir, "x.npy", x), "--output-dir", filepath.Join(dir, "o"))
	require.Equal(t, 0, code, stderr)
	assert.FileExists(t, filepath.Join(dir, "o", "x.npy"))
}

// A service may serve models of every framework from one process: the
// three runtimes load side by side and each runs its model, in the order a
// server would meet them (the test's) and with every model open at once.
func TestEveryFrameworkInOneProcess(t *testing.T) {
	ctx := context.Background()
	for _, r := range everyRunner(t) { // all three loaded, and open until the test ends
		got, err := r.m.Infer(ctx, r.in)
		require.NoError(t, err, r.name)
		r.assertOutputs(t, got)
		r.m.ReleaseOutputs(got)
	}
}
