package carton

import (
	"context"

	"github.com/carton-run/carton/format"
)

// VerifyReport says what Verify checked.
type VerifyReport struct {
	ManifestSHA256 string
	Files          int      // files hashed against MANIFEST
	Fetched        []string // of those, the ones only behind LINKS, downloaded to be hashed
}

// Verify checks a packed or unpacked carton (or one at an http(s) URL, as
// for Load) without loading it: its
// structure, and every file against MANIFEST. Files only behind LINKS are
// downloaded and hashed as they stream by, nothing kept (under
// CARTON_OFFLINE=1 or WithFetchOptions' Offline, that is ErrOffline).
// Options other than WithFetchOptions and WithLimits do not apply. A
// mismatch wraps ErrChecksum; a broken carton ErrMalformed or
// ErrUnsafePath.
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
	return &VerifyReport{
		ManifestSHA256: c.ManifestSHA256,
		Files:          len(c.Manifest.Paths()),
		Fetched:        format.SortedKeys(c.LinkedFiles()),
	}, nil
}
