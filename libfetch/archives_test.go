package libfetch

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Test archives are built from the runtimes make setup installs, laid out
// like the vendors' own: ONNX Runtime's release tgz and libtorch's zip.

// Member is one entry of a test archive: a file (Data) or a symlink (Link).
type Member struct {
	Name string
	Data []byte
	Link string
}

func Tgz(t testing.TB, members []Member) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	for _, m := range members {
		h := &tar.Header{Name: m.Name, Mode: 0o755, Size: int64(len(m.Data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}
		if m.Link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, m.Link, 0
		}
		must(t, tw.WriteHeader(h))
		if m.Link == "" {
			_, err := tw.Write(m.Data)
			must(t, err)
		}
	}
	must(t, tw.Close())
	must(t, gz.Close())
	return buf.Bytes()
}

func Zip(t testing.TB, members []Member) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.Name, Method: zip.Store}
		data := m.Data
		if m.Link != "" {
			h.SetMode(os.ModeSymlink | 0o777)
			data = []byte(m.Link)
		} else {
			h.SetMode(0o755)
		}
		w, err := zw.CreateHeader(h)
		must(t, err)
		_, err = w.Write(data)
		must(t, err)
	}
	must(t, zw.Close())
	return buf.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ORTLibForTest is a real ONNX Runtime library and its version: the 1.20.1
// library make setup unpacks ($CARTON_TEST_ORT_LIBS). Under CI=true its
// absence fails the test.
func ORTLibForTest(t testing.TB) (path, version string) {
	t.Helper()
	for _, p := range filepath.SplitList(os.Getenv("CARTON_TEST_ORT_LIBS")) {
		base := filepath.Base(p)
		if i := strings.Index(base, ".so."); i >= 0 {
			return p, base[i+len(".so."):]
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI needs $CARTON_TEST_ORT_LIBS (make setup)")
	}
	t.Skip("no ONNX Runtime library in $CARTON_TEST_ORT_LIBS (run make test)")
	return "", ""
}

// ORTArchive lays out a real ONNX Runtime library like the vendor's
// onnxruntime-linux-x64-VERSION.tgz, returning the archive and the URL path
// the release table gives it.
func ORTArchive(t testing.TB) (version, urlPath string, tgz []byte) {
	t.Helper()
	lib, version := ORTLibForTest(t)
	ortArchive.Lock()
	defer ortArchive.Unlock()
	if ortArchive.tgz == nil {
		ortArchive.tgz = buildORTArchive(t, lib, version)
	}
	top := "onnxruntime-linux-x64-" + version
	return version, "/microsoft/onnxruntime/releases/download/v" + version + "/" + top + ".tgz", ortArchive.tgz
}

// ortArchive is built once per test process (gzip is slow under -race).
var ortArchive struct {
	sync.Mutex
	tgz []byte
}

func buildORTArchive(t testing.TB, lib, version string) []byte {
	data, err := os.ReadFile(lib)
	must(t, err)
	top := "onnxruntime-linux-x64-" + version
	return Tgz(t, []Member{
		{Name: top + "/VERSION_NUMBER", Data: []byte(version + "\n")},
		{Name: top + "/lib/libonnxruntime.so." + version, Data: data},
		{Name: top + "/lib/libonnxruntime.so.1", Link: "libonnxruntime.so." + version},
		{Name: top + "/lib/libonnxruntime.so", Link: "libonnxruntime.so.1"},
	})
}

// SHA256 is the hex digest of b.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// WriteTable writes a release table with one entry and points
// $CARTON_RELEASE_TABLE at it.
func WriteTable(t testing.TB, fw Framework, version, urlPath, sha, strip string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "releases.toml")
	table := fmt.Sprintf("[[release]]\nframework = %q\nversion = %q\nplatform = %q\nurl = %q\nsha256 = %q\nstrip = %q\n",
		fw, version, Platform(), "https://vendor.example"+urlPath, sha, strip)
	must(t, os.WriteFile(p, []byte(table), 0o644))
	t.Setenv("CARTON_RELEASE_TABLE", p)
}

// Server serves archives on 127.0.0.1 and counts requests per path. Fault,
// when set, may take over a request (and reports whether it did).
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	types    map[string]string
	Hits     atomic.Int64
	Fault    func(w http.ResponseWriter, r *http.Request, body []byte) bool
	throttle time.Duration // a pause per 1 MiB sent
}

// SetThrottle makes the server pause d after each MiB it sends.
func (s *Server) SetThrottle(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = d
}

func NewServer(t testing.TB) *Server {
	s := &Server{files: map[string][]byte{}, types: map[string]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// NewTLSServer is NewServer over https, with a certificate of its own
// (httptest's), which clients must be told to trust.
func NewTLSServer(t testing.TB) *Server {
	s := &Server{files: map[string][]byte{}, types: map[string]string{}}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// SetFault installs (or, with nil, removes) a fault handler.
func (s *Server) SetFault(f func(w http.ResponseWriter, r *http.Request, body []byte) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Fault = f
}

// Put serves body at path (with a content type, for index pages).
func (s *Server) Put(path string, body []byte, contentType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path], s.types[path] = body, contentType
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	body, ok := s.files[r.URL.Path]
	ct := s.types[r.URL.Path]
	fault, throttle := s.Fault, s.throttle
	s.mu.Unlock()
	s.Hits.Add(1)
	if fault != nil && fault(w, r, body) {
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	for off := 0; off < len(body); off += 1 << 20 {
		end := min(off+1<<20, len(body))
		if _, err := w.Write(body[off:end]); err != nil {
			return
		}
		if throttle > 0 {
			w.(http.Flusher).Flush()
			time.Sleep(throttle)
		}
	}
}
