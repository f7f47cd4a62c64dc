package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
	_ "github.com/carton-run/carton/backend/tensorflow"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/testneed"
	"github.com/carton-run/carton/tensor"
)

// libcarton is $CARTON_TEST_LIBCARTON (make libcarton), or one built here.
func libcarton(t *testing.T) string {
	if lib := os.Getenv("CARTON_TEST_LIBCARTON"); lib != "" {
		return lib
	}
	_, err := exec.LookPath("cc")
	testneed.Need(t, "building libcarton needs a C compiler", err)
	lib := filepath.Join(t.TempDir(), "libcarton.so")
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", lib, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return lib
}

// compile builds a test program against lib with compiler.
func compile(t *testing.T, compiler, src, lib string, flags ...string) string {
	_, err := exec.LookPath(compiler)
	testneed.Need(t, "the C ABI test needs "+compiler, err)
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))+"_"+compiler)
	dir := filepath.Dir(lib)
	args := append(append([]string{"-O1", "-g", "-Wall", "-Wextra", "-Werror", "-I../include"}, flags...),
		src, "-o", bin, "-L"+dir, "-lcarton", "-pthread", "-lm", "-Wl,-rpath,"+dir)
	out, err := exec.Command(compiler, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func packNamed(t *testing.T, model, name string) string {
	path := filepath.Join(t.TempDir(), name+".carton")
	_, err := carton.Pack(context.Background(), model, path, carton.PackOptions{Config: format.Config{ModelName: name}})
	testneed.Runtime(t, err)
	require.NoError(t, err)
	return path
}

// A C program and a C++ one, built against libcarton and include/carton.h,
// load an ONNX, a TorchScript, a TensorFlow and a TensorFlow string carton,
// infer with the reference inputs in place and copied, compare every
// output with the references, run 8 threads on one model, and go through
// the error paths (codes and messages, release callbacks).
func TestCProgram(t *testing.T) {
	lib := libcarton(t)
	td := "../testdata/"
	models := []struct{ path, ref string }{
		{packNamed(t, td+"onnx/matmul_add.onnx", "matmul_add"), td + "onnx/matmul_add"},
		{packNamed(t, td+"torch/dict_io.pt", "dict_io"), td + "torch/dict_io"},
		{packNamed(t, td+"tensorflow/dense", "dense"), td + "tensorflow/dense"},
		{packNamed(t, td+"tensorflow/strings", "strings"), td + "tensorflow/strings"},
	}
	var args []string
	for _, m := range models {
		args = append(args, m.path, m.ref)
	}
	c := compile(t, "cc", "testdata/carton_test.c", lib, "-std=c11", "-D_GNU_SOURCE")
	out, err := exec.Command(c, args...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, want := range []string{"ok load matmul_add runner=onnx runtime=onnxruntime", "ok load dict_io runner=torchscript runtime=libtorch",
		"ok load dense runner=tensorflow", "ok infer matmul_add", "ok infer dict_io", "ok infer dense", "ok infer strings",
		"ok threads matmul_add 200 calls", "ok threads dict_io 200 calls", "ok threads dense 200 calls", "ok threads strings 200 calls",
		"ok info matmul_add", "ok error not found", "ok error invalid option", "ok error invalid input", "ok release called once", "\ndone\n"} {
		assert.Contains(t, string(out), want)
	}
	assert.NotContains(t, string(out), "FAIL")

	cpp := compile(t, "c++", "testdata/carton_test.cpp", lib, "-std=c++17")
	out, err = exec.Command(cpp, models[1].path, models[1].ref, "x", "y").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "ok c++ threads 200 calls")
	assert.Contains(t, string(out), "\ndone\n")
}

// The header's codes and dtypes are the library's.
func TestHeaderMatchesLibrary(t *testing.T) {
	header, err := os.ReadFile("../include/carton.h")
	require.NoError(t, err)
	values := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s+CARTON_(\w+) = (\d+)`).FindAllStringSubmatch(string(header), -1) {
		values[m[1]], _ = strconv.Atoi(m[2])
	}
	for _, dt := range tensor.DTypes() {
		assert.Equal(t, int(dt), values["DTYPE_"+strings.ToUpper(dt.String())], dt.String())
	}
	for name, code := range map[string]int{"OK": statusOK, "ERR_INVALID_ARGUMENT": statusInvalidArgument, "ERR_INVALID_INPUT": statusInvalidInput,
		"ERR_NO_RUNTIME": statusNoRuntime, "ERR_CHECKSUM": statusChecksum, "ERR_CLOSED": statusClosed, "ERR_MALFORMED": statusMalformed,
		"ERR_MODEL": statusModel, "ERR_FRAMEWORK": statusFramework, "ERR_INVALID_OPTION": statusInvalidOption,
		"ERR_UNKNOWN_RUNNER": statusUnknownRunner, "ERR_PLATFORM": statusPlatform, "ERR_NOT_FOUND": statusNotFound,
		"ERR_OFFLINE": statusOffline, "ERR_REMOTE": statusRemote, "ERR_OTHER": statusOther} {
		v, ok := values[name]
		assert.True(t, ok && v == code, "CARTON_%s = %d in the header, %d here", name, v, code)
	}
}

func TestStatusOf(t *testing.T) {
	for err, want := range map[error]int{
		nil: statusOK,
		fmt.Errorf("x: %w", carton.ErrInvalidInput):                                statusInvalidInput,
		fmt.Errorf("%w: %w", carton.ErrFramework, carton.ErrInvalidInput):          statusInvalidInput,
		fmt.Errorf("x: %w", carton.ErrInvalidTensor):                               statusInvalidInput,
		fmt.Errorf("open: %w", fs.ErrNotExist):                                     statusNotFound,
		fmt.Errorf("x: %w", carton.ErrLimit):                                       statusMalformed,
		carton.ErrClosed:                                                           statusClosed,
		fmt.Errorf("%w: %w", carton.ErrModel, carton.ErrNoRuntime):                 statusNoRuntime,
		fmt.Errorf("%w: dtype 77", errInvalidArgument):                             statusInvalidArgument,
		errors.New("something else"):                                               statusOther,
		fmt.Errorf("%w and %w", carton.ErrRemoteStalled, context.DeadlineExceeded): statusRemote,
	} {
		assert.Equal(t, want, statusOf(err), "%v", err)
	}
}
