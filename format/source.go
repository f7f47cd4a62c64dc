package format

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// zipMethodZstd is the zip compression method number for zstd.
const zipMethodZstd = 93

// source is the container a carton is read from: a zip or a directory.
type source interface {
	// open returns the regular file at a resolved (symlink-free) path.
	open(name string) (io.ReadCloser, error)
	// sizeHint is how many bytes open's reader is expected to yield, to
	// size a buffer; -1 when that is not worth trusting.
	sizeHint(name string) int64
	close() error
}

// tree is the checked listing of a source.
type tree struct {
	files map[string]int64  // regular files -> size
	links map[string]string // symlink -> root-relative target
}

// resolve follows symlinks in any component of name, staying inside the root.
func (t *tree) resolve(name string) (string, error) {
	cur := name
	for hops := 0; hops < 40; hops++ {
		parts := strings.Split(cur, "/")
		changed := false
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			if target, ok := t.links[prefix]; ok {
				cur = strings.Join(append([]string{target}, parts[i:]...), "/")
				changed = true
				break
			}
		}
		if !changed {
			if _, ok := t.files[cur]; !ok {
				return "", &FileError{Path: name, Err: fmt.Errorf("%w: no such file in the carton", fs.ErrNotExist)}
			}
			return cur, nil
		}
	}
	return "", &FileError{Path: name, Err: fmt.Errorf("%w: too many levels of symlinks", ErrUnsafePath)}
}

func (t *tree) has(name string) bool {
	_, err := t.resolve(name)
	return err == nil
}

// zipSource reads a zip carton.
type zipSource struct {
	f     *os.File
	zr    *zip.Reader
	size  int64 // of the whole zip
	index map[string]*zip.File
}

func openZip(path string, lim Limits, gate *openGate) (*zipSource, *tree, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	s, t, err := openZipReader(f, st.Size(), lim, gate)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	s.f = f
	return s, t, nil
}

// openZipReader checks a zip held by r; the caller owns r.
func openZipReader(r io.ReaderAt, size int64, lim Limits, gate *openGate) (*zipSource, *tree, error) {
	zr, err := zip.NewReader(sourceReaderAt{r, gate}, size)
	var se *sourceError
	if errors.As(err, &se) {
		return nil, nil, se.err
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: not a zip file: %v", ErrMalformed, err)
	}
	zr.RegisterDecompressor(zipMethodZstd, zstdDecompressor)
	s := &zipSource{zr: zr, size: size, index: map[string]*zip.File{}}
	t, err := s.check(lim, gate)
	if err != nil {
		return nil, nil, err
	}
	return s, t, nil
}

