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
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
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

	src     source
	tree    *tree
	limits  Limits
	fetcher Fetcher

	raw struct{ config, manifest, links []byte } // as read at Open, checked

	opening *openGate // Open's context, until Open returns

	mu      sync.Mutex
	fetched map[string][]byte // linked non-model files, by path
}

// OpenOptions tune Open. The zero value is ready to use.
type OpenOptions struct {
	Limits  Limits
	Fetcher Fetcher // for LINKS; zero value uses http.DefaultClient
	// Context, when not nil, ends Open early (with its error) while it
	// reads the zip's directory, walks a directory or reads the metadata.
	// It does not outlive Open: later reads take their own contexts.
	Context context.Context
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
	c := &Carton{Path: p, limits: lim, fetcher: opts.Fetcher, fetched: map[string][]byte{}, opening: newOpenGate(opts.Context)}
	if st.IsDir() {
		c.src, c.tree, err = openDir(p, lim, c.opening)
	} else {
		c.Packed = true
		c.src, c.tree, err = openZip(p, lim, c.opening)
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
	c := &Carton{Path: name, Packed: true, limits: lim, fetcher: opts.Fetcher, fetched: map[string][]byte{}, opening: newOpenGate(opts.Context)}
	var err error
	c.src, c.tree, err = openZipReader(r, size, lim, c.opening)
	return c.finishOpen(err)
}

// finishOpen reads the metadata of a carton whose source opened with
// err, and labels any error with the carton's path.
func (c *Carton) finishOpen(err error) (*Carton, error) {
	defer c.opening.opened()
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

// readMetadata reads and parses MANIFEST, LINKS and carton.toml, each
// bounded by the limits before it is parsed (tomlguard.go).
func (c *Carton) readMetadata() error {
	mb, err := c.readRaw("MANIFEST", c.limits.MaxManifestBytes)
	if err != nil {
		return err
	}
	c.raw.manifest = mb
	if c.Manifest, err = parseManifest(mb, c.limits); err != nil {
		return err
	}
	c.ManifestSHA256 = SHA256(mb)
	if c.tree.has("LINKS") {
		lb, err := c.readRaw("LINKS", c.limits.MaxMetadataBytes)
		if err != nil {
			return err
		}
		c.raw.links = lb
		if c.Links, err = parseLinks(lb, c.limits); err != nil {
			return err
		}
	}
	cb, err := c.readFile("carton.toml", c.limits.MaxMetadataBytes)
	if err != nil {
		return err
	}
	c.raw.config = cb
	c.Config, err = parseConfig(cb, c.limits)
	return err
}

// readRaw reads a file without checking it against MANIFEST.
func (c *Carton) readRaw(name string, limit int64) ([]byte, error) {
	rc, hint, err := c.openFile(name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := readAll(gatedReader{c.opening, rc}, hint, limit, 0, nil)
	return b, limitError(name, limit, err)
}

// readHashed is readRaw that also returns the file's sha256 (hex).
func (c *Carton) readHashed(name string, limit int64) ([]byte, string, error) {
	rc, hint, err := c.openFile(name)
	if err != nil {
		return nil, "", err
	}
	defer rc.Close()
	b, sum, err := readAndHash(gatedReader{c.opening, rc}, hint, limit)
	return b, sum, limitError(name, limit, err)
}

// openFile opens a file of the carton by name, following symlinks, and
// says how many bytes it is expected to hold (-1: unknown).
func (c *Carton) openFile(name string) (io.ReadCloser, int64, error) {
	resolved, err := c.tree.resolve(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, malformed(name, "required file is missing")
		}
		return nil, 0, err
	}
	rc, err := c.src.open(resolved)
	if err != nil {
		return nil, 0, err
	}
	return rc, c.src.sizeHint(resolved), nil
}

// limitError names the file in readAll's ErrLimit.
func limitError(name string, limit int64, err error) error {
	if errors.Is(err, ErrLimit) {
		return &FileError{Path: name, Err: fmt.Errorf("%w: more than %d bytes", ErrLimit, limit)}
	}
	return err
}

// readAll is io.ReadAll of at most limit bytes into a buffer made for
// hint bytes up front (-1: unknown). io.ReadAll grows its buffer by
// doubling: for a model of hundreds of MB that is several copies and
// up to twice its size in memory. Each stretch of at least span bytes
// read, and the rest at the end, goes to emit (when not nil) as soon as
// it is in the buffer; emit must not modify it.
func readAll(r io.Reader, hint, limit int64, span int, emit func([]byte)) ([]byte, error) {
	if hint < 0 || hint > limit {
		hint = 0
	}
	b := make([]byte, 0, hint+1) // +1: the read that meets EOF needs no growth
	emitted := 0
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return nil, ErrLimit
		}
		if emit != nil && (len(b)-emitted >= span || err == io.EOF && len(b) > emitted) {
			emit(b[emitted:len(b):len(b)])
			emitted = len(b)
		}
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// hashSpan is how much readAndHash reads before the hashing goroutine
// takes it: large enough that handing it over costs nothing next to
// hashing it, small enough that hashing trails the reading closely.
const hashSpan = 1 << 20

// readAndHash is readAll that also returns the data's sha256 (hex). Past
// the first hashSpan bytes it hashes on another goroutine while the rest
// is read: inflating and hashing a model of hundreds of MB each take a good
// part of a second, and on a second core they overlap.
func readAndHash(r io.Reader, hint, limit int64) ([]byte, string, error) {
	h := sha256.New()
	var spans chan []byte
	var hashed chan struct{}
	emit := func(s []byte) {
		if spans == nil {
			if len(s) < hashSpan { // the whole of a small file
				h.Write(s)
				return
			}
			spans, hashed = make(chan []byte, 16), make(chan struct{})
			go func() {
				for s := range spans {
					h.Write(s)
				}
				close(hashed)
			}()
		}
		spans <- s
	}
	b, err := readAll(r, hint, limit, hashSpan, emit)
	if spans != nil {
		close(spans)
		<-hashed
	}
	if err != nil {
		return nil, "", err
	}
	return b, hex.EncodeToString(h.Sum(nil)), nil
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

// Stored reports whether name's bytes are in the carton itself (as a file
// or through symlinks), as opposed to only behind LINKS.
func (c *Carton) Stored(name string) bool { return c.tree.has(name) }

// LinkedFiles lists the MANIFEST files the carton does not hold, with the
// URLs LINKS gives for each (none when LINKS has no entry).
func (c *Carton) LinkedFiles() map[string][]string {
	var linked map[string][]string
	for _, p := range c.Manifest.Paths() {
		if c.Stored(p) {
			continue
		}
		if linked == nil {
			linked = map[string][]string{}
		}
		linked[p] = nil
		if h, _ := c.Manifest.Hash(p); c.Links != nil {
			linked[p] = c.Links.URLs[h]
		}
	}
	return linked
}

// Symlink returns the target of name when it is a symlink, relative to
// name's directory as Entry.Symlink takes it.
func (c *Carton) Symlink(name string) (string, bool) {
	target, ok := c.tree.links[name]
	if !ok {
		return "", false
	}
	var from []string
	if dir := path.Dir(name); dir != "." {
		from = strings.Split(dir, "/")
	}
	to := strings.Split(target, "/")
	common := 0
	for common < len(from) && common < len(to)-1 && from[common] == to[common] {
		common++
	}
	rel := slices.Repeat([]string{".."}, len(from)-common)
	return strings.Join(append(rel, to[common:]...), "/"), true
}

// Symlinks lists the carton's symlinks, sorted (a link to a directory has
// no MANIFEST line, so Manifest.Paths leaves it out).
func (c *Carton) Symlinks() []string {
	return slices.Sorted(maps.Keys(c.tree.links))
}

// ReadFile returns a file's bytes after checking them against MANIFEST. A
// file that MANIFEST lists but the zip leaves out is fetched through LINKS.
func (c *Carton) ReadFile(name string) ([]byte, error) {
	return c.readFile(name, c.limits.MaxFileBytes)
}

// readFile is ReadFile of a file of at most limit bytes.
func (c *Carton) readFile(name string, limit int64) ([]byte, error) {
	want, listed := c.Manifest.Hash(name)
	if !listed {
		return nil, &FileError{Path: name, Err: fmt.Errorf("%w: not listed in MANIFEST", ErrChecksum)}
	}
	if !c.tree.has(name) {
		return c.fetchToMemory(context.Background(), name, want) // fetch checks the digest
	}
	b, got, err := c.readHashed(name, limit)
	if err != nil {
		return nil, err
	}
	if got != want {
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
	if err := c.fetcher.Fetch(ctx, c.Links.URLs[want], want, c.limits.MaxFileBytes, w); err != nil {
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
// Files only behind LINKS are fetched into the extraction when in model/,
// and left to ReadFile (which checks them) when not.
func (c *Carton) Materialize(ctx context.Context, cacheRoot string) (string, error) {
	return c.materialize(ctx, cacheRoot, verifyPlan{})
}

// ExtractModel is Materialize for a carton whose bytes are costly to read
// (one opened over the network): only model/'s files are read, each
// checked as it is extracted; the others are checked when ReadFile reads
// them; and a model already extracted under cacheRoot is used without
// reading the carton's files again.
func (c *Carton) ExtractModel(ctx context.Context, cacheRoot string) (string, error) {
	return c.materialize(ctx, cacheRoot, verifyPlan{modelOnly: true})
}

func (c *Carton) materialize(ctx context.Context, cacheRoot string, plan verifyPlan) (string, error) {
	if err := c.checkAllListed(); err != nil {
		return "", err
	}
	if !c.Packed {
		for _, name := range c.Files("model/") {
			if !c.Stored(name) {
				return "", &FileError{Path: name, Err: fmt.Errorf("%w: only behind LINKS, and an unpacked carton's model/ must hold its files", ErrMalformed)}
			}
		}
		if err := c.verifyAll(ctx, plan); err != nil {
			return "", err
		}
		return filepath.Join(c.Path, "model"), nil
	}
	dir, zipVerified, err := c.CheckExtracted(cacheRoot)
	var damaged *DamagedError
	switch {
	case err == nil && (plan.modelOnly || zipVerified):
		return dir, nil
	case err == nil:
		if err := c.verifyAll(ctx, plan); err != nil {
			return "", err
		}
		_ = c.MarkVerified(cacheRoot)
		return dir, nil
	case errors.As(err, &damaged):
		// Extract it again, from this carton, checked as it is written.
		if err := RemoveExtraction(cacheRoot, c.ManifestSHA256); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%w (and removing it: %w)", damaged, err)
		}
	}
	final := filepath.Join(cacheRoot, c.ManifestSHA256)
	if err := os.MkdirAll(cacheRoot, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cacheRoot, ".extract-"+c.ManifestSHA256[:12]+"-")
	if err != nil {
		return "", err
	}
	plan.extractTo = tmp
	if err := c.verifyAll(ctx, plan); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(tmp, "model"), 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := c.linkDirs(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := c.writeStamp(tmp, !plan.modelOnly); err != nil {
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

// linkDirs recreates under root the symlinks in model/ that point to a
// directory in model/: MANIFEST has no line for them (only for files),
// so extracting files alone would leave them out. Targets were checked
// to stay inside the carton when it was opened.
func (c *Carton) linkDirs(root string) error {
	for _, name := range c.Symlinks() {
		target := c.tree.links[name]
		if !strings.HasPrefix(name, "model/") || !strings.HasPrefix(target, "model/") || !c.tree.isDir(target) {
			continue
		}
		rel, _ := c.Symlink(name)
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(filepath.FromSlash(rel), p); err != nil {
			return err
		}
	}
	return nil
}

// Extracted returns the model/ directory an earlier Materialize of a
// packed carton with the same MANIFEST extracted under cacheRoot, if there
// is one and it is unchanged since. Its files were verified as they were
// written; this carton's own bytes are not checked (Verify does that), so
// a caller can run Verify while it reads the extracted copy.
//
// It is CheckExtracted without the details: a damaged extraction is not
// one.
func (c *Carton) Extracted(cacheRoot string) (string, bool) {
	dir, _, err := c.CheckExtracted(cacheRoot)
	return dir, err == nil
}

// Verify hashes every file against MANIFEST without extracting anything.
// Files only behind LINKS are downloaded and hashed as they stream by;
// nothing of them is kept.
func (c *Carton) Verify(ctx context.Context) error {
	if err := c.checkAllListed(); err != nil {
		return err
	}
	return c.verifyAll(ctx, verifyPlan{fetchLinked: true})
}

// VerifyStored hashes the files the carton holds against MANIFEST, leaving
// out those named in skip, which the caller reads through ReadFile (that
// checks them: a runner loading its model from memory would otherwise
// inflate and hash it twice), and those only behind LINKS, which are
// checked when they are fetched: by Materialize for model/, by ReadFile
// for the rest. Load uses it, so a cached model loads without the network.
func (c *Carton) VerifyStored(ctx context.Context, skip ...string) error {
	if err := c.checkAllListed(); err != nil {
		return err
	}
	return c.verifyAll(ctx, verifyPlan{skip: skip})
}

// FileSize is the size of a file in the carton (following symlinks), as
// the zip declares it or the directory holds it; false for a file that is
// not in the carton (absent, or only reachable through LINKS).
func (c *Carton) FileSize(name string) (int64, bool) {
	resolved, err := c.tree.resolve(name)
	if err != nil {
		return 0, false
	}
	return c.tree.files[resolved], true
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

// verifyPlan says which files verifyAll hashes, and what it does with them.
type verifyPlan struct {
	extractTo   string   // model/'s files are written under it as they are hashed
	fetchLinked bool     // files only behind LINKS, not extracted, are downloaded and hashed (nothing kept); else left to whoever fetches them
	modelOnly   bool     // files outside model/ are left to ReadFile
	skip        []string // files the caller checks itself
}

// verifyAll hashes MANIFEST's files as plan says. Extracting, it reads
// each zip entry once however many symlinks lead to it, and fetches the
// files behind LINKS once per sha256: a second file from the same source
// is a hard link to the first (a copy where links fail).
func (c *Carton) verifyAll(ctx context.Context, plan verifyPlan) error {
	extracted := map[string]string{} // where bytes came from -> the file extracted with them
	for _, name := range c.Manifest.Paths() {
		if err := ctx.Err(); err != nil {
			return err
		}
		inModel := strings.HasPrefix(name, "model/")
		if slices.Contains(plan.skip, name) || plan.modelOnly && !inModel {
			continue
		}
		want, _ := c.Manifest.Hash(name)
		var err error
		switch {
		case plan.extractTo != "" && inModel:
			err = c.extract(ctx, name, want, plan.extractTo, extracted)
		case c.tree.has(name):
			err = c.hashInto(ctx, name, want, nil)
		case plan.fetchLinked: // only behind LINKS; fetch checks the digest
			err = c.fetch(ctx, name, want, io.Discard)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// extract writes name under root as it hashes it, unless a file from the
// same source is already there (extracted maps sources to those files).
func (c *Carton) extract(ctx context.Context, name, want, root string, extracted map[string]string) error {
	p := filepath.Join(root, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	source := "LINKS " + want // where the bytes come from: one download per sha256,
	if c.tree.has(name) {
		resolved, err := c.tree.resolve(name)
		if err != nil {
			return err
		}
		source = resolved // or one read per zip entry, however many symlinks lead to it
	}
	if first, ok := extracted[source]; ok {
		if err := linkOrCopy(first, p); err != nil {
			return &FileError{Path: name, Err: err}
		}
		return nil
	}
	dst, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	err = c.hashInto(ctx, name, want, dst)
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		extracted[source] = p
	}
	return err
}

// linkOrCopy makes dst hold the bytes of the verified file src.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *Carton) hashInto(ctx context.Context, name, want string, dst *os.File) error {
	h := sha256.New()
	var w io.Writer = h
	if dst != nil {
		w = io.MultiWriter(h, dst)
	}
	if !c.tree.has(name) {
		return c.fetch(ctx, name, want, dst) // fetch checks the digest
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

// gatedReader stops a read during Open when Open's context ends.
type gatedReader struct {
	gate *openGate
	r    io.Reader
}

func (g gatedReader) Read(p []byte) (int, error) {
	if err := g.gate.err(); err != nil {
		return 0, err
	}
	return g.r.Read(p)
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
	read := func(name string) ([]byte, error) {
		if name == "tensor_data/index.toml" {
			return c.readFile(name, c.limits.MaxMetadataBytes)
		}
		return c.ReadFile(name)
	}
	return ReadTensorData(read, c.Has)
}
