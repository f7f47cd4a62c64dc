package format

import (
	"archive/zip"
	"bytes"
	"context"
	"hash/crc32"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

func testConfig() *Config {
	return &Config{
		SpecVersion: 1,
		ModelName:   "t",
		Inputs:      []TensorSpec{{Name: "x", DType: tensor.Float32, Shape: ShapeSpec{Kind: ShapeDims, Dims: []Dim{{Kind: DimSymbol, Symbol: "n"}, {Size: 2}}}}},
		SelfTests:   []SelfTest{{Name: "st", Inputs: map[string]string{"x": "@tensor_data/x"}, ExpectedOut: map[string]string{"x": "@tensor_data/x"}}},
		Runner:      Runner{RunnerName: "noop", RequiredFrameworkVersion: "*", RunnerCompatVersion: 1},
	}
}

func testEntries(t *testing.T) []Entry {
	x, err := tensor.From(tensor.Shape{1, 2}, []float32{1.5, -2})
	require.NoError(t, err)
	s, err := tensor.FromStrings(tensor.Shape{2}, []string{"a", "é"})
	require.NoError(t, err)
	files, err := EncodeTensorData(map[string]tensor.Tensor{"x": x, "s": s})
	require.NoError(t, err)
	entries := []Entry{
		{Name: "model/weights.bin", Data: bytes.Repeat([]byte{1, 2, 3}, 1000)},
		{Name: "model/sub/config.json", Data: []byte(`{"a":1}`)},
		{Name: "model/alias.bin", Symlink: "weights.bin"},
		{Name: "misc/readme.txt", Data: []byte("hello")},
	}
	for name, b := range files {
		entries = append(entries, Entry{Name: name, Data: b})
	}
	return entries
}

func writeCarton(t *testing.T, cfg *Config, entries []Entry) (string, string) {
	var buf bytes.Buffer
	sha, err := Write(&buf, cfg, entries, nil)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "m.carton")
	require.NoError(t, os.WriteFile(p, buf.Bytes(), 0o644))
	return p, sha
}

func TestWriteIsDeterministicAndUpstreamShaped(t *testing.T) {
	var a, b bytes.Buffer
	shaA, err := Write(&a, testConfig(), testEntries(t), nil)
	require.NoError(t, err)
	entries := testEntries(t)
	for i, j := 0, len(entries)-1; i < j; i, j = i+1, j-1 { // order of input must not matter
		entries[i], entries[j] = entries[j], entries[i]
	}
	shaB, err := Write(&b, testConfig(), entries, nil)
	require.NoError(t, err)
	assert.Equal(t, shaA, shaB)
	assert.True(t, bytes.Equal(a.Bytes(), b.Bytes()), "two packs of the same input must be byte-identical")

	zr, err := zip.NewReader(bytes.NewReader(a.Bytes()), int64(a.Len()))
	require.NoError(t, err)
	last := zr.File[len(zr.File)-1]
	assert.Equal(t, "MANIFEST", last.Name)
	assert.Equal(t, zip.Store, last.Method)
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if f.Name != "MANIFEST" {
			assert.Equal(t, uint16(zipMethodZstd), f.Method, f.Name)
		}
		assert.True(t, f.Modified.IsZero() || f.Modified.Year() <= 1980, f.Name)
	}
	assert.IsNonDecreasing(t, names[:len(names)-1])
	assert.Contains(t, names, "tensor_data/index.toml")

	c, err := Open(writeBytes(t, a.Bytes()), OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	idx, err := c.ReadFile("tensor_data/index.toml")
	require.NoError(t, err)
	assert.Contains(t, string(idx), "inner = []")
	m, err := c.ReadFile("MANIFEST")
	assert.ErrorIs(t, err, ErrChecksum, "MANIFEST is not listed in itself")
	assert.Nil(t, m)
	aliasHash, _ := c.Manifest.Hash("model/alias.bin")
	weightsHash, _ := c.Manifest.Hash("model/weights.bin")
	assert.Equal(t, weightsHash, aliasHash, "a symlink's line carries its target's hash")
}

func TestEmptyTensorDataStillHasIndex(t *testing.T) {
	files, err := EncodeTensorData(nil)
	require.NoError(t, err)
	assert.Equal(t, "tensor = []\n", string(files["tensor_data/index.toml"]))
	td, err := ReadTensorData(func(string) ([]byte, error) { return files["tensor_data/index.toml"], nil }, func(string) bool { return true })
	require.NoError(t, err)
	assert.Empty(t, td.Tensors)
}

