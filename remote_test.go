package carton_test

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/ziptest"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

// cartonServer serves cartons by path with real range handling, counting
// requests and the bytes sent.
type cartonServer struct {
	*httptest.Server
	files    map[string][]byte
	requests atomic.Int32
	sent     atomic.Int64
	hangAt   atomic.Int32 // from this request on, hold every one (0: never)
	changeAt atomic.Int32 // from this request on, the file has another ETag (0: never)
	inflight atomic.Int32
}

// resetSent zeroes the count of bytes sent once no answer is being
// written (one the client stopped reading may still be going).
func (s *cartonServer) resetSent(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool { return s.inflight.Load() == 0 }, 10*time.Second, time.Millisecond)
	s.sent.Store(0)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return w.ResponseWriter.Write(p)
}

func newCartonServer(t *testing.T, files map[string][]byte) *cartonServer {
	s := &cartonServer{files: files}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.requests.Add(1)
		s.inflight.Add(1)
		defer s.inflight.Add(-1)
		b, ok := s.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if at := s.hangAt.Load(); at > 0 && n >= at {
			<-r.Context().Done()
			return
		}
		etag := `"` + r.URL.Path + `"`
		if at := s.changeAt.Load(); at > 0 && n >= at {
			etag = `"` + r.URL.Path + `-2"`
		}
		w.Header().Set("ETag", etag)
		http.ServeContent(countingWriter{w, &s.sent}, r, "", time.Time{}, bytes.NewReader(b))
	}))
	t.Cleanup(s.Close)
	return s
}

// packLarge packs the noop carton with 8 MiB of incompressible weights.
func packLarge(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	weights := make([]byte, 8<<20)
	_, _ = rand.NewChaCha8([32]byte{3}).Read(weights)
	model := filepath.Join(dir, "weights.bin")
	require.NoError(t, os.WriteFile(model, weights, 0o644))
	out := filepath.Join(dir, "large.carton")
	_, err := carton.Pack(context.Background(), model, out, noopOptions(t))
	require.NoError(t, err)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	return b
}

// A carton at a URL loads through range requests: metadata costs a
// little of it, the model is downloaded once into the cache and checked
// as it is written, a cached model loads without downloading it again,
// and the self-tests read their tensors over the network, checked.
func TestLoadFromURL(t *testing.T) {
	ctx := context.Background()
	raw := packLarge(t)
	srv := newCartonServer(t, map[string][]byte{"/m.carton": raw})
	url := srv.URL + "/m.carton"

	info, err := carton.ModelInfo(ctx, url)
	require.NoError(t, err)
	assert.Equal(t, "echo", info.ModelName)
	assert.Equal(t, url, info.Path)
	t.Logf("carton %d bytes; ModelInfo read %d", len(raw), srv.sent.Load())
	assert.Less(t, srv.sent.Load(), int64(1<<20+128<<10), "metadata: the zip's end (1 MiB) and carton.toml, not the weights")

	cache := t.TempDir()
	srv.resetSent(t)
	m, err := carton.Load(ctx, url, carton.WithCacheDir(cache))
	require.NoError(t, err)
	assert.Equal(t, url, m.Info().Path)
	t.Logf("first Load read %d", srv.sent.Load())
	assert.LessOrEqual(t, srv.sent.Load(), int64(len(raw)), "every byte at most once")
	assert.Greater(t, srv.sent.Load(), int64(8<<20))
	results, err := m.SelfTest(ctx, tensor.DefaultTolerance)
	require.NoError(t, err)
	require.Len(t, results, 1)
	assert.True(t, results[0].Passed, "%+v", results[0])
	require.NoError(t, m.Close())

	srv.resetSent(t)
	m, err = carton.Load(ctx, url, carton.WithCacheDir(cache))
	require.NoError(t, err)
	require.NoError(t, m.Close())
	t.Logf("cached Load read %d", srv.sent.Load())
	assert.Less(t, srv.sent.Load(), int64(1<<20+128<<10), "a cached model is not downloaded again")

	report, err := carton.Verify(ctx, url)
	require.NoError(t, err)
	assert.Equal(t, info.ManifestSHA256, report.ManifestSHA256)

	// Offline, a URL loaded before loads from what that Load kept (the
	// metadata, the extracted model), without a request; its self-test
	// tensors are not kept, so the self-test says it is offline. A URL
	// never loaded, a Verify, or a model pruned since, is ErrOffline.
	offline := carton.WithFetchOptions(libfetch.FetchOptions{Offline: true})
	before := srv.requests.Load()
	m, err = carton.Load(ctx, url+"?signed=again", carton.WithCacheDir(cache), offline)
	require.NoError(t, err, "the kept metadata is found without the query")
	assert.Equal(t, url+"?REDACTED", m.Info().Path)
	assert.Equal(t, info.ManifestSHA256, m.Info().ManifestSHA256)
	x, _ := tensor.From(tensor.Shape{1, 3}, []float32{1, 2, 3})
	ids, _ := tensor.From(tensor.Shape{1}, []int64{4})
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x, "ids": ids})
	require.NoError(t, err)
	assert.Nil(t, tensor.Compare(out["x"], x, tensor.Tolerance{}))
	_, err = m.SelfTest(ctx, tensor.DefaultTolerance)
	require.ErrorIs(t, err, carton.ErrOffline)
	require.NoError(t, m.Close())
	infoOffline, err := carton.ModelInfo(ctx, url, carton.WithCacheDir(cache), offline)
	require.NoError(t, err)
	assert.Equal(t, info.ManifestSHA256, infoOffline.ManifestSHA256)
	_, err = carton.Verify(ctx, url, carton.WithCacheDir(cache), offline)
	require.ErrorIs(t, err, carton.ErrOffline)
	_, err = carton.Load(ctx, srv.URL+"/other.carton", carton.WithCacheDir(cache), offline)
	require.ErrorIs(t, err, carton.ErrOffline)
	require.NoError(t, carton.RemoveCachedModel(cache, info.ManifestSHA256))
	_, err = carton.Load(ctx, url, carton.WithCacheDir(cache), offline)
	require.ErrorIs(t, err, carton.ErrOffline)
	assert.ErrorContains(t, err, "no longer in the cache")
	kept, _ := filepath.Glob(filepath.Join(cache, "urls", "*.carton"))
	assert.Len(t, kept, 1)
	_, err = carton.PruneCachedModels(cache, time.Hour)
	require.NoError(t, err)
	kept, _ = filepath.Glob(filepath.Join(cache, "urls", "*.carton"))
	assert.Empty(t, kept, "prune drops metadata kept for a model that is gone")
	assert.Equal(t, before, srv.requests.Load(), "offline: no request")
	_, err = carton.Load(ctx, srv.URL+"/missing.carton", carton.WithCacheDir(cache))
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = carton.LoadUnpacked(ctx, url)
	require.Error(t, err)
	_, err = carton.ModelInfo(ctx, url, carton.WithLimits(format.Limits{MaxTotalBytes: 1 << 20}))
	require.ErrorIs(t, err, carton.ErrLimit, "a carton larger than it may hold is not read")
}

