package carton

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/atomicfile"
)

// modelEntries lists the model's files as carton entries under model/.
// A single file is stored under the runner's model file name when it has
// one. A directory is walked as upstream's pack walks it (following
// links): a symlink to a file in the model stays a symlink, one to a file
// outside becomes a copy, and a symlink to a directory is walked as if it
// were one, its files stored by the same two rules (so a link inside the
// model costs no bytes, and one to a directory outside brings its files).
// The carton being written (out) is left out when it lies in the
// directory, as it does after `carton pack . -o model.carton` run twice.
func modelEntries(modelPath, out string, runner backend.Runner, known bool) ([]format.Entry, error) {
	st, err := os.Stat(modelPath)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		name := filepath.Base(modelPath)
		if namer, ok := runner.(backend.ModelFileNamer); known && ok {
			name = namer.ModelFileName()
		}
		return []format.Entry{{Name: "model/" + name, File: modelPath}}, nil
	}
	realRoot, err := filepath.EvalSymlinks(modelPath)
	if err != nil {
		return nil, err
	}
	if realRoot, err = filepath.Abs(realRoot); err != nil {
		return nil, err
	}
	w := modelWalker{root: realRoot, shown: modelPath}
	if real, err := filepath.EvalSymlinks(out); err == nil {
		w.skip, _ = filepath.Abs(real)
	}
	if err := w.walk(realRoot, "model", false); err != nil {
		return nil, err
	}
	if len(w.entries) == 0 {
		return nil, fmt.Errorf("%w: model directory %s is empty", ErrMalformed, modelPath)
	}
	return w.entries, nil
}

// isCarton reports whether the file at p opens as a carton.
func isCarton(p string) bool {
	c, err := format.Open(p, format.OpenOptions{})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// modelWalker walks a model directory by real paths (symlinks resolved)
// while naming entries by the paths a reader of the directory sees.
type modelWalker struct {
	root    string // the model directory, symlinks resolved
	shown   string // the model directory as the caller named it, for errors
	entries []format.Entry
	open    []string // real directories being walked, outermost first: a link to one is a loop
	skip    string   // the output carton's real path, when it exists
}

// walk adds the files under the real directory dir, named under name.
// viaLink says dir was reached through a symlink, so its files inside the
// model are already stored under their own names.
func (w *modelWalker) walk(dir, name string, viaLink bool) error {
	w.open = append(w.open, dir)
	defer func() { w.open = w.open[:len(w.open)-1] }()
	list, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, d := range list {
		p, n := filepath.Join(dir, d.Name()), name+"/"+d.Name()
		switch t := d.Type(); {
		case t.IsDir():
			err = w.walk(p, n, viaLink)
		case t.IsRegular():
			err = w.file(p, n, viaLink)
		case t&os.ModeSymlink != 0:
			err = w.link(p, n)
		default:
			err = fmt.Errorf("%w: %s is not a regular file", ErrMalformed, w.show(n))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// file adds the regular file real under name: as a symlink to its own name
// when it was reached through a link and lies in the model, else as a file.
func (w *modelWalker) file(real, name string, viaLink bool) error {
	if real == w.skip {
		// The output of an earlier pack into this directory is left out;
		// anything else there is the user's, not to be written over.
		if !isCarton(real) {
			return fmt.Errorf("%w: %w: %s is the model's own %s", ErrInvalidInput, atomicfile.ErrOverwritesInput, real, w.show(name))
		}
		return nil
	}
	if own, inside := w.nameOf(real); viaLink && inside {
		target, err := relativeName(path.Dir(name), own)
		if err != nil {
			return err
		}
		w.entries = append(w.entries, format.Entry{Name: name, Symlink: target})
		return nil
	}
	w.entries = append(w.entries, format.Entry{Name: name, File: real})
	return nil
}

func (w *modelWalker) link(p, name string) error {
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return fmt.Errorf("%w: %s: broken symlink: %v", ErrMalformed, w.show(name), err)
	}
	info, err := os.Stat(resolved)
	if err != nil {
		return err
	}
	switch {
	case info.Mode().IsRegular():
		return w.file(resolved, name, true)
	case info.IsDir():
		if slices.Contains(w.open, resolved) {
			return fmt.Errorf("%w: %s: symlink loop (it leads back to a directory that contains it)", ErrMalformed, w.show(name))
		}
		return w.walk(resolved, name, true)
	default:
		return fmt.Errorf("%w: %s does not lead to a regular file or directory", ErrMalformed, w.show(name))
	}
}

// nameOf returns the entry name of a real path and whether it lies in the model.
func (w *modelWalker) nameOf(real string) (string, bool) {
	rel, err := filepath.Rel(w.root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return "model/" + filepath.ToSlash(rel), true
}

// show names an entry as a path under the model directory the caller gave.
func (w *modelWalker) show(name string) string {
	return filepath.Join(w.shown, filepath.FromSlash(strings.TrimPrefix(name, "model/")))
}

// relativeName is the symlink target that leads from directory fromDir to
// name, both carton entry names.
func relativeName(fromDir, name string) (string, error) {
	rel, err := filepath.Rel(filepath.FromSlash(fromDir), filepath.FromSlash(name))
	return filepath.ToSlash(rel), err
}
