package format

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// WriteMetadata keeps a carton's identity and metadata with none of its
// files; a file it lacks reads as an error, not as something else.
func TestWriteMetadata(t *testing.T) {
	p, sha := writeCarton(t, testConfig(), testEntries(t))
	c, err := Open(p, OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	var buf bytes.Buffer
	require.NoError(t, WriteMetadata(&buf, c))
	kept := filepath.Join(t.TempDir(), "kept.carton")
	require.NoError(t, os.WriteFile(kept, buf.Bytes(), 0o644))

	k, err := Open(kept, OpenOptions{})
	require.NoError(t, err)
	defer k.Close()
	assert.Equal(t, sha, k.ManifestSHA256, "the same model")
	assert.Equal(t, c.Config, k.Config)
	assert.Equal(t, c.Manifest.Paths(), k.Manifest.Paths())
	assert.False(t, k.Stored("model/weights.bin"))
	_, err = k.ReadFile("model/weights.bin")
	require.ErrorIs(t, err, ErrMalformed)
	assert.Less(t, buf.Len(), 4096)
}
