package onnx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/internal/refdata"
)

func TestCheckModel(t *testing.T) {
	models, _ := filepath.Glob("../../testdata/onnx/*.onnx")
	external, _ := filepath.Glob("../../testdata/onnx/external/*.onnx")
	require.NotEmpty(t, models)
	require.NotEmpty(t, external)
	var good []byte
	for _, p := range append(models, external...) {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		assert.NoError(t, Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", b)), p)
		good = b
	}
	assert.NoError(t, Runner{}.CheckModel("../../testdata/onnx/external"), "the directory's one *.onnx")

	notONNX := map[string]string{
		"../../testdata/torch/first.pt":                  "field number 0",
		"../../testdata/tensorflow/dense/saved_model.pb": "no graph",
		"../../testdata/upstream/toml/complete.toml":     "",
	}
	for p, msg := range notONNX {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		err = Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", b))
		require.ErrorIs(t, err, backend.ErrModel, p)
		assert.Contains(t, err.Error(), "is not an ONNX model", p)
		assert.Contains(t, err.Error(), msg, p)
	}
	for _, data := range [][]byte{nil, good[:len(good)/2], good[:len(good)-1]} {
		err := Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", data))
		require.ErrorIs(t, err, backend.ErrModel, "%d bytes", len(data))
	}
	ortFormat := append([]byte{0x1c, 0, 0, 0}, "ORTM"...)
	assert.NoError(t, Runner{}.CheckModel(refdata.ModelDir(t, "model.onnx", append(ortFormat, make([]byte, 64)...))))
	err := Runner{}.CheckModel(t.TempDir())
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "no model/model.onnx")
}