func zstdDecompressor(r io.Reader) io.ReadCloser {
	d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(1<<27))
	if err != nil {
		return io.NopCloser(errReader{err})
	}
	return d.IOReadCloser()
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// check validates every entry before anything is read or written.
func (s *zipSource) check(lim Limits, gate *openGate) (*tree, error) {
	if len(s.zr.File) > lim.MaxEntries {
		return nil, fmt.Errorf("%w: %d entries (limit %d)", ErrLimit, len(s.zr.File), lim.MaxEntries)
	}
	t := &tree{files: map[string]int64{}, links: map[string]string{}}
	var total uint64
	for i, zf := range s.zr.File {
		if i%checkEvery == 0 {
			if err := gate.err(); err != nil {
				return nil, err
			}
		}
		name := zf.Name
		if strings.HasSuffix(name, "/") && zf.Mode().IsDir() {
			if err := checkEntryName(strings.TrimSuffix(name, "/")); err != nil {
				return nil, err
			}
			continue // directory entries carry nothing
		}
		if err := checkEntryName(name); err != nil {
			return nil, err
		}
		if _, dup := s.index[name]; dup {
			return nil, malformed(name, "duplicate zip entry")
		}
		s.index[name] = zf
		switch zf.Method {
		case zip.Store, zip.Deflate, zipMethodZstd:
		default:
			return nil, malformed(name, "unsupported zip compression method %d (want Stored, Deflate or zstd)", zf.Method)
		}
		size := zf.UncompressedSize64
		if size > uint64(lim.MaxFileBytes) {
			return nil, &FileError{Path: name, Err: fmt.Errorf("%w: %d bytes uncompressed (limit %d)", ErrLimit, size, lim.MaxFileBytes)}
		}
		if total += size; total > uint64(lim.MaxTotalBytes) {
			return nil, fmt.Errorf("%w: more than %d bytes uncompressed in all", ErrLimit, lim.MaxTotalBytes)
		}
		if size > uint64(lim.RatioFloor) && size/max(zf.CompressedSize64, 1) > uint64(lim.MaxRatio) {
			return nil, &FileError{Path: name, Err: fmt.Errorf("%w: compression ratio %d:1 looks like a zip bomb (limit %d:1)", ErrLimit, size/max(zf.CompressedSize64, 1), lim.MaxRatio)}
		}
		if zf.Mode()&fs.ModeSymlink != 0 {
			target, err := s.readSymlink(zf)
			if err != nil {
				return nil, err
			}
			resolved, err := resolveLink(name, target)
			if err != nil {
				return nil, err
			}
			t.links[name] = resolved
			continue
		}
		if zf.Mode().IsDir() {
			continue
		}
		t.files[name] = int64(size)
	}
	return t, checkLinks(t)
}

// checkLinks makes sure every symlink resolves inside the carton, to a
// file or to a directory that holds something.
func checkLinks(t *tree) error {
	for link, target := range t.links {
		if _, err := t.resolve(link); err == nil {
			continue
		} else if errors.Is(err, ErrUnsafePath) {
			return err
		}
		if !t.isDir(target) {
			return &FileError{Path: link, Err: fmt.Errorf("%w: symlink points at nothing inside the carton", ErrMalformed)}
		}
	}
	return nil
}

func (t *tree) isDir(name string) bool {
	prefix := name + "/"
	for f := range t.files {
		if strings.HasPrefix(f, prefix) {
			return true
		}
	}
	for l := range t.links {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func (s *zipSource) readSymlink(zf *zip.File) (string, error) {
	if zf.UncompressedSize64 > 4096 {
		return "", malformed(zf.Name, "symlink target is too long")
	}
	rc, err := zf.Open()
	if err != nil {
		return "", entryError(zf.Name, "", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4097))
	if err != nil {
		return "", entryError(zf.Name, "", err)
	}
	return string(b), nil
}

func (s *zipSource) open(name string) (io.ReadCloser, error) {
	zf, ok := s.index[name]
	if !ok {
		return nil, &FileError{Path: name, Err: fs.ErrNotExist}
	}
	rc, err := zf.Open()
	if err != nil {
		return nil, entryError(name, "", err)
	}
	return &zipFileReader{rc: rc, name: name}, nil
}

// sizeHint is the entry's declared size, unless that is more than
// maxHintRatio times what it claims to occupy in the zip, or that claim is
// more than the whole zip: headers may lie (below Limits.RatioFloor
// about any ratio), and a buffer made for a lie is memory that no byte of
// the zip backs.
func (s *zipSource) sizeHint(name string) int64 {
	zf, ok := s.index[name]
	if !ok || zf.CompressedSize64 > uint64(s.size) || zf.UncompressedSize64/max(zf.CompressedSize64, 1) > maxHintRatio {
		return -1
	}
	return int64(zf.UncompressedSize64)
}

// maxHintRatio: real files rarely compress past it; beyond it the buffer
// grows as the data arrives.
const maxHintRatio = 64

// zipFileReader turns archive/zip's bare errors into ones naming the entry.
// archive/zip already fails when an entry inflates past its declared size or
// its CRC differs, which is what stops a bomb that lies in its header.
type zipFileReader struct {
	rc   io.ReadCloser
	name string
}

func (z *zipFileReader) Read(p []byte) (int, error) {
	n, err := z.rc.Read(p)
	if err != nil && err != io.EOF {
		err = entryError(z.name, "reading zip entry: ", err)
	}
	return n, err
}

func (z *zipFileReader) Close() error { return z.rc.Close() }

func (s *zipSource) close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}

// dirSource reads an unpacked carton.
type dirSource struct{ root string }

func openDir(root string, lim Limits, gate *openGate) (*dirSource, *tree, error) {
	t := &tree{files: map[string]int64{}, links: map[string]string{}}
	var total int64
	count := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		if count%checkEvery == 0 {
			if err := gate.err(); err != nil {
				return err
			}
		}
		if count++; count > lim.MaxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrLimit, lim.MaxEntries)
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if err := checkEntryName(name); err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if filepath.IsAbs(target) {
				// an absolute link is fine only if it lands inside the root
				r, err := filepath.Rel(root, target)
				if err != nil {
					return &FileError{Path: name, Err: fmt.Errorf("%w: symlink target %q points outside the carton", ErrUnsafePath, target)}
				}
				target, err = filepath.Rel(filepath.Dir(p), filepath.Join(root, r))
				if err != nil {
					return err
				}
			}
			resolved, err := resolveLink(name, filepath.ToSlash(target))
			if err != nil {
				return err
			}
			t.links[name] = resolved
		case d.IsDir():
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if info.Size() > lim.MaxFileBytes {
				return &FileError{Path: name, Err: fmt.Errorf("%w: %d bytes (limit %d)", ErrLimit, info.Size(), lim.MaxFileBytes)}
			}
			if total += info.Size(); total > lim.MaxTotalBytes {
				return fmt.Errorf("%w: more than %d bytes in all", ErrLimit, lim.MaxTotalBytes)
			}
			t.files[name] = info.Size()
		default:
			return &FileError{Path: name, Err: fmt.Errorf("%w: not a regular file, directory or symlink", ErrMalformed)}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return &dirSource{root: root}, t, checkLinks(t)
}

