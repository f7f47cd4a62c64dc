package ziptest

import (
	"archive/zip"
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// ReplaceEntry returns the zip raw with the entry name holding data
// (Deflate) and every other entry copied byte for byte, failing the test
// on error.
func ReplaceEntry(t testing.TB, raw []byte, name string, data []byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		if f.Name == name {
			w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate})
			require.NoError(t, err)
			_, err = w.Write(data)
			require.NoError(t, err)
			continue
		}
		rc, err := f.OpenRaw()
		require.NoError(t, err)
		w, err := zw.CreateRaw(&f.FileHeader)
		require.NoError(t, err)
		_, err = io.Copy(w, rc)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}
