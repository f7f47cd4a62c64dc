package carton

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/carton-run/carton/format"
)

// VerifyReport says what Verify checked.
type VerifyReport struct {
	ManifestSHA256 string
	Files          int      // files hashed against MANIFEST
	Fetched        []string // of those, the ones only behind LINKS, downloaded to be hashed
	// Cached is the model/ a Load extracted from this carton into the
	// cache, hashed too ("" when there is none); CachedFiles its files.
	Cached      string
	CachedFiles int
}

// Verify checks a packed or unpacked carton (or one at an http(s) URL, as
// for Load) without loading it: its
// structure, and every file against MANIFEST. Files only behind LINKS are
// downloaded and hashed as they stream by, nothing kept (under
// CARTON_OFFLINE=1 or WithFetchOptions' Offline, that is ErrOffline).
// When a Load extracted the carton's model into the cache (WithCacheDir,
// else the default cache), that copy is hashed too: a damaged one is
// removed, so that the next Load extracts it again, and reported as an
// error matching ErrChecksum. Other options do not apply. A mismatch wraps
// ErrChecksum; a broken carton ErrMalformed or ErrUnsafePath.
func Verify(ctx context.Context, path string, opts ...Option) (*VerifyReport, error) {
	o, err := buildOptionsFor(opts, needs{downloads: true})
	if err != nil {
		return nil, err
	}
	op, err := openCarton(ctx, path, o, false) // checking needs every byte
	if err != nil {
		return nil, err // labelled with the path already
	}
	defer op.close()
	defer op.interruptOn(ctx)()
	c := op.carton
	if err := c.Verify(ctx); err != nil {
		return nil, labelled(c.Path, err)
	}
	r := &VerifyReport{
		ManifestSHA256: c.ManifestSHA256,
		Files:          len(c.Manifest.Paths()),
		Fetched:        format.SortedKeys(c.LinkedFiles()),
	}
	root, err := modelCache(o.cacheDir)
	if err != nil || !c.Packed {
		return r, nil // no cache to look in: the carton alone was asked for
	}
	dir := filepath.Join(root, c.ManifestSHA256)
	if _, err := os.Stat(dir); err != nil {
		return r, nil
	}
	n, err := format.VerifyExtraction(ctx, dir)
	if err != nil {
		if rerr := removeAside(root, c.ManifestSHA256); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, rerr)
		} else {
			err = fmt.Errorf("%w (removed: the next Load extracts it again)", err)
		}
		return nil, labelled(c.Path, err)
	}
	r.Cached, r.CachedFiles = filepath.Join(dir, "model"), n
	return r, nil
}
