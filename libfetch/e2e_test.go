package libfetch_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/refdata"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

// isolate hides every local runtime, so that Load must download: a fresh
// cache, no Python, no npm package, no explicit paths, no index.
func isolate(t *testing.T) {
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	t.Setenv("CARTON_PYTHON", filepath.Join(t.TempDir(), "no-python"))
	t.Setenv("CARTON_NODE_MODULES", t.TempDir())
	for _, v := range []string{"CARTON_ONNXRUNTIME_LIB", "CARTON_LIBTORCH_DIR", "CARTON_TENSORFLOW_DIR", "CARTON_PYPI_INDEX", "PIP_INDEX_URL", "CARTON_OFFLINE"} {
		t.Setenv(v, "")
	}
	t.Setenv("PIP_CONFIG_FILE", os.DevNull)
	t.Setenv("PIP_NO_INDEX", "1") // tests that serve an index name it in CARTON_PYPI_INDEX
}

// packModel packs with declared specs: reading them from the model would
// need the runtime this test is about to download.
func packModel(t *testing.T, model, runner, requirement string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "m.carton")
	spec := func(name string) format.TensorSpec {
		return format.TensorSpec{Name: name, DType: tensor.Float32, Shape: format.AnyShape}
	}
	_, err := carton.Pack(context.Background(), model, out, carton.PackOptions{Config: format.Config{
		Runner: format.Runner{RunnerName: runner, RequiredFrameworkVersion: requirement},
		Inputs: []format.TensorSpec{spec("x")}, Outputs: []format.TensorSpec{spec("y")},
	}})
	require.NoError(t, err)
	return out
}

func inferAndCompare(t *testing.T, m *carton.Model, dir, name string) {
	t.Helper()
	in, want := refdata.Load(t, dir, name)
	got, err := m.Infer(context.Background(), in)
	require.NoError(t, err)
	refdata.Check(t, got, want)
}

// Load finds no ONNX Runtime, downloads the vendor-laid-out archive from
// the loopback mirror, verifies it, installs it and runs a real model.
func TestLoadDownloadsONNXRuntime(t *testing.T) {
	version, urlPath, tgz := libfetch.ORTArchive(t)
	isolate(t)
	srv := libfetch.NewServer(t)
	srv.Put(urlPath, tgz, "")
	t.Setenv("CARTON_DOWNLOAD_MIRROR", srv.URL)
	libfetch.WriteTable(t, libfetch.ONNXRuntime, version, urlPath, libfetch.SHA256(tgz), "onnxruntime-linux-x64-"+version)
	path := packModel(t, "../testdata/onnx/matmul_add.onnx", "onnx", "="+version)
	ctx := context.Background()

	m, err := carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	assert.Equal(t, "download", m.Info().Runtime.Source)
	assert.Equal(t, version, m.Info().Runtime.Version)
	inferAndCompare(t, m, "../testdata/onnx", "matmul_add")
	m.Close()

	m, err = carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	assert.Equal(t, "cache", m.Info().Runtime.Source, "the second load finds it in the cache")
	m.Close()
	assert.Equal(t, int64(1), srv.Hits.Load())

	// Offline, with an empty cache: a clear error naming the runtime.
	t.Setenv("CARTON_CACHE_DIR", t.TempDir())
	t.Setenv("CARTON_OFFLINE", "1")
	_, err = carton.Load(ctx, path, carton.WithCacheDir(t.TempDir()))
	require.ErrorIs(t, err, backend.ErrNoRuntime)
	require.ErrorIs(t, err, libfetch.ErrOffline)
	assert.Contains(t, err.Error(), "onnxruntime")
}

