package format

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

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

// readAndHash returns the bytes and their sha256 whatever the size hint
// says, hashing on another goroutine for large files.
func TestReadAndHash(t *testing.T) {
	data := make([]byte, 9<<20+123)
	for i := range data {
		data[i] = byte(i*7 + i>>13)
	}
	for _, size := range []int{0, 1, hashSpan, 4 * hashSpan, len(data)} {
		want := data[:size]
		for _, hint := range []int64{-1, 0, int64(size) / 2, int64(size), int64(size) + 4096} {
			got, sum, err := readAndHash(iotest.HalfReader(bytes.NewReader(want)), hint, int64(len(data)))
			require.NoError(t, err)
			assert.True(t, bytes.Equal(want, got), "size %d hint %d", size, hint)
			assert.Equal(t, SHA256(want), sum, "size %d hint %d", size, hint)
		}
	}
	_, _, err := readAndHash(bytes.NewReader(data), int64(len(data)), int64(len(data))-1)
	assert.ErrorIs(t, err, ErrLimit)
	broken := io.MultiReader(bytes.NewReader(data[:5<<20]), iotest.ErrReader(errors.New("disk on fire")))
	_, _, err = readAndHash(broken, int64(len(data)), int64(len(data)))
	assert.ErrorContains(t, err, "disk on fire")
}

// A large file read through ReadFile is checked like a small one.
func TestReadFileLargeChecksum(t *testing.T) {
	big := bytes.Repeat([]byte("weights!"), 1<<20) // 8 MiB: hashed while read
	entries := []Entry{{Name: "model/model.bin", Data: big}}
	var buf bytes.Buffer
	_, err := Write(&buf, testConfig(), append(entries, testEntries(t)[3:]...), nil)
	require.NoError(t, err)
	c, err := OpenReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "", OpenOptions{})
	require.NoError(t, err)
	got, err := c.ReadFile("model/model.bin")
	require.NoError(t, err)
	assert.True(t, bytes.Equal(big, got))
	n, ok := c.FileSize("model/model.bin")
	assert.True(t, ok)
	assert.Equal(t, int64(len(big)), n)

	c.Manifest.entries["model/model.bin"] = SHA256([]byte("something else"))
	_, err = c.ReadFile("model/model.bin")
	var ce *ChecksumError
	require.ErrorAs(t, err, &ce)
	assert.ErrorIs(t, err, ErrChecksum)
}

// An entry whose header claims 4 GiB while the zip holds a few bytes is
// read as far as the bytes go, not given a buffer of the claimed size.
func TestLyingSizeIsNotAllocated(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "model/model.bin", Method: zip.Store,
		CompressedSize64: 4 << 30, UncompressedSize64: 4 << 30})
	require.NoError(t, err)
	_, err = w.Write([]byte("tiny"))
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	s, _, err := openZipReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), DefaultLimits, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(-1), s.sizeHint("model/model.bin"))
	rc, err := s.open("model/model.bin")
	require.NoError(t, err)
	_, _, err = readAndHash(rc, s.sizeHint("model/model.bin"), DefaultLimits.MaxFileBytes)
	assert.Error(t, err, "the entry ends early")
}