// tensor_data/ holds strings as TOML, which cannot hold every byte
// string: one that is not UTF-8 is refused when encoding, not found
// unreadable when the carton is loaded.
func TestTensorDataStringsMustBeUTF8(t *testing.T) {
	ok, _ := tensor.FromStrings(tensor.Shape{2}, []string{"é", "ok\x00"})
	files, err := EncodeTensorData(map[string]tensor.Tensor{"s": ok})
	require.NoError(t, err)
	td, err := ReadTensorData(func(name string) ([]byte, error) { return files[name], nil }, func(string) bool { return true })
	require.NoError(t, err)
	assert.Nil(t, tensor.Compare(td.Tensors["s"], ok, tensor.Tolerance{}))

	bad, _ := tensor.FromStrings(tensor.Shape{2}, []string{"ok", "\xac"})
	_, err = EncodeTensorData(map[string]tensor.Tensor{"s": bad})
	require.ErrorIs(t, err, tensor.ErrInvalid)
	assert.Contains(t, err.Error(), "element 1 is not valid UTF-8")
}

func writeBytes(t *testing.T, b []byte) string {
	p := filepath.Join(t.TempDir(), "x.carton")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

func TestRoundTripAndMaterialize(t *testing.T) {
	p, sha := writeCarton(t, testConfig(), testEntries(t))
	c, err := Open(p, OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, sha, c.ManifestSHA256)
	assert.Equal(t, testConfig().Inputs, c.Config.Inputs)

	td, err := c.TensorData()
	require.NoError(t, err)
	assert.Equal(t, []float32{1.5, -2}, tensor.MustView[float32](td.Tensors["x"]))
	s, _ := td.Tensors["s"].Strings()
	assert.Equal(t, []string{"a", "é"}, s)

	cache := t.TempDir()
	dir, err := c.Materialize(context.Background(), cache)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(cache, sha, "model"), dir)
	got, err := os.ReadFile(filepath.Join(dir, "alias.bin"))
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{1, 2, 3}, 1000), got)
	assert.FileExists(t, filepath.Join(dir, "sub", "config.json"))
	assert.NoFileExists(t, filepath.Join(cache, sha, "misc", "readme.txt"), "only model/ is extracted")
	// a second materialize reuses the cache
	dir2, err := c.Materialize(context.Background(), cache)
	require.NoError(t, err)
	assert.Equal(t, dir, dir2)
	assertNoTemp(t, cache)
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), ".extract-"), "leftover %s", e.Name())
	}
}

func TestTamperedModelFileIsNamed(t *testing.T) {
	entries := testEntries(t)
	p, _ := writeCarton(t, testConfig(), entries)
	// Rewrite the zip with one byte of model/weights.bin changed, keeping MANIFEST.
	tampered := rewriteZip(t, p, func(name string, data []byte) []byte {
		if name == "model/weights.bin" {
			data = append([]byte{}, data...)
			data[10] ^= 0xff
		}
		return data
	})
	c, err := Open(tampered, OpenOptions{})
	require.NoError(t, err, "structure is fine; content is checked when materialized")
	defer c.Close()
	cache := t.TempDir()
	_, err = c.Materialize(context.Background(), cache)
	require.ErrorIs(t, err, ErrChecksum)
	var ce *ChecksumError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "model/weights.bin", ce.Path)
	assert.Contains(t, err.Error(), "model/weights.bin")
	entriesLeft, _ := os.ReadDir(cache)
	assert.Empty(t, entriesLeft, "nothing half-written in the cache")
}

// rewriteZip copies the zip at p, passing each entry through edit (nil drops it).
func rewriteZip(t *testing.T, p string, edit func(name string, data []byte) []byte) string {
	t.Helper()
	zr, err := zip.OpenReader(p)
	require.NoError(t, err)
	defer zr.Close()
	zr.RegisterDecompressor(zipMethodZstd, zstdDecompressor)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		rc, err := f.OpenRaw()
		require.NoError(t, err)
		raw, err := io.ReadAll(rc)
		require.NoError(t, err)
		data := raw
		if f.Method == zipMethodZstd {
			r := zstdDecompressor(bytes.NewReader(raw))
			data, err = io.ReadAll(r)
			require.NoError(t, err)
		}
		data = edit(f.Name, data)
		if data == nil {
			continue
		}
		hdr := &zip.FileHeader{Name: f.Name, Method: zip.Deflate}
		hdr.SetMode(f.Mode())
		w, err := zw.CreateHeader(hdr)
		require.NoError(t, err)
		_, err = w.Write(data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return writeBytes(t, buf.Bytes())
}

// rawZip builds a zip from scratch with arbitrary headers.
type rawEntry struct {
	name   string
	data   []byte
	mode   fs.FileMode
	method uint16
}

func rawZip(t *testing.T, entries ...rawEntry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.name, Method: e.method}
		if e.mode != 0 {
			hdr.SetMode(e.mode)
		}
		create := zw.CreateHeader
		if e.method != zip.Store && e.method != zip.Deflate {
			hdr.CompressedSize64, hdr.UncompressedSize64 = uint64(len(e.data)), uint64(len(e.data))
			create = zw.CreateRaw
		}
		w, err := create(hdr)
		require.NoError(t, err)
		_, err = w.Write(e.data)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return writeBytes(t, buf.Bytes())
}