// Weights that do not match MANIFEST fail the load, name the file and
// leave nothing in the cache; Verify finds them too.
func TestLoadFromURLChecksTheModel(t *testing.T) {
	ctx := context.Background()
	path, _ := packNoop(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	tampered := ziptest.Rewrite(t, raw, map[string][]byte{"model/weights.bin": bytes.Repeat([]byte{1}, 4096)})
	srv := newCartonServer(t, map[string][]byte{"/t.carton": tampered})
	cache := t.TempDir()
	_, err = carton.Load(ctx, srv.URL+"/t.carton", carton.WithCacheDir(cache))
	require.ErrorIs(t, err, carton.ErrChecksum)
	assert.Contains(t, err.Error(), "model/weights.bin")
	models, err := carton.CachedModels(cache)
	require.NoError(t, err)
	assert.Empty(t, models)
	entries, _ := os.ReadDir(filepath.Join(cache, "models"))
	assert.Empty(t, entries, "no half-extracted model")
	_, err = carton.Verify(ctx, srv.URL+"/t.carton")
	require.ErrorIs(t, err, carton.ErrChecksum)
}

// A Load or Verify waiting on a server that stops answering ends with its
// context: while opening the carton (the server stops after the zip's
// end) and while reading the model (after carton.toml too).
func TestLoadFromURLStopsWithItsContext(t *testing.T) {
	raw := packLarge(t)
	for _, hangAt := range []int32{2, 3} {
		srv := newCartonServer(t, map[string][]byte{"/m.carton": raw})
		srv.hangAt.Store(hangAt)
		for name, call := range map[string]func(context.Context) error{
			"Load": func(ctx context.Context) error {
				_, err := carton.Load(ctx, srv.URL+"/m.carton", carton.WithCacheDir(t.TempDir()))
				return err
			},
			"Verify": func(ctx context.Context) error {
				_, err := carton.Verify(ctx, srv.URL+"/m.carton")
				return err
			},
		} {
			srv.requests.Store(0)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			start := time.Now()
			require.Error(t, call(ctx), "%s, server stops at request %d", name, hangAt)
			assert.Less(t, time.Since(start), 10*time.Second, "%s, server stops at request %d", name, hangAt)
			cancel()
		}
	}
}

// A carton replaced on the server after Load read its end fails with
// ErrRemoteChanged instead of mixing the two, and leaves no model behind.
func TestLoadFromURLNoticesAChange(t *testing.T) {
	raw := packLarge(t)
	srv := newCartonServer(t, map[string][]byte{"/m.carton": raw})
	srv.changeAt.Store(2) // the tail was the first request
	cache := t.TempDir()
	_, err := carton.Load(context.Background(), srv.URL+"/m.carton", carton.WithCacheDir(cache))
	require.ErrorIs(t, err, carton.ErrRemoteChanged)
	models, err := carton.CachedModels(cache)
	require.NoError(t, err)
	assert.Empty(t, models)
}

// A pre-signed URL's query (its signature) and a password stay out of
// errors and of Info().Path.
func TestURLSecretsStayOutOfMessages(t *testing.T) {
	ctx := context.Background()
	path, _ := packNoop(t)
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	srv := newCartonServer(t, map[string][]byte{"/m.carton": raw})
	info, err := carton.ModelInfo(ctx, srv.URL+"/m.carton?X-Amz-Signature=s3cr3t")
	require.NoError(t, err)
	assert.Equal(t, srv.URL+"/m.carton?REDACTED", info.Path)
	m, err := carton.Load(ctx, srv.URL+"/m.carton?X-Amz-Signature=s3cr3t", carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	assert.NotContains(t, m.Info().Path, "s3cr3t")
	require.NoError(t, m.Close())

	withUser := strings.Replace(srv.URL, "http://", "http://user:pa55@", 1)
	for _, u := range []string{srv.URL + "/missing.carton?sig=s3cr3t", withUser + "/missing.carton", "http://127.0.0.1:1/m.carton?sig=s3cr3t"} {
		_, err := carton.Load(ctx, u, carton.WithCacheDir(t.TempDir()))
		require.Error(t, err, u)
		assert.NotContains(t, err.Error(), "s3cr3t")
		assert.NotContains(t, err.Error(), "pa55")
	}
}
