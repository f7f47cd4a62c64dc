package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// TestMain lets the test binary act as carton-serve when re-executed.
func TestMain(m *testing.M) {
	if os.Getenv("CARTON_SERVE_MAIN") == "1" {
		if err := run(os.Args[1:], slog.New(slog.NewTextHandler(os.Stderr, nil))); err != nil {
			slog.Error("carton-serve", "error", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// freeAddr is a loopback address no one listens on right now.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// start runs carton-serve with args on free loopback ports (REST, and
// gRPC at grpcAddr) until the test ends, and returns the REST address
// once it answers.
func start(t *testing.T, grpcAddr string, args ...string) (string, *exec.Cmd) {
	addr := freeAddr(t)
	cmd := launch(t, "http://"+addr+"/v2/health/live", nil, append([]string{"--addr", addr, "--grpc-addr", grpcAddr, "--drain", "100ms"}, args...)...)
	return addr, cmd
}

// launch runs carton-serve with exactly args, and env added to the
// test's, until the test ends, and returns once live (a URL) answers.
func launch(t *testing.T, live string, env []string, args ...string) *exec.Cmd {
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, args...)
	cmd.Env = append(append(os.Environ(), env...), "CARTON_SERVE_MAIN=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	// The service's log goes to the test's; it ends when the process exits.
	logEnded := make(chan struct{})
	go func() {
		defer close(logEnded)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log(sc.Text())
		}
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		resp, err := http.Get(live)
		if err == nil {
			resp.Body.Close()
			return cmd
		}
		select {
		case <-ctx.Done():
			t.Fatalf("carton-serve did not start: %v", err)
		case <-logEnded:
			t.Fatalf("carton-serve %s exited before answering %s (its log is above)", strings.Join(args, " "), live)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// pack packs model, with specs (NAME:DTYPE:SHAPE, inputs then outputs,
// split by "->") where the framework reports none (TorchScript).
func pack(t *testing.T, model string, specs ...string) string {
	path := filepath.Join(t.TempDir(), filepath.Base(model)+".carton")
	var cfg format.Config
	target := &cfg.Inputs
	for _, s := range specs {
		if s == "->" {
			target = &cfg.Outputs
			continue
		}
		parts := strings.SplitN(s, ":", 3)
		dt, err := tensor.ParseDType(parts[1])
		require.NoError(t, err)
		shape, err := format.ParseShapeSpec(parts[2])
		require.NoError(t, err)
		*target = append(*target, format.TensorSpec{Name: parts[0], DType: dt, Shape: shape})
	}
	_, err := carton.Pack(context.Background(), model, path, carton.PackOptions{Config: cfg})
	if errors.Is(err, carton.ErrNoRuntime) && os.Getenv("CI") != "true" {
		t.Skipf("%v (run make setup)", err)
	}
	require.NoError(t, err)
	return path
}

// testPython is the Python that env names, which has pkg installed (make
// setup); the test fails in CI without one and is skipped elsewhere.
func testPython(t *testing.T, env, pkg string) string {
	py := os.Getenv(env)
	if py == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs $%s, a Python with %s (make setup)", env, pkg)
		}
		t.Skipf("set %s to a Python with %s (make setup)", env, pkg)
	}
	return py
}

// runClient serves an ONNX, a TorchScript, a TensorFlow and a TensorFlow
// string model over REST and gRPC, runs a client script with py against
// it (HTTP_ADDR GRPC_ADDR NAME=REF..., the reference files it compares
// the outputs with), and returns the server, its REST address and the
// script's output.
func runClient(t *testing.T, py, script string) (*exec.Cmd, string, string) {
	td := "../../testdata/"
	grpcAddr := freeAddr(t)
	addr, cmd := start(t, grpcAddr,
		"--model", "matmul_add="+pack(t, td+"onnx/matmul_add.onnx"),
		"--model", "dict_io="+pack(t, td+"torch/dict_io.pt", "x:float32:batch,4", "->", "y:float32:batch,2", "doubled:float32:batch,4"),
		"--model", "dense="+pack(t, td+"tensorflow/dense"),
		"--model", "strings="+pack(t, td+"tensorflow/strings"),
	)
	out, err := exec.Command(py, script, addr, grpcAddr, "matmul_add="+td+"onnx/matmul_add", "dict_io="+td+"torch/dict_io",
		"dense="+td+"tensorflow/dense", "strings="+td+"tensorflow/strings").CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("%s", out)
	return cmd, addr, string(out)
}

// KServe's own Python clients (InferenceRESTClient, InferenceGRPCClient;
// make setup installs kserve) against carton-serve: health, model
// readiness, infer on the four models over REST (JSON and binary inputs)
// and gRPC, outputs equal to the references, and a bad request refused.
func TestKServeClient(t *testing.T) {
	py := testPython(t, "CARTON_TEST_KSERVE_PYTHON", "kserve")
	_, _, out := runClient(t, py, "testdata/kserve_client.py")
	for _, want := range []string{"ok server live and ready, REST and gRPC", "ok matmul_add infer rest binary=False",
		"ok matmul_add infer rest binary=True", "ok dict_io infer grpc", "ok dense infer rest binary=True",
		"ok strings infer rest binary=True", "ok strings infer grpc", "ok matmul_add rest bad request", "ok matmul_add grpc bad request"} {
		assert.Contains(t, out, want)
	}
}

// Triton's own clients (tritonclient[http,grpc], which make setup
// installs) against carton-serve: health, metadata, infer on an ONNX, a
// TorchScript and a TensorFlow model and a BYTES model, over REST (binary
// data both ways, and JSON) and gRPC (raw contents), outputs equal to the
// reference files carton infer is checked against, and errors with the
// protocol's status codes.
func TestTritonClient(t *testing.T) {
	py := testPython(t, "CARTON_TEST_TRITON_PYTHON", "tritonclient[http,grpc]")
	cmd, addr, out := runClient(t, py, "testdata/triton_client.py")
	for _, want := range []string{"ok matmul_add infer http binary=True", "ok matmul_add infer http binary=False", "ok dict_io infer http binary=True",
		"ok dense infer http binary=True", "ok strings infer http binary=True", "ok matmul_add bad request: 400", "ok unknown model: 404",
		"ok grpc server live", "ok matmul_add infer grpc", "ok dict_io infer grpc", "ok dense infer grpc", "ok strings infer grpc",
		"ok matmul_add grpc bad request", "ok grpc unknown model: NOT_FOUND",
		"platform=onnx_onnxv1", "platform=pytorch_torchscript", "platform=tensorflow_savedmodel"} {
		assert.Contains(t, out, want)
	}
	// SIGTERM: readiness goes first, then a clean exit.
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	sawNotReady := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !sawNotReady; time.Sleep(5 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/health/ready")
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		sawNotReady = resp.StatusCode == http.StatusServiceUnavailable
	}
	assert.True(t, sawNotReady, "not ready while draining, still answering")
	require.NoError(t, cmd.Wait(), "a clean exit on SIGTERM")
}

// A model that fails to load is reported and not ready; the others serve.
func TestFailedModelServesTheOthers(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.carton")
	require.NoError(t, os.WriteFile(bad, []byte("not a zip"), 0o644))
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "good", "2"), 0o755))
	good := pack(t, "../../testdata/onnx/matmul_add.onnx")
	raw, err := os.ReadFile(good)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "good", "2", "m.carton"), raw, 0o644))
	// As KServe's storage initializer leaves a model: a directory holding
	// the one .carton.
	mnt := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(mnt, "model.carton"), raw, 0o644))
	addr, _ := start(t, "", "--model", "bad="+bad, "--model-repository", dir, "--model", "isvc="+mnt, "--model", "empty="+t.TempDir())
	for path, want := range map[string]int{
		"/v2/models/isvc/ready":       200,
		"/v2/models/empty/ready":      503,
		"/v2/health/ready":            503,
		"/v2/models/bad/ready":        503,
		"/v2/models/good/ready":       200,
		"/v2/models/good/versions/2":  200,
		"/v2/models/good/versions/1":  404,
		"/v2/models/matmul_add/ready": 404,
	} {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, path)
	}
}