const minimalTOML = "spec_version = 1\n[runner]\nrunner_name = 'noop'\nrequired_framework_version = '*'\nrunner_compat_version = 1\n"

func manifestFor(files map[string][]byte) []byte {
	h := map[string]string{}
	for n, b := range files {
		h[n] = SHA256(b)
	}
	m, _ := NewManifest(h)
	return m.Bytes()
}

func TestUnsafeEntriesRejected(t *testing.T) {
	base := []rawEntry{{name: "carton.toml", data: []byte(minimalTOML)}}
	cases := map[string]rawEntry{
		"zip-slip":        {name: "model/../../evil.txt", data: []byte("x")},
		"absolute":        {name: "/etc/evil", data: []byte("x")},
		"backslash":       {name: `model\..\..\evil`, data: []byte("x")},
		"symlink escape":  {name: "model/link", data: []byte("../../etc/passwd"), mode: fs.ModeSymlink | 0o777},
		"absolute link":   {name: "model/link", data: []byte("/etc/passwd"), mode: fs.ModeSymlink | 0o777},
		"unknown method":  {name: "model/x", data: []byte("x"), method: 12},
		"dangling link":   {name: "model/link", data: []byte("nothing"), mode: fs.ModeSymlink | 0o777},
		"duplicate entry": {name: "carton.toml", data: []byte(minimalTOML)},
	}
	for name, bad := range cases {
		p := rawZip(t, append(append([]rawEntry{}, base...), bad)...)
		_, err := Open(p, OpenOptions{})
		require.Error(t, err, name)
		if strings.Contains(name, "method") || strings.Contains(name, "dangling") || strings.Contains(name, "duplicate") {
			assert.ErrorIs(t, err, ErrMalformed, name)
		} else {
			assert.ErrorIs(t, err, ErrUnsafePath, name)
		}
	}
}

func TestZipBombRejected(t *testing.T) {
	// 16 MiB of zeros deflate to about 16 KiB: ratio ~1000:1. The default
	// limits apply the ratio check from 64 MiB up; lower the floor so the
	// test stays small (the mechanism is the same).
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "model/bomb", Method: zip.Deflate})
	require.NoError(t, err)
	zero := make([]byte, 1<<20)
	for i := 0; i < 16; i++ {
		_, _ = w.Write(zero)
	}
	require.NoError(t, zw.Close())
	p := writeBytes(t, buf.Bytes())
	_, err = Open(p, OpenOptions{Limits: Limits{RatioFloor: 1 << 20, MaxRatio: 500}})
	require.ErrorIs(t, err, ErrLimit)
	assert.Contains(t, err.Error(), "zip bomb")
	assert.Contains(t, err.Error(), "model/bomb")

	_, err = Open(p, OpenOptions{Limits: Limits{MaxFileBytes: 1 << 20}})
	require.ErrorIs(t, err, ErrLimit)
	_, err = Open(p, OpenOptions{Limits: Limits{MaxTotalBytes: 1 << 20, MaxRatio: 1 << 40}})
	require.ErrorIs(t, err, ErrLimit)
	_, err = Open(p, OpenOptions{Limits: Limits{MaxEntries: 0, MaxRatio: 1 << 40}})
	require.ErrorIs(t, err, ErrMalformed, "with limits lifted it is just a carton without MANIFEST")

	many := []rawEntry{}
	for i := 0; i < 20; i++ {
		many = append(many, rawEntry{name: "misc/f" + strings.Repeat("x", i), data: []byte{1}})
	}
	_, err = Open(rawZip(t, many...), OpenOptions{Limits: Limits{MaxEntries: 10}})
	require.ErrorIs(t, err, ErrLimit)
}

