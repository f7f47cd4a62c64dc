package format

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/carton-run/carton/internal/atomicfile"
)

// StampName is the file an extraction writes beside model/ in its cache
// directory (cacheRoot/<manifest sha256>/): what it wrote, so that a
// later Load proves the copy unchanged by a stat of each file instead of
// hashing it, and which carton files were verified in full against this
// MANIFEST, so that a Load of the same unchanged file need not hash it
// again.
const StampName = "stamp.json"

// stampVersion changes when the stamp's meaning does: an entry with
// another version is re-extracted.
const stampVersion = 1

type stamp struct {
	Version int                  `json:"version"`
	Files   map[string]stampFile `json:"files"` // MANIFEST path (model/...) -> what was written
	// Verified are carton files hashed in full against this MANIFEST,
	// most recent last.
	Verified []FileIdentity `json:"verified,omitempty"`
}

type stampFile struct {
	SHA256  string `json:"sha256"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mtime_ns"`
}

// maxVerifiedIdentities bounds the carton files a stamp remembers.
const maxVerifiedIdentities = 8

// FileIdentity tells one file apart from any other and from itself after
// a change: its path, size, modification and change times, device and
// inode. Any write to the file changes its change time, which no program
// can set back.
type FileIdentity struct {
	Path       string `json:"path"`
	Size       int64  `json:"size"`
	ModTime    int64  `json:"mtime_ns"`
	ChangeTime int64  `json:"ctime_ns"`
	Device     uint64 `json:"dev"`
	Inode      uint64 `json:"ino"`
}

// identityOf is the identity of the file at path, false when it cannot
// be had (no such file, or a platform without change times).
func identityOf(path string) (FileIdentity, bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return FileIdentity{}, false
	}
	st, err := os.Stat(abs)
	if err != nil || !st.Mode().IsRegular() {
		return FileIdentity{}, false
	}
	id := FileIdentity{Path: abs, Size: st.Size(), ModTime: st.ModTime().UnixNano()}
	if !sysIdentity(st, &id) {
		return FileIdentity{}, false
	}
	return id, true
}

// DamagedError reports a cached extraction that no longer holds what was
// written: a file changed, removed or not recorded. It matches
// ErrChecksum.
type DamagedError struct {
	Dir  string // the extraction (cacheRoot/<manifest sha256>)
	File string // the MANIFEST path of the file at fault; "" for the stamp itself
	What string
}

func (e *DamagedError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("cached model %s: %s", e.Dir, e.What)
	}
	return fmt.Sprintf("cached model %s: %s: %s", e.Dir, e.File, e.What)
}

// Is makes errors.Is(err, ErrChecksum) true.
func (e *DamagedError) Is(target error) bool { return target == ErrChecksum }

func readStamp(dir string) (*stamp, error) {
	b, err := os.ReadFile(filepath.Join(dir, StampName))
	if err != nil {
		return nil, &DamagedError{Dir: dir, What: "no readable " + StampName + " (extracted by an older carton, or damaged)"}
	}
	var s stamp
	if err := json.Unmarshal(b, &s); err != nil || s.Version != stampVersion || s.Files == nil {
		return nil, &DamagedError{Dir: dir, What: StampName + " is not this carton's"}
	}
	return &s, nil
}

// writeStamp records the files of model/ written under dir, with the
// carton file verified in full while writing them, if any.
func (c *Carton) writeStamp(dir string, verified bool) error {
	s := stamp{Version: stampVersion, Files: map[string]stampFile{}}
	for _, name := range c.Files("model/") {
		st, err := os.Stat(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			return err
		}
		want, _ := c.Manifest.Hash(name)
		s.Files[name] = stampFile{SHA256: want, Size: st.Size(), ModTime: st.ModTime().UnixNano()}
	}
	if id, ok := c.identity(); ok && verified {
		s.Verified = []FileIdentity{id}
	}
	return writeStampFile(dir, &s)
}

func writeStampFile(dir string, s *stamp) error {
	return atomicfile.Write(filepath.Join(dir, StampName), func(w io.Writer) error {
		return json.NewEncoder(w).Encode(s)
	})
}

// identity is the identity of the carton's zip file, false for a
// directory or a carton read through an io.ReaderAt.
func (c *Carton) identity() (FileIdentity, bool) {
	if !c.Packed || c.Path == "" || c.src == nil {
		return FileIdentity{}, false
	}
	if z, ok := c.src.(*zipSource); !ok || z.f == nil {
		return FileIdentity{}, false
	}
	return identityOf(c.Path)
}

