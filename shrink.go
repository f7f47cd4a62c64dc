package carton

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/atomicfile"
)

// Shrink writes to out the carton at in with every file whose sha256 urls
// lists left out of the zip and listed in LINKS instead, so large weights
// can be served from elsewhere (upstream Carton's "shrink"). urls maps a
// sha256 (hex, as in MANIFEST) to http(s) URLs, tried in order. carton.toml
// and MANIFEST stay byte for byte as they were, so the returned manifest
// hash, the model's identity, is in's. Load fetches a linked file from its
// URLs and checks it against MANIFEST (not with CARTON_OFFLINE=1). Every
// file of in is verified first; files in already links stay linked, their
// URLs kept. A sha256 no file of in has is an error, as is a URL that is
// not http(s). out is written through a temporary file renamed into place.
// Stored files are read into memory while writing.
func Shrink(ctx context.Context, in, out string, urls map[string][]string) (string, error) {
	if err := atomicfile.CheckNotInput(out, in); err != nil {
		return "", fmt.Errorf("%w: %w (the shrunk carton must not replace the whole one)", ErrInvalidInput, err)
	}
	c, err := format.Open(in, format.OpenOptions{Context: ctx})
	if err != nil {
		return "", err
	}
	defer c.Close()
	links := &format.Links{Version: 1, URLs: map[string][]string{}}
	if c.Links != nil {
		maps.Copy(links.URLs, c.Links.URLs)
	}
	for sha, u := range urls {
		links.URLs[sha] = slices.Concat(u, links.URLs[sha])
	}
	if err := links.Validate(); err != nil {
		return "", err
	}
	hashes := map[string]bool{}
	for _, p := range c.Manifest.Paths() {
		h, _ := c.Manifest.Hash(p)
		hashes[h] = true
	}
	for _, sha := range slices.Sorted(maps.Keys(urls)) {
		if !hashes[sha] {
			return "", fmt.Errorf("%w: no file of %s has sha256 %s", ErrInvalidInput, in, sha)
		}
	}
	if h, _ := c.Manifest.Hash("carton.toml"); urls[h] != nil {
		return "", fmt.Errorf("%w: carton.toml cannot be linked: a reader needs it before anything else", ErrInvalidInput)
	}
	if err := c.VerifyStored(ctx); err != nil {
		return "", err
	}

	var entries []format.Entry
	for _, p := range c.Manifest.Paths() {
		h, _ := c.Manifest.Hash(p)
		_, link := urls[h]
		target, isSymlink := c.Symlink(p)
		switch {
		case link || !c.Stored(p):
			// A symlink to a linked file becomes one itself: a reader
			// cannot resolve a link to a file the zip does not hold.
			entries = append(entries, format.Entry{Name: p, Linked: h})
		case isSymlink:
			entries = append(entries, format.Entry{Name: p, Symlink: target})
		default:
			b, err := c.ReadFile(p)
			if err != nil {
				return "", err
			}
			entries = append(entries, format.Entry{Name: p, Data: b})
		}
	}
	for _, p := range c.Symlinks() {
		if _, listed := c.Manifest.Hash(p); !listed { // a link to a directory: no MANIFEST line
			target, _ := c.Symlink(p)
			entries = append(entries, format.Entry{Name: p, Symlink: target})
		}
	}
	sha, err := writeAtomically(ctx, out, nil, entries, links)
	if err != nil {
		return "", err
	}
	if sha != c.ManifestSHA256 { // cannot happen: every line is copied as it was
		os.Remove(out)
		return "", fmt.Errorf("%w: shrinking %s changed its MANIFEST (%s, was %s)", ErrMalformed, in, sha, c.ManifestSHA256)
	}
	return sha, nil
}
