package ziptest

import (
	"archive/zip"
	"bytes"
	"io"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// ReplaceEntry returns the zip raw with the entry name holding data
// (Deflate) and every other entry copied byte for byte, failing the test
// on error.
func ReplaceEntry(t testing.TB, raw []byte, name string, data []byte) []byte {
	t.Helper()
	return Rewrite(t, raw, map[string][]byte{name: data})
}

// Rewrite returns the zip raw edited: an entry named in edits holds its
// bytes (Deflate), or is left out when they are nil; a name raw lacks is
// added at the end, in name order; every other entry is copied byte for
// byte.
func Rewrite(t testing.TB, raw []byte, edits map[string][]byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	require.NoError(t, err)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	write := func(name string, data []byte) {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate})
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
	seen := map[string]bool{}
	for _, f := range zr.File {
		seen[f.Name] = true
		if data, edited := edits[f.Name]; edited {
			if data != nil {
				write(f.Name, data)
			}
			continue
		}
		rc, err := f.OpenRaw()
		require.NoError(t, err)
		w, err := zw.CreateRaw(&f.FileHeader)
		require.NoError(t, err)
		_, err = io.Copy(w, rc)
		require.NoError(t, err)
	}
	var added []string
	for name, data := range edits {
		if !seen[name] && data != nil {
			added = append(added, name)
		}
	}
	sort.Strings(added)
	for _, name := range added {
		write(name, edits[name])
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}
