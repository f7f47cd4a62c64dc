package backend

import (
	"context"
	"errors"

	"github.com/carton-run/carton/libfetch"
)

// FindRuntimes lists the runtimes libfetch finds for fw, asking versionOf
// for candidates whose source did not know their version. A runtime the
// user named (Source "option" or "env") whose version cannot be read is an
// error; other unreadable ones are skipped, and reported only when nothing
// else was found.
func FindRuntimes(ctx context.Context, fw libfetch.Framework, hints Hints, versionOf func(path string) (string, error)) ([]Runtime, error) {
	cands, err := libfetch.Find(ctx, libfetch.Request{Framework: fw, ExplicitPath: hints.RuntimePath})
	if err != nil {
		return nil, err
	}
	var out []Runtime
	var errs []error
	for _, c := range cands {
		if c.Version == "" {
			v, err := versionOf(c.Path)
			if err != nil {
				if c.Source == "option" || c.Source == "env" {
					return nil, err // the user named it: say why it fails
				}
				errs = append(errs, err)
				continue
			}
			c.Version = v
		}
		out = append(out, Runtime{Framework: string(c.Framework), Version: c.Version, Source: c.Source, Path: c.Path, Origin: c.Origin})
	}
	if len(out) == 0 && len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}
