package carton

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/atomicfile"
	"github.com/carton-run/carton/internal/httpfile"
)

// isURL reports whether path names a carton on an HTTP(S) server.
func isURL(path string) bool {
	return strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://")
}

// opened is a carton as openCarton found it.
type opened struct {
	carton *format.Carton
	remote *httpfile.File // a URL read over the network, read until close
	kept   bool           // a URL's metadata an earlier Load kept, opened offline (its model extracted, its other files not kept)
}

// close closes the carton, then the URL it reads.
func (op opened) close() error {
	err := op.carton.Close()
	if op.remote != nil {
		err = errors.Join(err, op.remote.Close())
	}
	return err
}

// interruptOn ends reads over the network blocked when ctx ends (they do
// not see it otherwise), until the returned stop is called.
func (op opened) interruptOn(ctx context.Context) (stop func() bool) {
	if op.remote == nil {
		return func() bool { return true }
	}
	return context.AfterFunc(ctx, op.remote.Interrupt)
}

// openCarton opens a carton file or directory, or one at a URL through
// range requests. Offline, a URL opens the metadata an earlier Load of it
// kept when useKept is set, and is ErrOffline otherwise.
func openCarton(ctx context.Context, path string, o loadOptions, useKept bool) (opened, error) {
	if !isURL(path) {
		c, err := format.Open(path, o.openOptions(ctx))
		return opened{carton: c}, err
	}
	shown := httpfile.Redact(path) // pre-signed URLs carry secrets in the query
	if o.fetch.Offline {
		if useKept && o.cacheDir != "" {
			if c, err := format.Open(keptMetadata(o.cacheDir, path), o.openOptions(ctx)); err == nil {
				c.Path = shown
				return opened{carton: c, kept: true}, nil
			}
		}
		return opened{}, fmt.Errorf("%w: %s is a URL (CARTON_OFFLINE=1 or FetchOptions.Offline forbids the network), and no Load of it kept its metadata", ErrOffline, shown)
	}
	maxBytes := o.limits.MaxTotalBytes // a carton is no larger than what it may hold
	if maxBytes <= 0 {
		maxBytes = format.DefaultLimits.MaxTotalBytes
	}
	f, err := httpfile.Open(ctx, path, httpfile.Options{StallTimeout: o.fetch.StallTimeout, MaxBytes: maxBytes})
	if errors.Is(err, httpfile.ErrTooLarge) {
		return opened{}, fmt.Errorf("%w: %w", ErrLimit, err)
	}
	if err != nil {
		return opened{}, err
	}
	// A read blocked on the network does not see ctx; this ends it.
	stop := context.AfterFunc(ctx, f.Interrupt)
	c, err := format.OpenReader(f, f.Size(), shown, o.openOptions(ctx))
	stop()
	if err != nil {
		f.Close()
		return opened{}, err
	}
	return opened{carton: c, remote: f}, nil
}

// keptMetadata is where Load keeps a URL carton's metadata
// (format.WriteMetadata), keyed by the URL without its query, so that a
// pre-signed URL signed again finds it.
func keptMetadata(cacheDir, rawURL string) string {
	key := rawURL
	if u, err := url.Parse(rawURL); err == nil {
		u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
		key = u.String()
	}
	return filepath.Join(cacheDir, keptDir, format.SHA256([]byte(key))+".carton")
}

// keptDir is the cache's subdirectory of metadata kept for cartons by URL.
const keptDir = "urls"

// keepMetadata writes c's metadata for offline Loads of rawURL, unless
// what is kept there already names the same model.
func keepMetadata(cacheDir, rawURL string, c *format.Carton) error {
	dst := keptMetadata(cacheDir, rawURL)
	if old, err := format.Open(dst, format.OpenOptions{}); err == nil {
		same := old.ManifestSHA256 == c.ManifestSHA256
		old.Close()
		if same {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(dst, func(w io.Writer) error { return format.WriteMetadata(w, c) })
}
