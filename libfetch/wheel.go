package libfetch

import (
	"context"
	sha "crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Wheel returns the directory a locked wheel is unpacked in under
// cacheDir (<cacheDir>/python/wheels/<sha256>/), fetching it first if it
// is not there: found on the configured package index by its file name
// (the URL a lock file names is only where it was resolved; a mirror
// serves the same file), downloaded, checked against sha256, and unpacked
// through a temporary directory renamed into place. Offline, a wheel not
// in the cache is ErrOffline.
func Wheel(ctx context.Context, cacheDir, fileName, sha256 string, o FetchOptions) (string, error) {
	if !sha256Hex.MatchString(sha256) {
		return "", fmt.Errorf("%w: wheel %s: sha256 %q is not 64 hex digits", ErrDownload, fileName, sha256)
	}
	m := wheelName.FindStringSubmatch(fileName)
	if m == nil || path.Base(fileName) != fileName {
		return "", fmt.Errorf("%w: %q is not a wheel's file name", ErrDownload, fileName)
	}
	// The cache is by content: any name with this digest is this wheel.
	dir := filepath.Join(cacheDir, "python", "wheels", sha256)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if o.Offline {
		return "", fmt.Errorf("%w: wheel %s is not in the cache (%s)", ErrOffline, fileName, dir)
	}
	o = o.withIndex(ctx)
	if o.index == nil {
		return "", fmt.Errorf("%w: wheel %s: %w", ErrDownload, fileName, o.indexErr)
	}
	page, pageURL, err := fetchProject(ctx, o.index.URL, m[1], o)
	if err != nil {
		return "", fmt.Errorf("%w: wheel %s: %v", ErrDownload, fileName, err)
	}
	var found *wheelFile
	for i, f := range page.Files {
		if f.Filename == fileName {
			found = &page.Files[i]
			break
		}
	}
	if found == nil {
		return "", fmt.Errorf("%w: %s is not on the package index %s (project page %s)", ErrNoRelease, fileName, o.index, pageURL)
	}
	if h := strings.ToLower(found.Hashes["sha256"]); h != "" && h != sha256 {
		return "", fmt.Errorf("%w: %s: the index says sha256 %s, the lock %s", ErrDigest, fileName, h, sha256)
	}
	ref, err := url.Parse(found.URL)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrDownload, found.URL, err)
	}
	return UnpackWheel(ctx, cacheDir, fileName, sha256, func(w io.Writer) error {
		_, _, err := download(ctx, pageURL.ResolveReference(ref).String(), w, sha256, o)
		return err
	})
}

// UnpackWheel unpacks the wheel that write writes (into a temporary file,
// hashed as it is written), once its sha256 is checked, into <cacheDir>/python/wheels/<sha256>/ (or
// returns that directory if it is already complete). Bundled wheels come
// this way from a carton's files.
func UnpackWheel(ctx context.Context, cacheDir, fileName, sha256 string, write func(io.Writer) error) (string, error) {
	dir := filepath.Join(cacheDir, "python", "wheels", sha256)
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dir), ".wheel-*.whl")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha.New()
	if err := write(io.MultiWriter(tmp, h)); err != nil {
		return "", err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sha256 {
		return "", fmt.Errorf("%w: %s: sha256 %s, the lock says %s", ErrDigest, fileName, got, sha256)
	}
	staging, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(staging)
	if err := extract(tmp.Name(), "zip", staging, stripMap(""), 16<<30); err != nil {
		return "", fmt.Errorf("%s: %w", fileName, err)
	}
	if err := os.WriteFile(filepath.Join(staging, ".complete"), []byte(fileName+"\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(staging, dir); err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, ".complete")); statErr == nil {
			return dir, nil // another process unpacked it first
		}
		return "", err
	}
	return dir, nil
}
