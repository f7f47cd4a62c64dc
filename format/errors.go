package format

import (
	"errors"
	"fmt"
)

var (
	// ErrMalformed: the carton is not a valid carton (bad zip, bad
	// carton.toml, MANIFEST or index.toml, a missing required file).
	ErrMalformed = errors.New("malformed carton")
	// ErrChecksum: a file's bytes do not hash to its MANIFEST entry, or a
	// file is present that MANIFEST does not list.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrUnsafePath: an entry or symlink would reach outside the carton.
	ErrUnsafePath = errors.New("unsafe path in carton")
	// ErrLimit: the carton exceeds a safety limit (entries, sizes, ratio).
	ErrLimit = errors.New("carton exceeds a safety limit")
	// ErrOffline: a download was needed (a file LINKS points to, or a
	// runtime: libfetch.ErrOffline is this error) and the caller forbade
	// network access.
	ErrOffline = errors.New("offline: downloads are disabled")
)

// FileError ties an error to a file inside the carton.
type FileError struct {
	Path string // slash-separated, relative to the carton root
	Err  error
}

func (e *FileError) Error() string { return fmt.Sprintf("%s: %v", e.Path, e.Err) }
func (e *FileError) Unwrap() error { return e.Err }

// ChecksumError reports a file whose sha256 differs from MANIFEST.
type ChecksumError struct {
	Path      string // the file whose bytes are wrong
	Via       string // the symlink it was reached through, if any
	Want, Got string
}

func (e *ChecksumError) Error() string {
	msg := fmt.Sprintf("%s: sha256 %s does not match MANIFEST (%s)", e.Path, e.Got, e.Want)
	if e.Via != "" {
		msg += " (reached through symlink " + e.Via + ")"
	}
	return msg
}

// Is makes errors.Is(err, ErrChecksum) true.
func (e *ChecksumError) Is(target error) bool { return target == ErrChecksum }

func malformed(path, format string, args ...any) error {
	err := fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	if path == "" {
		return err
	}
	return &FileError{Path: path, Err: err}
}