func TestLyingSizeHeaderFails(t *testing.T) {
	// Declare 10 bytes, store 1 MiB: reading must stop at the declared size.
	payload := bytes.Repeat([]byte("A"), 1<<20)
	files := map[string][]byte{"carton.toml": []byte(minimalTOML), "model/m": payload}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range []string{"carton.toml", "model/m"} {
		hdr := &zip.FileHeader{Name: n, Method: zip.Store, CRC32: crc32.ChecksumIEEE(files[n]), CompressedSize64: uint64(len(files[n])), UncompressedSize64: uint64(len(files[n]))}
		if n == "model/m" {
			hdr.UncompressedSize64 = 10
		}
		w, err := zw.CreateRaw(hdr)
		require.NoError(t, err)
		_, _ = w.Write(files[n])
	}
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "MANIFEST", Method: zip.Store})
	_, _ = w.Write(manifestFor(files))
	require.NoError(t, zw.Close())
	c, err := Open(writeBytes(t, buf.Bytes()), OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	cache := t.TempDir()
	_, err = c.Materialize(context.Background(), cache)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "model/m")
	assertNoTemp(t, cache)
}

func TestUnlistedAndMissingFiles(t *testing.T) {
	files := map[string][]byte{"carton.toml": []byte(minimalTOML), "model/m": []byte("m")}
	extra := []rawEntry{{name: "carton.toml", data: files["carton.toml"]}, {name: "model/m", data: files["model/m"]}, {name: "model/sneaky", data: []byte("s")}, {name: "MANIFEST", data: manifestFor(files)}}
	c, err := Open(rawZip(t, extra...), OpenOptions{})
	require.NoError(t, err)
	_, err = c.Materialize(context.Background(), t.TempDir())
	require.ErrorIs(t, err, ErrChecksum)
	assert.Contains(t, err.Error(), "model/sneaky")
	c.Close()

	missing := []rawEntry{{name: "carton.toml", data: files["carton.toml"]}, {name: "MANIFEST", data: manifestFor(files)}}
	c, err = Open(rawZip(t, missing...), OpenOptions{})
	require.NoError(t, err)
	_, err = c.Materialize(context.Background(), t.TempDir())
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "model/m")
	c.Close()

	_, err = Open(rawZip(t, rawEntry{name: "carton.toml", data: files["carton.toml"]}), OpenOptions{})
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "MANIFEST")
}

func TestLinksFetch(t *testing.T) {
	weights := bytes.Repeat([]byte("w"), 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good":
			_, _ = w.Write(weights)
		case "/bad": // longer than the weights: a try not undone would leave a tail
			_, _ = w.Write(bytes.Repeat([]byte("not the weights "), 400))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	files := map[string][]byte{"carton.toml": []byte(minimalTOML), "model/w.bin": weights}
	sha := SHA256(weights)
	mk := func(urls ...string) string {
		var links strings.Builder
		links.WriteString("version = 1\n[urls]\n" + sha + " = [")
		for i, u := range urls {
			if i > 0 {
				links.WriteString(", ")
			}
			links.WriteString(`"` + srv.URL + u + `"`)
		}
		links.WriteString("]\n")
		return rawZip(t, rawEntry{name: "carton.toml", data: files["carton.toml"]}, rawEntry{name: "MANIFEST", data: manifestFor(files)}, rawEntry{name: "LINKS", data: []byte(links.String())})
	}
	// A missing file and a mirror serving other bytes are passed over,
	// whether the file goes to disk, to memory or only through the hash.
	c, err := Open(mk("/missing", "/bad", "/good"), OpenOptions{})
	require.NoError(t, err)
	dir, err := c.Materialize(context.Background(), t.TempDir())
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(dir, "w.bin"))
	require.NoError(t, err)
	assert.Equal(t, weights, got, "nothing of the bad answer is left in the file")
	got, err = c.ReadFile("model/w.bin")
	require.NoError(t, err)
	assert.Equal(t, weights, got)
	require.NoError(t, c.Verify(context.Background()))
	c.Close()

	// The Fetcher in OpenOptions is the one used.
	var through atomic.Int32
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		through.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, err = Open(mk("/good"), OpenOptions{Fetcher: Fetcher{Client: client}})
	require.NoError(t, err)
	got, err = c.ReadFile("model/w.bin")
	require.NoError(t, err)
	assert.Equal(t, weights, got)
	assert.Equal(t, int32(1), through.Load(), "fetched through the caller's client")
	c.Close()

	c, err = Open(mk("/good"), OpenOptions{Fetcher: Fetcher{Client: client, Offline: true}})
	require.NoError(t, err)
	_, err = c.ReadFile("model/w.bin")
	require.ErrorIs(t, err, ErrOffline)
	assert.Equal(t, int32(1), through.Load(), "offline: no request")
	c.Close()

	c, err = Open(mk("/bad"), OpenOptions{})
	require.NoError(t, err)
	cache := t.TempDir()
	_, err = c.Materialize(context.Background(), cache)
	require.ErrorIs(t, err, ErrChecksum)
	entries, _ := os.ReadDir(cache)
	assert.Empty(t, entries)
	c.Close()
}

