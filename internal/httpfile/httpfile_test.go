package httpfile

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// server serves content with real range handling (http.ServeContent),
// counting GET requests; etag "" leaves the ETag header out.
type server struct {
	*httptest.Server
	mu      sync.Mutex
	content []byte
	etag    string
	modTime time.Time
	gets    atomic.Int32
	ranges  bool // false: answer 200 with the whole file, as a server without range support
}

func newServer(t *testing.T, content []byte) *server {
	s := &server{content: content, etag: `"v1"`, modTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ranges: true}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.gets.Add(1)
		s.mu.Lock()
		content, etag, mod, ranges := s.content, s.etag, s.modTime, s.ranges
		s.mu.Unlock()
		if !ranges {
			_, _ = w.Write(content)
			return
		}
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		http.ServeContent(w, r, "f", mod, bytes.NewReader(content))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) replace(content []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.content, s.etag, s.modTime = content, etag, s.modTime.Add(time.Hour)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{1})
	_, _ = r.Read(b)
	return b
}

func TestReadsMatchTheFile(t *testing.T) {
	content := randomBytes(3<<20 + 12345)
	srv := newServer(t, content)
	f, err := Open(context.Background(), srv.URL, Options{})
	require.NoError(t, err)
	defer f.Close()
	assert.Equal(t, int64(len(content)), f.Size())
	assert.Equal(t, int32(1), srv.gets.Load(), "Open: one request for the size and the tail")

	// The whole file in 32 KiB reads, in order: one more request.
	var got bytes.Buffer
	_, err = io.Copy(&got, io.NewSectionReader(f, 0, f.Size()))
	require.NoError(t, err)
	assert.Equal(t, content, got.Bytes())
	assert.Equal(t, int32(1+6), srv.gets.Load(), "reading on in order asks for twice as much each time: 64 KiB, 128 KiB ... 1 MiB, then the rest before the tail")

	// A zip's pattern: a header, then data a little further on.
	before := srv.gets.Load()
	header := make([]byte, 30)
	_, err = f.ReadAt(header, 1000)
	require.NoError(t, err)
	data := make([]byte, 5000)
	_, err = f.ReadAt(data, 1000+30+77)
	require.NoError(t, err)
	assert.Equal(t, content[1107:6107], data)
	assert.Equal(t, before+1, srv.gets.Load(), "a short skip ahead stays on the stream")

	// Random reads, the end included.
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		off := r.Int64N(int64(len(content)))
		p := make([]byte, r.IntN(70000))
		n, err := f.ReadAt(p, off)
		want := content[off:min(off+int64(len(p)), int64(len(content)))]
		if off+int64(len(p)) > int64(len(content)) {
			require.ErrorIs(t, err, io.EOF)
		} else {
			require.NoError(t, err)
		}
		require.Equal(t, want, p[:n], "offset %d", off)
	}
	n, err := f.ReadAt(make([]byte, 10), int64(len(content)))
	assert.Zero(t, n)
	assert.ErrorIs(t, err, io.EOF)
}

func TestConcurrentReads(t *testing.T) {
	content := randomBytes(2 << 20)
	srv := newServer(t, content)
	f, err := Open(context.Background(), srv.URL, Options{TailBytes: 4096})
	require.NoError(t, err)
	defer f.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 50 {
				off := r.Int64N(int64(len(content)) - 40000)
				p := make([]byte, 1+r.IntN(40000))
				_, err := f.ReadAt(p, off)
				assert.NoError(t, err)
				assert.True(t, bytes.Equal(content[off:off+int64(len(p))], p), "offset %d", off)
			}
		})
	}
	wg.Wait()
}

// A file replaced on the server after Open is an error, never a mix of
// the two: through its ETag, or its Last-Modified when it has none.
func TestChangedFileIsAnError(t *testing.T) {
	for _, etag := range []string{`"v1"`, ""} {
		content := randomBytes(1 << 20)
		srv := newServer(t, content)
		srv.etag = etag
		f, err := Open(context.Background(), srv.URL, Options{TailBytes: 1024})
		require.NoError(t, err)
		_, err = f.ReadAt(make([]byte, 100), 0)
		require.NoError(t, err)
		f.Interrupt() // drop the open stream, so the next read asks again
		srv.replace(randomBytes(1<<20), `"v2"`)
		_, err = f.ReadAt(make([]byte, 100), 5000)
		assert.ErrorIs(t, err, ErrChanged, "etag %q", etag)
		require.NoError(t, f.Close())
	}
}

