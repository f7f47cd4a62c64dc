package libfetch

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// mapFunc maps an archive member (a clean slash path) to its path in the
// install directory, or reports false to skip it.
type mapFunc func(name string) (string, bool)

// stripMap keeps members under prefix/ (all when prefix is empty), minus
// the prefix.
func stripMap(prefix string) mapFunc {
	return func(name string) (string, bool) {
		if prefix == "" {
			return name, true
		}
		rest, ok := strings.CutPrefix(name, prefix+"/")
		return rest, ok && rest != ""
	}
}

// extractor writes members under dir, refusing any that would escape it,
// and caps the bytes written.
type extractor struct {
	dir     string
	mapName mapFunc
	budget  int64
	links   [][2]string // deferred symlinks: path, target
}

// memberName cleans and checks an archive member's name.
func memberName(raw string) (string, error) {
	if strings.Contains(raw, "\\") || strings.HasPrefix(raw, "/") || strings.ContainsRune(raw, 0) {
		return "", fmt.Errorf("%w: member %q: absolute or backslash path", ErrArchive, raw)
	}
	clean := path.Clean(strings.TrimSuffix(raw, "/"))
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%w: member %q escapes the archive", ErrArchive, raw)
	}
	return clean, nil
}

func (e *extractor) target(raw string) (string, bool, error) {
	name, err := memberName(raw)
	if err != nil {
		return "", false, err
	}
	mapped, ok := e.mapName(name)
	if !ok || mapped == "." {
		return "", false, nil
	}
	if mapped != path.Clean(mapped) || path.IsAbs(mapped) || strings.HasPrefix(mapped, "../") || mapped == ".." {
		return "", false, fmt.Errorf("%w: member %q maps outside the install directory", ErrArchive, raw)
	}
	return filepath.Join(e.dir, filepath.FromSlash(mapped)), true, nil
}

func (e *extractor) file(raw string, mode fs.FileMode, r io.Reader) error {
	dst, ok, err := e.target(raw)
	if err != nil || !ok {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode.Perm()|0o644)
	if err != nil {
		return fmt.Errorf("%w: member %q: %v", ErrArchive, raw, err)
	}
	n, err := io.Copy(f, io.LimitReader(r, e.budget+1))
	e.budget -= n
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: member %q: %v", ErrArchive, raw, err)
	}
	if e.budget < 0 {
		return fmt.Errorf("%w: extracting writes more than the cap (CARTON_DOWNLOAD_MAX_BYTES x 4)", ErrArchive)
	}
	return nil
}

// symlink records a link whose target must stay inside the install
// directory; links are made after all files, so none is written through.
func (e *extractor) symlink(raw, target string) error {
	dst, ok, err := e.target(raw)
	if err != nil || !ok {
		return err
	}
	if filepath.IsAbs(target) || strings.Contains(target, "\\") {
		return fmt.Errorf("%w: link %q -> %q: absolute target", ErrArchive, raw, target)
	}
	resolved := filepath.Join(filepath.Dir(dst), filepath.FromSlash(target))
	if rel, err := filepath.Rel(e.dir, resolved); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%w: link %q -> %q escapes the install directory", ErrArchive, raw, target)
	}
	e.links = append(e.links, [2]string{dst, target})
	return nil
}

func (e *extractor) finish() error {
	for _, l := range e.links {
		if err := os.MkdirAll(filepath.Dir(l[0]), 0o755); err != nil {
			return err
		}
		if err := os.Symlink(l[1], l[0]); err != nil {
			return fmt.Errorf("%w: %v", ErrArchive, err)
		}
	}
	return nil
}

// extract unpacks the archive at file (kind "zip" or "tgz") into dir.
func extract(file, kind, dir string, mapName mapFunc, budget int64) error {
	e := &extractor{dir: dir, mapName: mapName, budget: budget}
	var err error
	switch kind {
	case "zip":
		err = e.zip(file)
	case "tgz":
		err = e.tgz(file)
	default:
		err = fmt.Errorf("%w: unknown archive format of %s", ErrArchive, file)
	}
	if err != nil {
		return err
	}
	return e.finish()
}

func (e *extractor) zip(file string) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		mode := f.Mode()
		switch {
		case mode.IsDir():
			if _, _, err := e.target(f.Name); err != nil {
				return err
			}
		case mode&fs.ModeSymlink != 0:
			r, err := f.Open()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrArchive, err)
			}
			target, err := io.ReadAll(io.LimitReader(r, 4096))
			r.Close()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrArchive, err)
			}
			if err := e.symlink(f.Name, string(target)); err != nil {
				return err
			}
		case mode.IsRegular():
			r, err := f.Open()
			if err != nil {
				return fmt.Errorf("%w: %v", ErrArchive, err)
			}
			err = e.file(f.Name, mode, r)
			r.Close()
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: member %q is not a file, directory or symlink", ErrArchive, f.Name)
		}
	}
	return nil
}

func (e *extractor) tgz(file string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrArchive, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrArchive, err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if _, _, err := e.target(h.Name); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := e.file(h.Name, fs.FileMode(h.Mode), tr); err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := e.symlink(h.Name, h.Linkname); err != nil {
				return err
			}
		case tar.TypeXGlobalHeader:
		default:
			return fmt.Errorf("%w: member %q has tar type %q (hard links, devices and the like are refused)", ErrArchive, h.Name, h.Typeflag)
		}
	}
}