func (s *dirSource) open(name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(s.root, filepath.FromSlash(name)))
}

func (s *dirSource) close() error { return nil }

func (s *dirSource) sizeHint(name string) int64 {
	st, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(name)))
	if err != nil {
		return -1
	}
	return st.Size()
}

// sourceReaderAt marks the errors of the reader a zip is read from, so
// that one (a disk's, a network's) is not taken for a malformed zip. While
// the carton is being opened it also stops at the end of Open's context
// (a zip directory of a million entries takes a while to read).
type sourceReaderAt struct {
	r       io.ReaderAt
	opening *openGate
}

func (s sourceReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := s.opening.err(); err != nil {
		return 0, &sourceError{err}
	}
	n, err := s.r.ReadAt(p, off)
	if err != nil && err != io.EOF { // archive/zip compares with io.EOF
		err = &sourceError{err}
	}
	return n, err
}

// openGate holds Open's context until Open returns; reads after that
// (the model's, at Load) answer to their own contexts.
type openGate struct {
	ctx atomic.Pointer[context.Context]
}

func newOpenGate(ctx context.Context) *openGate {
	g := &openGate{}
	if ctx != nil {
		g.ctx.Store(&ctx)
	}
	return g
}

func (g *openGate) err() error {
	if g == nil {
		return nil
	}
	if ctx := g.ctx.Load(); ctx != nil {
		return (*ctx).Err()
	}
	return nil
}

func (g *openGate) opened() { g.ctx.Store(nil) }

// checkEvery is how many entries a check walks between looks at the context.
const checkEvery = 1024

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// entryError names the entry an error reading it came from: the source's
// own error as it is, anything else (the zip's structure, its
// compression) as ErrMalformed.
func entryError(name, what string, err error) error {
	var se *sourceError
	if errors.As(err, &se) {
		return &FileError{Path: name, Err: se.err}
	}
	return malformed(name, "%s%v", what, err)
}
