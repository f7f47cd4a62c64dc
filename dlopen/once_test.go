package dlopen

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOncePerFile(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libx.so.1")
	require.NoError(t, os.WriteFile(lib, nil, 0o644))
	require.NoError(t, os.Symlink("libx.so.1", filepath.Join(dir, "libx.so")))
	var c OncePerFile[int]
	opens := 0
	open := func(string) (int, error) { opens++; return opens, nil }
	a, _ := c.Get(lib, open)
	b, _ := c.Get(filepath.Join(dir, "libx.so"), open)
	assert.Equal(t, 1, opens, "two spellings of one file open it once")
	assert.Equal(t, a, b)

	boom := errors.New("boom")
	_, err := c.Get(filepath.Join(dir, "missing.so"), func(string) (int, error) { return 0, boom })
	require.ErrorIs(t, err, boom)
	_, err = c.Get(filepath.Join(dir, "missing.so"), open)
	require.ErrorIs(t, err, boom, "a failure is remembered too")
}
