package main

import (
	"context"
	"fmt"
	"io"

	"github.com/carton-run/carton"
)

func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", "CARTON", stderr)
	path, err := parseOneCarton(fs, args)
	if err != nil {
		return err
	}
	r, err := carton.Verify(ctx, path)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "ok: %d files match MANIFEST (manifest sha256 %s)\n", r.Files, r.ManifestSHA256)
	for _, p := range r.Fetched {
		fmt.Fprintf(stdout, "fetched through LINKS: %s\n", p)
	}
	if r.Cached != "" {
		fmt.Fprintf(stdout, "ok: the cached copy's %d files match too (%s)\n", r.CachedFiles, r.Cached)
	}
	return nil
}
