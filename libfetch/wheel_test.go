package libfetch

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// wheelBytes is a wheel holding files (name -> content).
func wheelBytes(t *testing.T, files map[string]string) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for name, content := range files {
		w, err := z.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, z.Close())
	return b.Bytes()
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// wheelIndex serves files by name on a loopback index (PEP 691), listing
// each with the digest in listed (its own when absent).
func wheelIndex(t *testing.T, files map[string][]byte, listed map[string]string) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/simple/{project}/", func(w http.ResponseWriter, r *http.Request) {
		var out []map[string]any
		for name, b := range files {
			digest := listed[name]
			if digest == "" {
				digest = digestOf(b)
			}
			out = append(out, map[string]any{"filename": name, "url": "/files/" + name, "hashes": map[string]string{"sha256": digest}})
		}
		w.Header().Set("Content-Type", "application/vnd.pypi.simple.v1+json")
		_ = json.NewEncoder(w).Encode(map[string]any{"files": out})
	})
	mux.HandleFunc("/files/{name}", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(files[r.PathValue("name")]) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/simple"
}

func TestWheel(t *testing.T) {
	good := wheelBytes(t, map[string]string{"pkg/__init__.py": "x = 1\n", "pkg-1.0.dist-info/RECORD": ""})
	slip := wheelBytes(t, map[string]string{"../../escaped.py": "x = 1\n"})
	const goodName, slipName, otherName = "pkg-1.0-py3-none-any.whl", "slip-1.0-py3-none-any.whl", "lied-1.0-py3-none-any.whl"
	index := wheelIndex(t, map[string][]byte{goodName: good, slipName: slip, otherName: good},
		map[string]string{otherName: digestOf([]byte("something else"))})
	t.Setenv("CARTON_PYPI_INDEX", index)
	ctx := context.Background()
	cache := t.TempDir()
	o := FetchOptions{}

	dir, err := Wheel(ctx, cache, goodName, digestOf(good), o)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(cache, "python", "wheels", digestOf(good)), dir)
	b, err := os.ReadFile(filepath.Join(dir, "pkg", "__init__.py"))
	require.NoError(t, err)
	assert.Equal(t, "x = 1\n", string(b))
	again, err := Wheel(ctx, cache, goodName, digestOf(good), FetchOptions{Offline: true})
	require.NoError(t, err, "from the cache, offline")
	assert.Equal(t, dir, again)

	_, err = Wheel(ctx, cache, goodName, digestOf([]byte("x")), o)
	assert.ErrorIs(t, err, ErrDigest, "the index's digest is not the lock's")
	fresh := t.TempDir() // the cache is by digest: a wheel with good's is good
	_, err = Wheel(ctx, fresh, otherName, digestOf(good), o)
	assert.ErrorIs(t, err, ErrDigest, "the index lists another digest")
	_, err = Wheel(ctx, fresh, "absent-1.0-py3-none-any.whl", digestOf(good), o)
	assert.ErrorIs(t, err, ErrNoRelease)
	_, err = Wheel(ctx, cache, "../evil.whl", digestOf(good), o)
	assert.ErrorIs(t, err, ErrDownload, "a name that is not a wheel's, cached digest or not")
	_, err = Wheel(ctx, cache, slipName, digestOf(slip), o)
	assert.Error(t, err, "a member outside the wheel's directory")
	_, statErr := os.Stat(filepath.Join(cache, "python", "escaped.py"))
	assert.True(t, errors.Is(statErr, os.ErrNotExist), "nothing written outside")
	_, err = Wheel(ctx, fresh, "pkg-2.0-py3-none-any.whl", digestOf(good), FetchOptions{Offline: true})
	assert.ErrorIs(t, err, ErrOffline)
	leftovers, _ := filepath.Glob(filepath.Join(cache, "python", "wheels", ".*"))
	assert.Empty(t, leftovers, "no temporary file or directory left")
}
