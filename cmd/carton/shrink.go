package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
)

func runShrink(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("shrink", "CARTON --link PATH=URL ... -o OUT.carton", stderr)
	var links multiFlag
	fs.Var(&links, "link", "leave the file at PATH (as in the carton: model/weights.bin) out, to be fetched from URL; repeatable, several URLs for one file are tried in order")
	out := fs.String("o", "", "output .carton path (required)")
	path, err := parseOneCarton(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(links) == 0 {
		return usageErr("-o and at least one --link are required")
	}
	urls, err := linkURLs(path, links)
	if err != nil {
		return err
	}
	sha, err := carton.Shrink(ctx, path, *out, urls)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (manifest sha256 %s, unchanged)\n", *out, sha)
	return nil
}

// linkURLs turns --link PATH=URL flags into Shrink's sha256 -> URLs,
// looking each PATH up in the carton's MANIFEST.
func linkURLs(path string, links []string) (map[string][]string, error) {
	c, err := format.Open(path, format.OpenOptions{})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	urls := map[string][]string{}
	for _, l := range links {
		name, url, ok := strings.Cut(l, "=")
		if !ok || name == "" || url == "" {
			return nil, usageErr("--link %q: want PATH=URL", l)
		}
		sha, listed := c.Manifest.Hash(name)
		if !listed {
			return nil, fmt.Errorf("%w: %s has no file %s", carton.ErrInvalidInput, path, name)
		}
		urls[sha] = append(urls[sha], url)
	}
	return urls, nil
}
