package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates or replaces path with what write writes. The temporary
// file is named "." + the base name + ".tmp-*", in path's directory.
func Write(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// ErrOverwritesInput: the output would replace one of the command's own
// input files.
var ErrOverwritesInput = errors.New("the output would replace an input file")

// CheckNotInput fails with ErrOverwritesInput when out is (or resolves
// to, through symlinks or hard links) any of inputs, so that nothing is
// written over a file the command reads. An out that does not exist yet
// is no input.
func CheckNotInput(out string, inputs ...string) error {
	ost, err := os.Stat(out)
	if err != nil {
		return nil
	}
	for _, in := range inputs {
		if ist, err := os.Stat(in); err == nil && os.SameFile(ost, ist) {
			return fmt.Errorf("%w: %s is %s", ErrOverwritesInput, out, in)
		}
	}
	return nil
}
