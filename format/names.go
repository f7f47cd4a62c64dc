package format

import (
	"fmt"
	"path"
	"strings"
)

// checkEntryName rejects names that could reach outside the root when used
// as a path: absolute paths, "..", backslashes, drive letters, empty or
// non-canonical components.
func checkEntryName(name string) error {
	bad := func(why string) error {
		return &FileError{Path: name, Err: fmt.Errorf("%w: %s", ErrUnsafePath, why)}
	}
	switch {
	case name == "":
		return bad("empty name")
	case strings.HasPrefix(name, "/"):
		return bad("absolute path")
	case strings.ContainsRune(name, '\\'):
		return bad("backslash in name")
	case strings.ContainsRune(name, 0):
		return bad("NUL in name")
	case len(name) >= 2 && name[1] == ':':
		return bad("drive letter")
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return bad("'..' escapes the carton root")
		}
		if part == "" || part == "." {
			return bad("non-canonical path")
		}
	}
	if path.Clean(name) != name {
		return bad("non-canonical path")
	}
	return nil
}

// resolveLink returns where a symlink at linkPath pointing to target lands,
// relative to the root, or an error if it escapes.
func resolveLink(linkPath, target string) (string, error) {
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsRune(target, '\\') {
		return "", &FileError{Path: linkPath, Err: fmt.Errorf("%w: symlink target %q is absolute or empty", ErrUnsafePath, target)}
	}
	joined := path.Join(path.Dir(linkPath), target)
	if joined == ".." || strings.HasPrefix(joined, "../") || joined == "." {
		return "", &FileError{Path: linkPath, Err: fmt.Errorf("%w: symlink target %q points outside the carton", ErrUnsafePath, target)}
	}
	return joined, nil
}
