package tensorflow

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/backend"
)

func TestCheckModel(t *testing.T) {
	dirs, _ := filepath.Glob(filepath.Join(testModels, "*", "saved_model.pb"))
	require.NotEmpty(t, dirs)
	for _, p := range dirs {
		assert.NoError(t, Runner{}.CheckModel(filepath.Dir(p)), p)
	}
	nested := t.TempDir() // model/saved_model/ as upstream lays it out
	require.NoError(t, os.CopyFS(filepath.Join(nested, "saved_model"), os.DirFS(filepath.Join(testModels, "dense"))))
	assert.NoError(t, Runner{}.CheckModel(nested))

	for _, p := range []string{"../../testdata/onnx/matmul_add.onnx", "../../testdata/torch/first.pt"} {
		dir := t.TempDir()
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "saved_model.pb"), b, 0o644))
		assert.ErrorIs(t, Runner{}.CheckModel(dir), backend.ErrModel, p)
	}
	err := Runner{}.CheckModel(t.TempDir())
	require.ErrorIs(t, err, backend.ErrModel)
	assert.Contains(t, err.Error(), "no SavedModel")
}
