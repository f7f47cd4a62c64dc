package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/libfetch"
)

// fetchOptions are the environment's download options, with a progress bar
// on stderr when it is a terminal.
func fetchOptions(stderr io.Writer) (libfetch.FetchOptions, error) {
	o, err := libfetch.OptionsFromEnv()
	if err != nil {
		return o, usageErr("%v", err)
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		o.Progress = f
	}
	return o, nil
}

func runFetch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("fetch", "FRAMEWORK [VERSION] [--sha256 HEX] [--allow-unverified]", stderr)
	sha := fs.String("sha256", "", "the archive's sha256, which you vouch for")
	allow := fs.Bool("allow-unverified", false, "accept an archive without a known sha256")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	newest := len(pos) == 1 // no version: the newest a digest vouches for
	if newest {
		pos = append(pos, "*")
	}
	fw, version, err := frameworkVersion(pos, "FRAMEWORK [VERSION], e.g. `carton fetch onnxruntime 1.20.1`")
	if err != nil {
		return err
	}
	o, err := fetchOptions(stderr)
	if err != nil {
		return err
	}
	if *sha != "" {
		o.SHA256 = *sha
	}
	o.AllowUnverified = o.AllowUnverified || *allow
	fetch := libfetch.Fetch
	if newest {
		fetch = func(ctx context.Context, fw libfetch.Framework, req string, o libfetch.FetchOptions) (libfetch.Candidate, error) {
			return libfetch.FetchMatching(ctx, fw, req, "", o)
		}
	}
	c, err := fetch(ctx, fw, version, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s (%s): %s\n", fw, c.Version, c.Source, c.Path)
	return nil
}

// runtimeRow is one line of `carton runtimes`.
type runtimeRow struct {
	Framework string `json:"framework"`
	Version   string `json:"version"`
	Source    string `json:"source"`
	Path      string `json:"path"`
	From      string `json:"from,omitempty"`
	Index     string `json:"index,omitempty"` // the package index a wheel was found on
	Verified  *bool  `json:"verified,omitempty"`
}

func runRuntimes(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "rm" {
		return runRuntimesRemove(args[1:], stdout, stderr)
	}
	fs := newFlagSet("runtimes", "[--json] | rm FRAMEWORK VERSION", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	var rows []runtimeRow
	cache, _ := libfetch.CacheDir()
	meta := map[string]libfetch.Installed{}
	if installed, err := libfetch.ListInstalled(cache, "", libfetch.Platform()); err == nil {
		for _, in := range installed {
			meta[in.Dir] = in
		}
	}
	for _, name := range backend.Names() {
		r, _ := backend.Lookup(name)
		if r.Framework() == "" {
			continue
		}
		found, err := r.Runtimes(ctx, backend.Hints{})
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", r.Framework(), err)
		}
		for _, rt := range found {
			if rt.Source == "builtin" {
				continue
			}
			row := runtimeRow{Framework: rt.Framework, Version: rt.Version, Source: rt.Source, Path: rt.Path}
			for dir, in := range meta {
				// A cache entry's runtime is its directory or a file inside it.
				if strings.HasPrefix(rt.Path+string(os.PathSeparator), dir+string(os.PathSeparator)) {
					row.From = in.From
					if in.Index != nil {
						row.Index = in.Index.String()
					}
					if in.From != "" {
						v := in.Verified
						row.Verified = &v
					}
				}
			}
			rows = append(rows, row)
		}
	}
	if *asJSON {
		return writeJSON(stdout, rows)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FRAMEWORK\tVERSION\tSOURCE\tPATH")
	for _, r := range rows {
		src := r.Source
		if r.From != "" {
			src += " (from " + r.From
			if r.Index != "" {
				src += ", index " + r.Index
			}
			src += ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Framework, r.Version, src, r.Path)
	}
	return tw.Flush()
}

func runRuntimesRemove(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("runtimes rm", "FRAMEWORK VERSION", stderr)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	fw, version, err := frameworkVersion(pos, "rm FRAMEWORK VERSION")
	if err != nil {
		return err
	}
	if err := libfetch.Remove(fw, version); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %s %s from the cache\n", fw, version)
	return nil
}

// frameworkVersion reads the FRAMEWORK VERSION arguments (runner or
// framework names accepted).
func frameworkVersion(pos []string, want string) (libfetch.Framework, string, error) {
	if len(pos) != 2 {
		return "", "", usageErr("want %s", want)
	}
	fw, err := libfetch.ParseFramework(pos[0])
	if err != nil {
		return "", "", usageErr("%v", err)
	}
	return fw, pos[1], nil
}