func TestUnpackedDirectory(t *testing.T) {
	p, sha := writeCarton(t, testConfig(), testEntries(t))
	dir := t.TempDir()
	zr, err := zip.OpenReader(p)
	require.NoError(t, err)
	zr.RegisterDecompressor(zipMethodZstd, zstdDecompressor)
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		b, _ := io.ReadAll(rc)
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		if f.Mode()&fs.ModeSymlink != 0 {
			require.NoError(t, os.Symlink(string(b), dst))
			continue
		}
		require.NoError(t, os.WriteFile(dst, b, 0o644))
	}
	zr.Close()
	c, err := Open(dir, OpenOptions{})
	require.NoError(t, err)
	assert.Equal(t, sha, c.ManifestSHA256)
	modelDir, err := c.Materialize(context.Background(), t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "model"), modelDir)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "model", "sub", "config.json"), []byte(`{"a":2}`), 0o644))
	_, err = c.Materialize(context.Background(), t.TempDir())
	var ce *ChecksumError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "model/sub/config.json", ce.Path)

	outside := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(outside, []byte("s"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "model", "escape")))
	_, err = Open(dir, OpenOptions{})
	require.ErrorIs(t, err, ErrUnsafePath)
}

func TestWriteRejectsBadEntries(t *testing.T) {
	for _, e := range []Entry{{Name: "../x", Data: []byte{}}, {Name: "MANIFEST", Data: []byte{}}, {Name: "model/l", Symlink: "../../x"}, {Name: "carton.toml", Data: []byte{}}} {
		_, err := Write(io.Discard, testConfig(), []Entry{e}, nil)
		assert.Error(t, err, e.Name)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSymlinkRelative(t *testing.T) {
	c := &Carton{tree: &tree{links: map[string]string{
		"model/alias.bin":     "model/weights.bin",
		"model/a/b/deep.bin":  "model/weights.bin",
		"model/up.bin":        "misc/x.png",
		"top.bin":             "model/weights.bin",
		"model/a/sibling.bin": "model/a/c/real.bin",
	}}}
	for link, want := range map[string]string{
		"model/alias.bin": "weights.bin", "model/a/b/deep.bin": "../../weights.bin", "model/up.bin": "../misc/x.png",
		"top.bin": "model/weights.bin", "model/a/sibling.bin": "c/real.bin",
	} {
		got, ok := c.Symlink(link)
		require.True(t, ok, link)
		assert.Equal(t, want, got, link)
		resolved, err := resolveLink(link, got)
		require.NoError(t, err)
		assert.Equal(t, c.tree.links[link], resolved, "round trip of %s", link)
	}
	_, ok := c.Symlink("model/weights.bin")
	assert.False(t, ok)
}

// A symlink to a directory has no MANIFEST line, yet extraction keeps it
// when it stays inside model/ (and leaves out one that leaves model/,
// which the extracted directory could not resolve).
func TestMaterializeKeepsDirectoryLinks(t *testing.T) {
	p, _ := writeCarton(t, testConfig(), []Entry{
		{Name: "model/sub/a.txt", Data: []byte("a")},
		{Name: "model/link", Symlink: "sub"},
		{Name: "model/deep/up", Symlink: "../sub"},
		{Name: "misc/docs/readme.md", Data: []byte("r")},
		{Name: "model/docs", Symlink: "../misc/docs"},
	})
	c, err := Open(p, OpenOptions{})
	require.NoError(t, err)
	defer c.Close()
	dir, err := c.Materialize(context.Background(), t.TempDir())
	require.NoError(t, err)
	for _, name := range []string{"sub/a.txt", "link/a.txt", "deep/up/a.txt"} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		require.NoError(t, err, name)
		assert.Equal(t, "a", string(b), name)
	}
	_, err = os.Lstat(filepath.Join(dir, "docs"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}