// The same for libtorch: Debian's libtorch 1.13 laid out like the vendor's
// libtorch zip (libtorch/lib, libtorch/build-version). The shim is the one
// make setup built for 1.13.0.
func TestLoadDownloadsLibtorch(t *testing.T) {
	shims := filepath.Join(os.Getenv("CARTON_CACHE_DIR"), "shims", "libtorch")
	libDir := "/usr/lib/x86_64-linux-gnu"
	if _, err := os.Stat(filepath.Join(shims, "1.13.0", "libcarton_torch.so")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs Debian's libtorch and its shim (make setup): %v", err)
		}
		t.Skipf("no shim for Debian's libtorch 1.13 (run make setup): %v", err)
	}
	var members []libfetch.Member
	for _, lib := range []string{"libc10.so", "libtorch_cpu.so", "libtorch.so", "libtorch_global_deps.so"} {
		real, err := filepath.EvalSymlinks(filepath.Join(libDir, lib))
		require.NoError(t, err)
		data, err := os.ReadFile(real)
		require.NoError(t, err)
		base := filepath.Base(real) // e.g. libtorch_cpu.so.1.13.0
		members = append(members,
			libfetch.Member{Name: "libtorch/lib/" + base, Data: data},
			libfetch.Member{Name: "libtorch/lib/" + lib + ".1.13", Link: base},
			libfetch.Member{Name: "libtorch/lib/" + lib, Link: lib + ".1.13"})
	}
	members = append(members, libfetch.Member{Name: "libtorch/build-version", Data: []byte("1.13.0\n")})
	zip := libfetch.Zip(t, members)
	urlPath := "/libtorch/cpu/libtorch-shared-with-deps-1.13.0%2Bcpu.zip"

	isolate(t)
	t.Setenv("CARTON_LIBTORCH_SHIM_DIR", shims)
	srv := libfetch.NewServer(t)
	srv.Put("/libtorch/cpu/libtorch-shared-with-deps-1.13.0+cpu.zip", zip, "")
	t.Setenv("CARTON_DOWNLOAD_MIRROR", srv.URL)
	libfetch.WriteTable(t, libfetch.LibTorch, "1.13.0", urlPath, libfetch.SHA256(zip), "libtorch")

	path := packModel(t, "../testdata/torch/dict_io.pt", "torchscript", "=1.13")
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	rt := m.Info().Runtime
	assert.Equal(t, "download", rt.Source)
	assert.Equal(t, "1.13.0", rt.Version)
	assert.Contains(t, rt.Path, os.Getenv("CARTON_CACHE_DIR"))
	inferAndCompare(t, m, "../testdata/torch", "dict_io")
}

// ortWheel reads the onnxruntime wheel make setup keeps, and its name.
func ortWheel(t *testing.T) ([]byte, string) {
	wheel := os.Getenv("CARTON_TEST_ORT_WHEEL")
	if wheel == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI needs $CARTON_TEST_ORT_WHEEL (make setup keeps the wheel)")
		}
		t.Skip("no onnxruntime wheel in $CARTON_TEST_ORT_WHEEL (run make test)")
	}
	data, err := os.ReadFile(wheel)
	require.NoError(t, err)
	return data, filepath.Base(wheel)
}

