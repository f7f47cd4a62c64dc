package carton

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/httpfile"
)

// isURL reports whether path names a carton on an HTTP(S) server.
func isURL(path string) bool {
	return strings.HasPrefix(path, "https://") || strings.HasPrefix(path, "http://")
}

// openCarton opens a carton file or directory, or one at a URL through
// range requests (the returned File is then non-nil, for the caller to
// close after the carton).
func openCarton(ctx context.Context, path string, o loadOptions) (*format.Carton, *httpfile.File, error) {
	if !isURL(path) {
		c, err := format.Open(path, o.openOptions())
		return c, nil, err
	}
	if o.fetch.Offline {
		return nil, nil, fmt.Errorf("%w: %s is a URL (CARTON_OFFLINE=1 or FetchOptions.Offline forbids the network)", ErrOffline, path)
	}
	maxBytes := o.limits.MaxTotalBytes // a carton is no larger than what it may hold
	if maxBytes <= 0 {
		maxBytes = format.DefaultLimits.MaxTotalBytes
	}
	f, err := httpfile.Open(ctx, path, httpfile.Options{StallTimeout: o.fetch.StallTimeout, MaxBytes: maxBytes})
	if errors.Is(err, httpfile.ErrTooLarge) {
		return nil, nil, fmt.Errorf("%w: %w", ErrLimit, err)
	}
	if err != nil {
		return nil, nil, err
	}
	// A read blocked on the network does not see ctx; this ends it. The
	// carton is named without the URL's query: pre-signed URLs carry
	// secrets there.
	stop := context.AfterFunc(ctx, f.Interrupt)
	c, err := format.OpenReader(f, f.Size(), f.URL(), o.openOptions())
	stop()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return c, f, nil
}
