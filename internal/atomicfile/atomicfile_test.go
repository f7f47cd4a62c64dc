package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, Write(p, func(w io.Writer) error { _, err := io.WriteString(w, "one"); return err }))
	boom := errors.New("boom")
	err := Write(p, func(w io.Writer) error { _, _ = io.WriteString(w, "half"); return boom })
	require.ErrorIs(t, err, boom)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, "one", string(b), "a failed write leaves the old file")
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "and no temporary file")
	st, _ := os.Stat(p)
	assert.Equal(t, os.FileMode(0o644), st.Mode().Perm())
}
