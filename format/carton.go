package format

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Carton is an opened carton: checked structure and parsed metadata.
type Carton struct {
	Path           string
	Config         *Config
	Manifest       *Manifest
	ManifestSHA256 string // sha256 of the MANIFEST bytes: the model's identity
	Links          *Links // nil when there is no LINKS file
	Packed         bool   // a zip, as opposed to an unpacked directory

	src    source
	tree   *tree
	limits Limits

	mu      sync.Mutex
	fetched map[string][]byte // linked non-model files, by path
}

// OpenOptions tune Open. The zero value is ready to use.
type OpenOptions struct {
	Limits  Limits
	Fetcher Fetcher // for LINKS; zero value uses http.DefaultClient
}

// Open opens a .carton zip or an unpacked carton directory, checks every
// entry against the safety rules and parses carton.toml, MANIFEST and LINKS.
// It does not hash the files; Materialize and ReadFile do.
func Open(p string, opts OpenOptions) (*Carton, error) {
	lim := opts.Limits.withDefaults()
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	c := &Carton{Path: p, limits: lim, fetched: map[string][]byte{}}
	if st.IsDir() {
		c.src, c.tree, err = openDir(p, lim)
	} else {
		c.Packed = true
		c.src, c.tree, err = openZip(p, lim)
	}
	return c.finishOpen(err)
}

// OpenReader is Open for a .carton zip of size bytes read through r: one
// embedded in the program (//go:embed), held in memory or served by the
// caller's own storage. name labels it in errors and becomes Path ("" for
// none). The Carton reads r as long as it is open (file contents are read
// and hashed when used, not up front), so r must stay readable until
// Close, which does not close r. r must allow concurrent ReadAt calls, as
// io.ReaderAt requires.
func OpenReader(r io.ReaderAt, size int64, name string, opts OpenOptions) (*Carton, error) {
	if r == nil {
		return nil, fmt.Errorf("%w: OpenReader: nil reader", ErrMalformed)
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: OpenReader: negative size %d", ErrMalformed, size)
	}
	lim := opts.Limits.withDefaults()
	c := &Carton{Path: name, Packed: true, limits: lim, fetched: map[string][]byte{}}
	var err error
	c.src, c.tree, err = openZipReader(r, size, lim)
	return c.finishOpen(err)
}

// finishOpen reads the metadata of a carton whose source opened with
// err, and labels any error with the carton's path.
func (c *Carton) finishOpen(err error) (*Carton, error) {
	label := func(err error) error {
		if c.Path == "" {
			return err
		}
		return fmt.Errorf("%s: %w", c.Path, err)
	}
	if err != nil {
		return nil, label(err)
	}
	if err := c.readMetadata(); err != nil {
		c.src.close()
		return nil, label(err)
	}
	return c, nil
}

func (c *Carton) readMetadata() error {
	mb, err := c.readRaw("MANIFEST", maxMetadataBytes)
	if err != nil {
		return err
	}
	if c.Manifest, err = ParseManifest(mb); err != nil {
		return err
	}
	c.ManifestSHA256 = SHA256(mb)
	if c.tree.has("LINKS") {
		lb, err := c.readRaw("LINKS", maxMetadataBytes)
		if err != nil {
			return err
		}
		if c.Links, err = ParseLinks(lb); err != nil {
			return err
		}
	}
	cb, err := c.ReadFile("carton.toml")
	if err != nil {
		return err
	}
	c.Config, err = ParseConfig(cb)
	return err
}

// readRaw reads a file without checking it against MANIFEST.
func (c *Carton) readRaw(name string, limit int64) ([]byte, error) {
	resolved, err := c.tree.resolve(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, malformed(name, "required file is missing")
		}
		return nil, err
	}
	rc, err := c.src.open(resolved)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, &FileError{Path: name, Err: fmt.Errorf("%w: more than %d bytes", ErrLimit, limit)}
	}
	return b, nil
}

// Has reports whether name is in the carton (as a file or through symlinks)
// or listed in MANIFEST (possibly fetched through LINKS).
func (c *Carton) Has(name string) bool {
	if c.tree.has(name) {
		return true
	}
	_, ok := c.Manifest.Hash(name)
	return ok
}

// ReadFile returns a file's bytes after checking them against MANIFEST. A
// file that MANIFEST lists but the zip leaves out is fetched through LINKS.
func (c *Carton) ReadFile(name string) ([]byte, error) {
	want, listed := c.Manifest.Hash(name)
	if !listed {
		return nil, &FileError{Path: name, Err: fmt.Errorf("%w: not listed in MANIFEST", ErrChecksum)}
	}
	var b []byte
	var err error
	if c.tree.has(name) {
		b, err = c.readRaw(name, c.limits.MaxFileBytes)
	} else {
		b, err = c.fetchToMemory(context.Background(), name, want)
	}
	if err != nil {
		return nil, err
	}
	if got := SHA256(b); got != want {
		return nil, &ChecksumError{Path: name, Want: want, Got: got}
	}
	return b, nil
}