// CheckExtracted looks for the model/ an earlier extraction of a packed
// carton with this MANIFEST wrote under cacheRoot, and checks it cheaply:
// every model/ file MANIFEST lists is there, with the size and
// modification time it was written with (a stat each, no hashing). It
// returns the model/ directory, and whether this carton's own file is
// one already verified in full against the MANIFEST and unchanged since
// (then nothing of it need be hashed again). An absent extraction wraps
// fs.ErrNotExist; a damaged one is a *DamagedError.
func (c *Carton) CheckExtracted(cacheRoot string) (dir string, zipVerified bool, err error) {
	if !c.Packed {
		return "", false, fmt.Errorf("%w: an unpacked carton is not extracted", fs.ErrNotExist)
	}
	final := filepath.Join(cacheRoot, c.ManifestSHA256)
	if st, err := os.Stat(final); err != nil || !st.IsDir() {
		return "", false, fmt.Errorf("%w: no extraction of %s in %s", fs.ErrNotExist, c.ManifestSHA256, cacheRoot)
	}
	s, err := readStamp(final)
	if err != nil {
		return "", false, err
	}
	for _, name := range c.Files("model/") {
		want, _ := c.Manifest.Hash(name)
		rec, ok := s.Files[name]
		if !ok || rec.SHA256 != want {
			return "", false, &DamagedError{Dir: final, File: name, What: "not recorded as extracted"}
		}
		st, err := os.Stat(filepath.Join(final, filepath.FromSlash(name)))
		switch {
		case err != nil:
			return "", false, &DamagedError{Dir: final, File: name, What: "missing"}
		case st.Size() != rec.Size || st.ModTime().UnixNano() != rec.ModTime:
			return "", false, &DamagedError{Dir: final, File: name, What: fmt.Sprintf("changed since it was extracted (%d bytes, was %d)", st.Size(), rec.Size)}
		}
	}
	if id, ok := c.identity(); ok {
		zipVerified = slices.Contains(s.Verified, id)
	}
	return filepath.Join(final, "model"), zipVerified, nil
}

// MarkVerified records in the extraction's stamp that this carton's file,
// as it is now, was verified in full against its MANIFEST, for
// CheckExtracted. A failure to record only costs a later Load a hash.
func (c *Carton) MarkVerified(cacheRoot string) error {
	id, ok := c.identity()
	if !ok {
		return nil
	}
	dir := filepath.Join(cacheRoot, c.ManifestSHA256)
	s, err := readStamp(dir)
	if err != nil {
		return err
	}
	if slices.Contains(s.Verified, id) {
		return nil
	}
	s.Verified = slices.DeleteFunc(s.Verified, func(v FileIdentity) bool { return v.Path == id.Path })
	s.Verified = append(s.Verified, id)
	if n := len(s.Verified); n > maxVerifiedIdentities {
		s.Verified = s.Verified[n-maxVerifiedIdentities:]
	}
	return writeStampFile(dir, s)
}

// RemoveExtraction renames cacheRoot/name away, then deletes it, so a
// concurrent Load never finds half of it. One already gone wraps
// fs.ErrNotExist.
func RemoveExtraction(cacheRoot, name string) error {
	aside, err := os.MkdirTemp(cacheRoot, ".remove-"+name[:min(12, len(name))]+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(aside)
	err = os.Rename(filepath.Join(cacheRoot, name), filepath.Join(aside, name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no model extracted for manifest sha256 %s in %s", fs.ErrNotExist, name, cacheRoot)
	}
	return err
}

// VerifyExtraction hashes every file the extraction at dir
// (cacheRoot/<manifest sha256>) recorded against the sha256 it was
// extracted with, and returns how many it hashed; a mismatch, a missing
// file or a missing stamp is a *DamagedError.
func VerifyExtraction(ctx context.Context, dir string) (int, error) {
	s, err := readStamp(dir)
	if err != nil {
		return 0, err
	}
	names := SortedKeys(s.Files)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		got, err := hashFile(ctx, filepath.Join(dir, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			return 0, &DamagedError{Dir: dir, File: name, What: "missing"}
		}
		if err != nil {
			return 0, err
		}
		if want := s.Files[name].SHA256; got != want {
			return 0, &DamagedError{Dir: dir, File: name, What: fmt.Sprintf("sha256 %s does not match MANIFEST (%s)", got, want)}
		}
	}
	return len(names), nil
}

func hashFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, ctxReader{ctx, f}); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
