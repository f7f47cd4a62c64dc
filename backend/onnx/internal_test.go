package onnx

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/internal/pbscan"
	"github.com/carton-run/carton/tensor"
)

// anyLibrary returns one ONNX Runtime library path, failing under CI=true
// when none is installed.
func anyLibrary(t testing.TB) string {
	t.Helper()
	rts, err := Runner{}.Runtimes(context.Background(), backend.Hints{})
	if err == nil && len(rts) > 0 {
		return rts[0].Path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no ONNX Runtime found (run make setup): %v", err)
	}
	t.Skip("no ONNX Runtime found: run `make setup` or set CARTON_ONNXRUNTIME_LIB")
	return ""
}

func TestInputIsNotCopied(t *testing.T) {
	lib, err := loadLibrary(anyLibrary(t))
	require.NoError(t, err)
	s, err := newSession(lib, filepath.Join("..", "..", "testdata", "onnx", "matmul_add.onnx"), nil, sessionOptions{optLevel: 99})
	require.NoError(t, err)
	defer s.Close()

	data := tensor.Aligned[float32](8)
	x, err := tensor.From(tensor.Shape{2, 4}, data)
	require.NoError(t, err)
	cs := s.scratch.Get().(*callState)
	defer cs.pin.Unpin()
	v, err := s.inputValue(cs, &s.inputs[0], x)
	require.NoError(t, err)
	defer lib.api.raw(fnReleaseValue, v)
	require.NoError(t, lib.api.call(fnGetTensorMutableData, v, ptr(&cs.data)))
	assert.Equal(t, unsafe.Pointer(&data[0]), cs.data, "the OrtValue must wrap the Go slice itself")

	// And ORT reads through it: a write to the slice shows in the value's data.
	data[3] = 42
	assert.Equal(t, float32(42), unsafe.Slice((*float32)(cs.data), 8)[3])
}

func TestTooOldLibrary(t *testing.T) {
	path := anyLibrary(t)
	saved := MinAPIVersion
	MinAPIVersion = 1000
	defer func() { MinAPIVersion = saved }()
	_, err := openLibrary(path)
	require.ErrorIs(t, err, ErrTooOld)
	v, _ := Version(path)
	assert.Contains(t, err.Error(), "ONNX Runtime "+v)
	assert.Contains(t, err.Error(), "1.1000 or newer")
}

func TestShapelessValues(t *testing.T) {
	model, err := os.ReadFile(filepath.Join("..", "..", "testdata", "onnx", "any_rank.onnx"))
	require.NoError(t, err)
	names := map[string]bool{"x": true, "scale": true, "scaled": true, "reshaped": true}
	got, err := shapelessValues(bytes.NewReader(model), int64(len(model)), names)
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"x": true, "scaled": true, "reshaped": true}, got, "scale has an empty shape: a scalar")

	_, err = shapelessValues(bytes.NewReader(model[:len(model)/2]), int64(len(model)/2), names)
	assert.ErrorIs(t, err, pbscan.ErrNotProtobuf)
}

func FuzzShapelessValues(f *testing.F) {
	for _, name := range []string{"any_rank", "matmul_add", "passthrough"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "onnx", name+".onnx"))
		require.NoError(f, err)
		f.Add(b)
	}
	names := map[string]bool{"x": true, "y": true, "scaled": true}
	f.Fuzz(func(t *testing.T, model []byte) {
		got, err := shapelessValues(bytes.NewReader(model), int64(len(model)), names) // must not panic or loop
		for name := range got {
			assert.True(t, names[name], "only the names asked about: %q", name)
		}
		if err != nil {
			assert.ErrorIs(t, err, pbscan.ErrNotProtobuf)
		}
	})
}

// Before ORT 1.15 (no GetResizedStringTensorElementBuffer) a string with a
// NUL byte is refused rather than cut short.
func TestStringsWithNULBytesOnOldRuntimes(t *testing.T) {
	lib, err := loadLibrary(anyLibrary(t))
	require.NoError(t, err)
	old := *lib
	old.resizeString = 0
	s, err := newSession(&old, filepath.Join("..", "..", "testdata", "onnx", "strings.onnx"), nil, sessionOptions{optLevel: 99})
	require.NoError(t, err)
	defer s.Close()
	text, _ := tensor.FromStrings(tensor.Shape{2}, []string{"ok", "a\x00b"})
	err = s.Infer(context.Background(), map[string]tensor.Tensor{"text": text}, map[string]tensor.Tensor{})
	require.ErrorIs(t, err, backend.ErrInvalidInput)
	assert.Contains(t, err.Error(), `input "text" element 1 holds a NUL byte`)
}

func FuzzExternalDataFiles(f *testing.F) {
	for _, name := range []string{"external/model.onnx", "matmul_add.onnx"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "onnx", name))
		require.NoError(f, err)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, model []byte) {
		_, err := externalDataFiles(bytes.NewReader(model), int64(len(model))) // must not panic or loop
		if err != nil {
			assert.ErrorIs(t, err, pbscan.ErrNotProtobuf)
		}
	})
}
