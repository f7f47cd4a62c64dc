package libtorch

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/refdata"
)

func TestCheckModel(t *testing.T) {
	models, _ := filepath.Glob("../../testdata/torch/*.pt")
	require.NotEmpty(t, models)
	for _, p := range models {
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		err = Runner{}.CheckModel(refdata.ModelDir(t, "model.pt", b))
		if filepath.Base(p) == "state_dict.pt" {
			require.ErrorIs(t, err, backend.ErrModel)
			assert.Contains(t, err.Error(), "torch.save")
			assert.Contains(t, err.Error(), "torch.jit.save")
			continue
		}
		assert.NoError(t, err, p)
	}

	onnxModel, err := os.ReadFile("../../testdata/onnx/matmul_add.onnx")
	require.NoError(t, err)
	err = Runner{}.CheckModel(refdata.ModelDir(t, "model.pt", onnxModel))
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "not TorchScript")

	var other bytes.Buffer // a zip, but neither TorchScript nor torch.save
	zw := zip.NewWriter(&other)
	w, _ := zw.Create("archive/readme.txt")
	w.Write([]byte("hi"))
	require.NoError(t, zw.Close())
	err = Runner{}.CheckModel(refdata.ModelDir(t, "model.pt", other.Bytes()))
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "no constants.pkl")

	flatbuffer := append([]byte{0x1c, 0, 0, 0}, "PTMF"...)
	assert.NoError(t, Runner{}.CheckModel(refdata.ModelDir(t, "model.pt", append(flatbuffer, make([]byte, 64)...))))

	err = Runner{}.CheckModel(t.TempDir())
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "no model.pt")
}

// Pack refuses a file libtorch could not load, and leaves no carton.
func TestPackRefusesWhatIsNotTorchScript(t *testing.T) {
	ctx := context.Background()
	out := filepath.Join(t.TempDir(), "m.carton")
	opts := carton.PackOptions{Config: format.Config{Runner: format.Runner{RunnerName: "torchscript", RequiredFrameworkVersion: "*"}}}
	for _, model := range []string{"../../testdata/torch/state_dict.pt", "../../testdata/onnx/matmul_add.onnx"} {
		_, err := carton.Pack(ctx, model, out, opts)
		require.ErrorIs(t, err, carton.ErrModel, model)
		assert.True(t, strings.Contains(err.Error(), "torchscript runner"), err)
		assert.NoFileExists(t, out)
	}
	_, err := carton.Pack(ctx, "../../testdata/torch/first.pt", out, opts)
	require.NoError(t, err)
}
