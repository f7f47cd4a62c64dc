package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/carton-run/carton"
)

// runCache lists, removes and prunes the models Load extracted into the
// cache (runtimes have `carton runtimes`).
func runCache(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "rm":
			return runCacheRemove(args[1:], stdout, stderr)
		case "prune":
			return runCachePrune(args[1:], stdout, stderr)
		case "verify":
			return runCacheVerify(ctx, args[1:], stdout, stderr)
		}
	}
	fs := newFlagSet("cache", "[--json] | rm MANIFEST_SHA256 ... | prune --unused-for DURATION | verify [--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	models, err := carton.CachedModels("")
	if err != nil {
		return err
	}
	if *asJSON {
		if models == nil {
			models = []carton.CachedModel{}
		}
		return writeJSON(stdout, models)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MANIFEST SHA256\tSIZE\tLAST LOADED\tPATH")
	for _, m := range models {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ManifestSHA256, humanBytes(m.Bytes), m.LastLoaded.Format(time.DateTime), m.Path)
	}
	return tw.Flush()
}

func runCacheRemove(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cache rm", "MANIFEST_SHA256 ...", stderr)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErr("want at least one MANIFEST_SHA256 (`carton cache` lists them)")
	}
	for _, sha := range pos {
		if err := carton.RemoveCachedModel("", sha); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", sha)
	}
	return nil
}

func runCachePrune(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cache prune", "--unused-for DURATION", stderr)
	unused := fs.Duration("unused-for", -1, "remove the models no Load used for this long (e.g. 720h; 0 removes every one)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *unused < 0 {
		return usageErr("--unused-for DURATION is required (e.g. 720h)")
	}
	removed, err := carton.PruneCachedModels("", *unused)
	var freed int64
	for _, m := range removed {
		freed += m.Bytes
		fmt.Fprintf(stdout, "removed %s (%s, last loaded %s)\n", m.ManifestSHA256, humanBytes(m.Bytes), m.LastLoaded.Format(time.DateTime))
	}
	fmt.Fprintf(stdout, "%d models removed, %s freed\n", len(removed), humanBytes(freed))
	return err
}

// runCacheVerify re-hashes every cached model; damaged ones are removed
// (the next Load extracts them again) and make the command fail.
func runCacheVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("cache verify", "[--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	checks, err := carton.VerifyCachedModels(ctx, "")
	damaged := 0
	for _, c := range checks {
		if c.Err != nil {
			damaged++
		}
	}
	if *asJSON {
		if checks == nil {
			checks = []carton.CachedModelCheck{}
		}
		if jerr := writeJSON(stdout, checks); jerr != nil {
			return jerr
		}
	} else {
		for _, c := range checks {
			if c.Err != nil {
				fmt.Fprintf(stdout, "damaged %s: %v; removed (the next Load extracts it again)\n", c.ManifestSHA256, c.Err)
				continue
			}
			fmt.Fprintf(stdout, "ok %s: %d files match\n", c.ManifestSHA256, c.Files)
		}
		fmt.Fprintf(stdout, "%d models checked, %d damaged\n", len(checks), damaged)
	}
	if err != nil {
		return err
	}
	if damaged > 0 {
		return fmt.Errorf("%w: %d cached models were damaged, and removed", carton.ErrChecksum, damaged)
	}
	return nil
}

// humanBytes prints a size in binary units, one decimal above KiB.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