func (c *Carton) fetchToMemory(ctx context.Context, name, want string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.fetched[name]; ok {
		return b, nil
	}
	var buf bytes.Buffer
	if err := c.fetch(ctx, name, want, &buf); err != nil {
		return nil, err
	}
	c.fetched[name] = buf.Bytes()
	return buf.Bytes(), nil
}

func (c *Carton) fetch(ctx context.Context, name, want string, w io.Writer) error {
	if c.Links == nil || len(c.Links.URLs[want]) == 0 {
		return &FileError{Path: name, Err: fmt.Errorf("%w: listed in MANIFEST but missing from the carton, and LINKS has no URL for it", ErrMalformed)}
	}
	if err := (Fetcher{}).Fetch(ctx, c.Links.URLs[want], want, c.limits.MaxFileBytes, w); err != nil {
		return &FileError{Path: name, Err: fmt.Errorf("fetching linked file: %w", err)}
	}
	return nil
}

// Close releases the zip file. Directories hold nothing open.
func (c *Carton) Close() error { return c.src.close() }

// Materialize verifies every file against MANIFEST and returns a directory
// holding model/'s files. For an unpacked carton that is its own model/; for
// a zip, model/ is extracted under cacheRoot/<manifest sha256>/ unless an
// earlier Materialize put it there. Extraction goes to a temporary directory
// renamed into place only after every file verified, so a failure leaves
// nothing behind. Files present but not listed in MANIFEST are an error.
func (c *Carton) Materialize(ctx context.Context, cacheRoot string) (string, error) {
	if err := c.checkAllListed(); err != nil {
		return "", err
	}
	if !c.Packed {
		if err := c.verifyAll(ctx, ""); err != nil {
			return "", err
		}
		return filepath.Join(c.Path, "model"), nil
	}
	final := filepath.Join(cacheRoot, c.ManifestSHA256)
	if _, err := os.Stat(final); err == nil {
		return filepath.Join(final, "model"), c.verifyAll(ctx, "")
	}
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cacheRoot, ".extract-"+c.ManifestSHA256[:12]+"-")
	if err != nil {
		return "", err
	}
	if err := c.verifyAll(ctx, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "model"), 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		if _, statErr := os.Stat(final); statErr != nil {
			return "", err
		}
		// another process won the race with identical, verified content
	}
	return filepath.Join(final, "model"), nil
}

// Verify hashes every file against MANIFEST without extracting anything.
func (c *Carton) Verify(ctx context.Context) error {
	if err := c.checkAllListed(); err != nil {
		return err
	}
	return c.verifyAll(ctx, "")
}

// Files returns the MANIFEST paths under prefix (e.g. "model/"), sorted.
func (c *Carton) Files(prefix string) []string {
	var out []string
	for _, p := range c.Manifest.Paths() {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	return out
}

// checkAllListed fails on a file present in the carton but not in MANIFEST.
func (c *Carton) checkAllListed() error {
	for name := range c.tree.files {
		if err := c.checkListed(name); err != nil {
			return err
		}
	}
	for name := range c.tree.links {
		if err := c.checkListed(name); err != nil && !c.tree.isDir(c.tree.links[name]) {
			return err
		}
	}
	return nil
}

func (c *Carton) checkListed(name string) error {
	if name == "MANIFEST" || name == "LINKS" {
		return nil
	}
	if _, ok := c.Manifest.Hash(name); !ok {
		return &FileError{Path: name, Err: fmt.Errorf("%w: present in the carton but not listed in MANIFEST", ErrChecksum)}
	}
	return nil
}

// verifyAll hashes every MANIFEST entry; with extractTo set, model/ files are
// written beneath it as they are hashed.
func (c *Carton) verifyAll(ctx context.Context, extractTo string) error {
	for _, name := range c.Manifest.Paths() {
		if err := ctx.Err(); err != nil {
			return err
		}
		want, _ := c.Manifest.Hash(name)
		var dst *os.File
		if extractTo != "" && strings.HasPrefix(name, "model/") {
			p := filepath.Join(extractTo, filepath.FromSlash(name))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			dst = f
		}
		err := c.hashInto(ctx, name, want, dst)
		if dst != nil {
			if cerr := dst.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *Carton) hashInto(ctx context.Context, name, want string, dst *os.File) error {
	h := sha256.New()
	var w io.Writer = h
	if dst != nil {
		w = io.MultiWriter(h, dst)
	}
	if !c.tree.has(name) {
		if dst == nil {
			_, err := c.fetchToMemory(ctx, name, want)
			return err // fetch already checked the digest
		}
		return c.fetch(ctx, name, want, dst)
	}
	resolved, err := c.tree.resolve(name)
	if err != nil {
		return err
	}
	rc, err := c.src.open(resolved)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(w, ctxReader{ctx, rc}); err != nil {
		return &FileError{Path: name, Err: err}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &ChecksumError{Path: resolved, Want: want, Got: got, Via: via(name, resolved)}
	}
	return nil
}

func via(name, resolved string) string {
	if name == resolved {
		return ""
	}
	return name
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// TensorData reads tensor_data/, checking each file against MANIFEST.
func (c *Carton) TensorData() (*TensorData, error) {
	return ReadTensorData(c.ReadFile, c.Has)
}
