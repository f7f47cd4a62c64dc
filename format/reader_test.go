package format

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A carton read through an io.ReaderAt opens, verifies and materializes
// as the same file opened by path does.
func TestOpenReader(t *testing.T) {
	var buf bytes.Buffer
	sha, err := Write(&buf, testConfig(), testEntries(t), nil)
	require.NoError(t, err)

	c, err := OpenReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "embedded", OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	assert.True(t, c.Packed)
	assert.Equal(t, "embedded", c.Path)
	assert.Equal(t, sha, c.ManifestSHA256)
	assert.Equal(t, "t", c.Config.ModelName)

	weights, err := c.ReadFile("model/weights.bin")
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{1, 2, 3}, 1000), weights)
	td, err := c.TensorData()
	require.NoError(t, err)
	assert.Len(t, td.Tensors, 2)

	dir, err := c.Materialize(context.Background(), t.TempDir())
	require.NoError(t, err)
	alias, err := os.ReadFile(filepath.Join(dir, "alias.bin"))
	require.NoError(t, err)
	assert.Equal(t, weights, alias, "the symlink is materialized")
}

func TestOpenReaderErrors(t *testing.T) {
	var buf bytes.Buffer
	_, err := Write(&buf, testConfig(), testEntries(t), nil)
	require.NoError(t, err)
	whole := buf.Bytes()

	_, err = OpenReader(nil, 10, "", OpenOptions{})
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = OpenReader(bytes.NewReader(whole), -1, "", OpenOptions{})
	assert.ErrorIs(t, err, ErrMalformed)

	cut := whole[:len(whole)-10] // the central directory's end is gone
	_, err = OpenReader(bytes.NewReader(cut), int64(len(cut)), "embedded", OpenOptions{})
	require.ErrorIs(t, err, ErrMalformed)
	assert.True(t, strings.HasPrefix(err.Error(), "embedded: "), err.Error())
	_, err = OpenReader(bytes.NewReader(cut), int64(len(cut)), "", OpenOptions{})
	require.ErrorIs(t, err, ErrMalformed)
	assert.False(t, strings.HasPrefix(err.Error(), ":"), "no empty label: %s", err)

	// The limits apply as they do to files.
	_, err = OpenReader(bytes.NewReader(whole), int64(len(whole)), "", OpenOptions{Limits: Limits{MaxEntries: 2}})
	assert.ErrorIs(t, err, ErrLimit)
}

// Close leaves the reader to its owner.
func TestOpenReaderCloseLeavesReader(t *testing.T) {
	p, _ := writeCarton(t, testConfig(), testEntries(t))
	f, err := os.Open(p)
	require.NoError(t, err)
	defer f.Close()
	st, err := f.Stat()
	require.NoError(t, err)
	c, err := OpenReader(f, st.Size(), p, OpenOptions{})
	require.NoError(t, err)
	require.NoError(t, c.Close())
	b := make([]byte, 4)
	_, err = f.ReadAt(b, 0)
	require.NoError(t, err, "the file is still open")
	assert.Equal(t, "PK\x03\x04", string(b))
}
