package carton_test

import (
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
	"github.com/carton-run/carton/internal/ziptest"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

// A carton whose weights LINKS points to (upstream's "shrink") loads by
// fetching them, verified against MANIFEST; offline, Load refuses to
// fetch and says why.
func TestLoadFetchesLinkedFiles(t *testing.T) {
	linked, srv := linkedNoop(t)

	ctx := context.Background()
	_, err := carton.Load(ctx, linked, carton.WithCacheDir(t.TempDir()), carton.WithFetchOptions(libfetch.FetchOptions{Offline: true}))
	require.ErrorIs(t, err, carton.ErrOffline)
	require.ErrorIs(t, err, libfetch.ErrOffline, "one sentinel for every download refused")
	assert.Contains(t, err.Error(), srv.URL)
	assert.Zero(t, srv.hits.Load(), "offline means no request at all")

	cache := t.TempDir()
	m, err := carton.Load(ctx, linked, carton.WithCacheDir(cache), carton.WithFetchOptions(libfetch.FetchOptions{}))
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, int32(1), srv.hits.Load())
	x, _ := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	ids, _ := tensor.From(tensor.Shape{2}, []int64{7, 8})
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "ids": ids})
	require.NoError(t, err)
	assert.Nil(t, tensor.Compare(out["x"], x, tensor.Tolerance{}))

	// Once extracted, the model loads from the cache: the weights were
	// checked as they were written, so Load fetches nothing again and
	// works offline.
	again, err := carton.Load(ctx, linked, carton.WithCacheDir(cache), carton.WithFetchOptions(libfetch.FetchOptions{Offline: true}))
	require.NoError(t, err)
	require.NoError(t, again.Close())
	assert.Equal(t, int32(1), srv.hits.Load(), "a cached model is not downloaded again")
}

// Verify checks the files behind LINKS too, streaming them: a server
// answering with other bytes is a checksum error.
func TestVerifyFetchesLinkedFiles(t *testing.T) {
	linked, srv := linkedNoop(t)
	c, err := format.Open(linked, format.OpenOptions{})
	require.NoError(t, err)
	defer c.Close()

	ctx := context.Background()
	require.NoError(t, c.VerifyStored(ctx))
	assert.Zero(t, srv.hits.Load(), "VerifyStored leaves linked files alone")
	require.NoError(t, c.Verify(ctx))
	assert.Equal(t, int32(1), srv.hits.Load())
	srv.wrong.Store(true)
	require.ErrorIs(t, c.Verify(ctx), format.ErrChecksum)
}

// weightsServer serves a carton's weights, or other bytes once wrong is set.
type weightsServer struct {
	*httptest.Server
	hits  atomic.Int32
	wrong atomic.Bool
}

// linkedNoop is packNoop's carton with model/weights.bin left out of the
// zip and LINKS pointing to a loopback server that serves it.
func linkedNoop(t *testing.T) (string, *weightsServer) {
	t.Helper()
	path, _ := packNoop(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	c, err := format.Open(path, format.OpenOptions{})
	require.NoError(t, err)
	weights, err := c.ReadFile("model/weights.bin")
	require.NoError(t, err)
	c.Close()

	srv := &weightsServer{}
	srv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.hits.Add(1)
		if srv.wrong.Load() {
			_, _ = w.Write([]byte("not the weights"))
			return
		}
		_, _ = w.Write(weights)
	}))
	t.Cleanup(srv.Close)
	links := "version = 1\n[urls]\n" + format.SHA256(weights) + ` = ["` + srv.URL + `/weights.bin"]` + "\n"
	linked := filepath.Join(t.TempDir(), "linked.carton")
	require.NoError(t, os.WriteFile(linked, ziptest.Rewrite(t, raw, map[string][]byte{
		"model/weights.bin": nil, // left out of the zip
		"LINKS":             []byte(links),
	}), 0o644))
	return linked, srv
}