// The wheel source: a loopback index speaking the JSON simple API serves a
// real onnxruntime wheel with its sha256; only the library is extracted.
func TestWheelSource(t *testing.T) {
	data, name := ortWheel(t)
	isolate(t)
	t.Setenv("CARTON_RELEASE_TABLE", "")
	srv := libfetch.NewServer(t)
	page, _ := json.Marshal(map[string]any{
		"meta": map[string]string{"api-version": "1.1"}, "name": "onnxruntime", "versions": []string{"1.20.1"},
		"files": []map[string]any{
			{"filename": name, "url": "../../files/" + name, "hashes": map[string]string{"sha256": libfetch.SHA256(data)}},
			{"filename": "onnxruntime-1.20.1-cp311-cp311-win_amd64.whl", "url": "../../files/nope.whl", "hashes": map[string]string{}},
		},
	})
	srv.Put("/simple/onnxruntime/", page, "application/vnd.pypi.simple.v1+json")
	srv.Put("/files/"+name, data, "")
	t.Setenv("CARTON_PYPI_INDEX", srv.URL+"/simple")

	versions, err := libfetch.Available(context.Background(), libfetch.ONNXRuntime, libfetch.FetchOptions{})
	require.NoError(t, err)
	assert.Contains(t, versions, "1.20.1")

	path := packModel(t, "../testdata/onnx/matmul_add.onnx", "onnx", "=1.20.1")
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, "download", m.Info().Runtime.Source)
	inferAndCompare(t, m, "../testdata/onnx", "matmul_add")

	cache, _ := libfetch.CacheDir()
	list, err := libfetch.ListInstalled(cache, libfetch.ONNXRuntime, "")
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.True(t, list[0].Verified, "verified against the index's sha256")
	assert.Contains(t, list[0].From, srv.URL+"/files/")
	libs, _ := filepath.Glob(filepath.Join(list[0].Dir, "lib", "*"))
	for _, l := range libs {
		assert.Contains(t, filepath.Base(l), "libonnxruntime", "only the runtime's libraries are extracted")
	}
	_, err = os.Stat(filepath.Join(list[0].Dir, "onnxruntime"))
	assert.True(t, os.IsNotExist(err), "no Python package files")
}

// The wheel source for libtorch: a loopback index serving the real torch
// wheel (a CUDA build) and the wheels its metadata requires. libfetch keeps
// the CPU libraries and headers, finds that libtorch_cpu links the CUDA
// runtime and CUPTI, resolves them through cuda-toolkit's extras to the
// nvidia-* wheels, and extracts their libraries. A child process then loads
// it offline and runs a model (one libtorch per process).
func TestTorchWheelSource(t *testing.T) {
	dir := os.Getenv("CARTON_TEST_TORCH_WHEELS")
	shims := filepath.Join(os.Getenv("CARTON_CACHE_DIR"), "shims", "libtorch")
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI needs $CARTON_TEST_TORCH_WHEELS (make setup keeps the torch and cuda wheels)")
		}
		t.Skip("no torch wheels in $CARTON_TEST_TORCH_WHEELS (run make test)")
	}
	wheels, _ := filepath.Glob(filepath.Join(dir, "*.whl"))
	require.NotEmpty(t, wheels)
	isolate(t)
	t.Setenv("CARTON_RELEASE_TABLE", "")
	srv := libfetch.NewServer(t)
	pages := map[string][]map[string]any{}
	torchVersion := ""
	for _, w := range wheels {
		data, err := os.ReadFile(w)
		require.NoError(t, err)
		name := filepath.Base(w)
		project := strings.ReplaceAll(strings.ToLower(strings.SplitN(name, "-", 2)[0]), "_", "-")
		if project == "torch" {
			torchVersion = strings.SplitN(name, "-", 3)[1]
		}
		srv.Put("/files/"+name, data, "")
		pages[project] = append(pages[project], map[string]any{"filename": name, "url": "/files/" + name, "hashes": map[string]string{"sha256": libfetch.SHA256(data)}})
	}
	require.NotEmpty(t, torchVersion)
	for project, files := range pages {
		page, _ := json.Marshal(map[string]any{"meta": map[string]string{"api-version": "1.0"}, "name": project, "files": files})
		srv.Put("/simple/"+project+"/", page, "application/vnd.pypi.simple.v1+json")
	}
	t.Setenv("CARTON_PYPI_INDEX", srv.URL+"/simple/")

	c, err := libfetch.FetchMatching(context.Background(), libfetch.LibTorch, "^2", "", libfetch.FetchOptions{})
	require.NoError(t, err)
	assert.Equal(t, "download", c.Source)
	assert.True(t, strings.HasPrefix(c.Version, torchVersion), "%s from the wheel's torch/version.py", c.Version)
	for _, f := range []string{"lib/libtorch_cpu.so", "lib/libc10.so", "lib/libcudart.so.13", "lib/libcupti.so.13", "include/torch/script.h", "build-version"} {
		_, err := os.Stat(filepath.Join(c.Path, f))
		assert.NoError(t, err, f)
	}
	_, err = os.Stat(filepath.Join(c.Path, "lib", "libtorch_python.so"))
	assert.True(t, os.IsNotExist(err), "the Python bindings are left out")

	if _, err := os.Stat(filepath.Join(shims, strings.SplitN(c.Version, "+", 2)[0], "libcarton_torch.so")); err != nil {
		t.Fatalf("no prebuilt shim for libtorch %s under %s (make setup builds it): %v", c.Version, shims, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestTorchWheelChild$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "CARTON_TEST_TORCH_CHILD=1", "CARTON_OFFLINE=1", "CARTON_LIBTORCH_SHIM_DIR="+shims)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "--- PASS: TestTorchWheelChild")
}