func TestServerWithoutRanges(t *testing.T) {
	content := randomBytes(1<<20 + 7)
	srv := newServer(t, content)
	srv.ranges = false
	f, err := Open(context.Background(), srv.URL, Options{TempDir: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, int64(len(content)), f.Size())
	got, err := io.ReadAll(io.NewSectionReader(f, 0, f.Size()))
	require.NoError(t, err)
	assert.Equal(t, content, got)
	assert.Equal(t, int32(1), srv.gets.Load(), "the one answer is kept")
	require.NoError(t, f.Close())
}

func TestMaxBytes(t *testing.T) {
	content := randomBytes(100 << 10)
	for _, ranges := range []bool{true, false} {
		srv := newServer(t, content)
		srv.ranges = ranges
		_, err := Open(context.Background(), srv.URL, Options{MaxBytes: 99 << 10, TempDir: t.TempDir()})
		assert.ErrorIs(t, err, ErrTooLarge, "ranges %v", ranges)
		f, err := Open(context.Background(), srv.URL, Options{MaxBytes: 100 << 10, TempDir: t.TempDir()})
		require.NoError(t, err, "ranges %v", ranges)
		require.NoError(t, f.Close())
	}
}

func TestOpenErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/gone":
			http.Error(w, "gone", http.StatusGone)
		case "/empty":
			http.ServeContent(w, r, "e", time.Time{}, bytes.NewReader(nil))
		case "/broken":
			w.Header().Set("Content-Range", "bytes 5-1/10")
			w.WriteHeader(http.StatusPartialContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	_, err := Open(context.Background(), srv.URL+"/missing", Options{})
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = Open(context.Background(), srv.URL+"/gone", Options{})
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = Open(context.Background(), srv.URL+"/broken", Options{})
	assert.ErrorContains(t, err, "Content-Range")
	f, err := Open(context.Background(), srv.URL+"/empty", Options{})
	require.NoError(t, err)
	assert.Zero(t, f.Size())
	_, err = f.ReadAt(make([]byte, 1), 0)
	assert.ErrorIs(t, err, io.EOF)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Open(ctx, srv.URL, Options{})
	assert.ErrorIs(t, err, context.Canceled)
}

// A server that stops sending fails the read after StallTimeout, named as
// a stall; Interrupt fails a read in progress at once, and the File can
// read again after it.
func TestStallAndInterrupt(t *testing.T) {
	content := randomBytes(1 << 20)
	var hang atomic.Bool
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if hang.Load() {
			w.Header().Set("Content-Range", strings.Replace(r.Header.Get("Range"), "=", " ", 1)+"/1048576")
			w.WriteHeader(http.StatusPartialContent)
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(content))
	}))
	defer srv.Close()
	defer close(release)
	f, err := Open(context.Background(), srv.URL, Options{TailBytes: 1024, StallTimeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer f.Close()

	hang.Store(true)
	start := time.Now()
	_, err = f.ReadAt(make([]byte, 100), 0)
	require.ErrorIs(t, err, ErrStalled)
	assert.Less(t, time.Since(start), 5*time.Second)

	f.stall = time.Hour
	done := make(chan error)
	go func() {
		_, err := f.ReadAt(make([]byte, 100), 0)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	f.Interrupt()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.True(t, errors.Is(err, errInterrupted), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Interrupt did not end the read")
	}
	hang.Store(false)
	p := make([]byte, 100)
	_, err = f.ReadAt(p, 0)
	require.NoError(t, err, "usable after Interrupt")
	assert.Equal(t, content[:100], p)
	require.NoError(t, f.Close())
	_, err = f.ReadAt(p, 0)
	assert.ErrorIs(t, err, errClosed)
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-1/10", "bytes 0--1/0", "bytes */10", "bytes 1-2/3", "bytes -1-2/3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		start, end, total, err := contentRange(v)
		if err == nil && total > 0 && (start < 0 || end < start || end >= total) {
			t.Fatalf("%q: accepted %d-%d/%d", v, start, end, total)
		}
	})
}
