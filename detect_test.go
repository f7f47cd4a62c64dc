package carton_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend"
)

// magicRunner recognizes files that start with one of its magics; two of
// them share "both", which makes a model DetectRunner cannot decide.
type magicRunner struct {
	name   string
	magics []string
}

func (r magicRunner) Name() string      { return r.name }
func (r magicRunner) Framework() string { return r.name }
func (magicRunner) Runtimes(context.Context, backend.Hints) ([]backend.Runtime, error) {
	return nil, nil
}
func (magicRunner) Load(context.Context, backend.LoadRequest) (backend.Session, error) {
	return nil, backend.ErrNoRuntime
}

func (r magicRunner) CheckModel(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		return fmt.Errorf("%w: want one file", backend.ErrModel)
	}
	b, err := os.ReadFile(filepath.Join(dir, entries[0].Name()))
	if err != nil {
		return fmt.Errorf("%w: %w", backend.ErrModel, err)
	}
	for _, m := range r.magics {
		if bytes.HasPrefix(b, []byte(m)) {
			return nil
		}
	}
	return fmt.Errorf("%w: no %s magic", backend.ErrModel, r.name)
}

func init() {
	backend.Register(magicRunner{"test-detect-a", []string{"DETECT-A", "DETECT-BOTH"}})
	backend.Register(magicRunner{"test-detect-b", []string{"DETECT-B", "DETECT-BOTH"}})
}

func TestDetectRunner(t *testing.T) {
	dir := t.TempDir()
	model := func(content string) string {
		p := filepath.Join(dir, content+".bin")
		require.NoError(t, os.WriteFile(p, []byte(content+" model"), 0o644))
		return p
	}
	name, err := carton.DetectRunner(model("DETECT-B"))
	require.NoError(t, err)
	assert.Equal(t, "test-detect-b", name)

	_, err = carton.DetectRunner(model("DETECT-BOTH"))
	require.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "test-detect-a or test-detect-b")

	_, err = carton.DetectRunner(model("neither"))
	require.ErrorIs(t, err, carton.ErrModel)
	assert.Contains(t, err.Error(), "no runner recognizes")
	assert.Contains(t, err.Error(), "test-detect-a: cannot load model: no test-detect-a magic")

	_, err = carton.DetectRunner(filepath.Join(dir, "missing.bin"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// Pack does the same when the config names no runner, and requires any version.
	out := filepath.Join(dir, "a.carton")
	_, err = carton.Pack(context.Background(), model("DETECT-A"), out, carton.PackOptions{})
	require.NoError(t, err)
	info, err := carton.ModelInfo(context.Background(), out)
	require.NoError(t, err)
	assert.Equal(t, "test-detect-a", info.Runner.RunnerName)
	assert.Equal(t, "*", info.Runner.RequiredFrameworkVersion)
	_, err = carton.Pack(context.Background(), model("DETECT-BOTH"), filepath.Join(dir, "both.carton"), carton.PackOptions{})
	require.ErrorIs(t, err, carton.ErrModel)
	assert.NoFileExists(t, filepath.Join(dir, "both.carton"))
}
