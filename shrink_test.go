package carton_test

import (
	"archive/zip"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

// Shrink moves a carton's weights behind LINKS without changing its
// identity; Load fetches them back, verified; a symlink to them follows.
func TestShrink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	weights := make([]byte, 64<<10)
	for i := range weights {
		weights[i] = byte(i * 7)
	}
	cfg := noopOptions(t).Config
	cfg.SpecVersion, cfg.Runner.RunnerCompatVersion = format.SpecVersion, 1
	in := filepath.Join(dir, "in.carton")
	f, err := os.Create(in)
	require.NoError(t, err)
	sha, err := format.Write(f, &cfg, []format.Entry{
		{Name: "model/weights.bin", Data: weights},
		{Name: "model/sub/config.json", Data: []byte(`{"a":1}`)},
		{Name: "model/alias.bin", Symlink: "weights.bin"},
		{Name: "model/subdir", Symlink: "sub"}, // a link to a directory: no MANIFEST line
	}, nil)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	serve := weights
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(serve)
	}))
	defer srv.Close()
	out := filepath.Join(dir, "out.carton")
	got, err := carton.Shrink(ctx, in, out, map[string][]string{format.SHA256(weights): {srv.URL + "/weights.bin"}})
	require.NoError(t, err)
	assert.Equal(t, sha, got, "the same MANIFEST: the same model")
	assert.Zero(t, hits.Load(), "shrinking fetches nothing")

	zr, err := zip.OpenReader(out)
	require.NoError(t, err)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	zr.Close()
	assert.NotContains(t, names, "model/weights.bin")
	assert.NotContains(t, names, "model/alias.bin", "a link to a linked file is linked too")
	assert.Contains(t, names, "LINKS")
	assert.Contains(t, names, "model/subdir", "a link to a directory stays")
	inSize, _ := os.Stat(in)
	outSize, _ := os.Stat(out)
	assert.Less(t, outSize.Size(), inSize.Size())

	m, err := carton.Load(ctx, out, carton.WithCacheDir(t.TempDir()), carton.WithFetchOptions(libfetch.FetchOptions{}))
	require.NoError(t, err)
	assert.Equal(t, sha, m.Info().ManifestSHA256)
	url := []string{srv.URL + "/weights.bin"}
	assert.Equal(t, map[string][]string{"model/weights.bin": url, "model/alias.bin": url}, m.Info().Linked)
	x, _ := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	ids, _ := tensor.From(tensor.Shape{2}, []int64{7, 8})
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": x, "ids": ids})
	require.NoError(t, err)
	require.NoError(t, m.Close())
	assert.Equal(t, int32(1), hits.Load(), "weights.bin and alias.bin share one download")
	c, err := format.Open(out, format.OpenOptions{})
	require.NoError(t, err)
	assert.Equal(t, []string{"model/subdir"}, c.Symlinks(), "the link to a directory is kept")
	modelDir, err := c.Materialize(ctx, t.TempDir())
	require.NoError(t, err)
	c.Close()
	for _, name := range []string{"weights.bin", "alias.bin"} {
		b, err := os.ReadFile(filepath.Join(modelDir, name))
		require.NoError(t, err)
		assert.Equal(t, weights, b, name)
	}
	for _, name := range []string{"sub/config.json", "subdir/config.json"} { // the second through the link to a directory
		b, err := os.ReadFile(filepath.Join(modelDir, filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.Equal(t, `{"a":1}`, string(b), name)
	}

	serve = []byte("not the weights")
	_, err = carton.Load(ctx, out, carton.WithCacheDir(t.TempDir()), carton.WithFetchOptions(libfetch.FetchOptions{}))
	require.ErrorIs(t, err, carton.ErrChecksum, "what the URL serves is checked against MANIFEST")

	// Shrinking the shrunk carton again keeps its links.
	again := filepath.Join(dir, "again.carton")
	got, err = carton.Shrink(ctx, out, again, nil)
	require.NoError(t, err)
	assert.Equal(t, sha, got)

	c, err = format.Open(in, format.OpenOptions{})
	require.NoError(t, err)
	tomlSHA, _ := c.Manifest.Hash("carton.toml")
	c.Close()
	_, err = carton.Shrink(ctx, in, filepath.Join(dir, "x.carton"), map[string][]string{tomlSHA: {srv.URL}})
	require.ErrorIs(t, err, carton.ErrInvalidInput, "carton.toml stays")
	_, err = carton.Shrink(ctx, in, filepath.Join(dir, "x.carton"), map[string][]string{format.SHA256([]byte("other")): {srv.URL}})
	require.ErrorIs(t, err, carton.ErrInvalidInput, "no file has that sha256")
	_, err = carton.Shrink(ctx, in, filepath.Join(dir, "x.carton"), map[string][]string{format.SHA256(weights): {"ftp://host/w"}})
	require.ErrorIs(t, err, carton.ErrMalformed)
	assert.NoFileExists(t, filepath.Join(dir, "x.carton"))
}