func TestTorchWheelChild(t *testing.T) {
	if os.Getenv("CARTON_TEST_TORCH_CHILD") == "" {
		t.Skip("runs as a child of TestTorchWheelSource")
	}
	path := packModel(t, "../testdata/torch/dict_io.pt", "torchscript", "^2")
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, "cache", m.Info().Runtime.Source)
	inferAndCompare(t, m, "../testdata/torch", "dict_io")
}

// fakePip writes an interpreter for $CARTON_PYTHON whose pip, asked for
// its effective options, names index and cert (as a real pip with no
// index configured names its default), and which has no framework
// packages.
func fakePip(t *testing.T, index, cert string) string {
	answer, _ := json.Marshal(map[string]string{"index_url": index, "cert": cert, "proxy": ""})
	py := filepath.Join(t.TempDir(), "python3")
	script := "#!/bin/sh\ncase \"$2\" in\n*create_command*) echo '" + string(answer) + "' ;;\n*) echo '{}' ;;\nesac\n"
	require.NoError(t, os.WriteFile(py, []byte(script), 0o755))
	return py
}

// With no index configured anywhere, Load asks pip for the index it would
// use (its default) and its trust settings, and downloads from there: an
// index over https whose certificate only pip's CA bundle vouches for.
// The runtime says which index it came from.
func TestWheelFromPipsDefaultIndex(t *testing.T) {
	data, name := ortWheel(t)
	isolate(t)
	t.Setenv("PIP_NO_INDEX", "")
	t.Setenv("CARTON_RELEASE_TABLE", "")
	srv := libfetch.NewTLSServer(t)
	page, _ := json.Marshal(map[string]any{
		"meta": map[string]string{"api-version": "1.1"}, "name": "onnxruntime",
		"files": []map[string]any{{"filename": name, "url": "../../files/" + name, "hashes": map[string]string{"sha256": libfetch.SHA256(data)}}},
	})
	srv.Put("/simple/onnxruntime/", page, "application/vnd.pypi.simple.v1+json")
	srv.Put("/files/"+name, data, "")
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644))
	path := packModel(t, "../testdata/onnx/matmul_add.onnx", "onnx", "=1.20.1")

	t.Setenv("CARTON_PYTHON", fakePip(t, srv.URL+"/simple", ""))
	_, err := carton.Load(context.Background(), path, carton.WithCacheDir(t.TempDir()))
	require.ErrorContains(t, err, "certificate", "without pip's CA bundle the index is not trusted")

	t.Setenv("CARTON_PYTHON", fakePip(t, srv.URL+"/simple", certFile))
	m, err := carton.Load(context.Background(), path, carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	rt := m.Info().Runtime
	assert.Equal(t, "download", rt.Source)
	assert.Contains(t, rt.Origin, srv.URL+"/simple (pip's default")
	inferAndCompare(t, m, "../testdata/onnx", "matmul_add")
}
