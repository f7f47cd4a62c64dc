package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
)

func runInfo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("info", "CARTON [--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON (carton.toml's keys plus manifest_sha256)")
	path, err := parseOneCarton(fs, args)
	if err != nil {
		return err
	}
	info, err := carton.ModelInfo(ctx, path)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(stdout, info)
	}
	printInfo(stdout, info)
	return nil
}

func printInfo(w io.Writer, info *carton.Info) {
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-18s %s\n", k+":", v)
		}
	}
	field("path", info.Path)
	field("model_name", info.ModelName)
	field("short_description", info.ShortDescription)
	field("license", info.License)
	field("repository", info.Repository)
	field("homepage", info.Homepage)
	field("manifest_sha256", info.ManifestSHA256)
	field("runner", fmt.Sprintf("%s %s (compat %d)", info.Runner.RunnerName, info.Runner.RequiredFrameworkVersion, info.Runner.RunnerCompatVersion))
	for _, k := range format.SortedKeys(info.Runner.Opts) {
		field("  opt "+k, fmt.Sprint(info.Runner.Opts[k]))
	}
	platforms := "any"
	if len(info.RequiredPlatforms) > 0 {
		platforms = strings.Join(info.RequiredPlatforms, ", ")
	}
	field("platforms", platforms)
	for _, group := range []struct {
		title string
		specs []format.TensorSpec
	}{{"inputs", info.Inputs}, {"outputs", info.Outputs}} {
		fmt.Fprintf(w, "%s:\n", group.title)
		if len(group.specs) == 0 {
			fmt.Fprintln(w, "  (not declared)")
		}
		for _, s := range group.specs {
			fmt.Fprintf(w, "  %-16s %-8s %s", s.Name, s.DType, s.Shape)
			if s.Description != "" {
				fmt.Fprintf(w, "  %s", s.Description)
			}
			fmt.Fprintln(w)
		}
	}
	for i, st := range info.SelfTests {
		fmt.Fprintf(w, "self_test %d %s: inputs %s", i, st.Name, refs(st.Inputs))
		if len(st.ExpectedOut) > 0 {
			fmt.Fprintf(w, "; expected_out %s", refs(st.ExpectedOut))
		}
		fmt.Fprintln(w)
	}
	for _, name := range format.SortedKeys(info.Linked) {
		fmt.Fprintf(w, "linked %s: %s\n", name, strings.Join(info.Linked[name], " "))
	}
	for i, ex := range info.Examples {
		fmt.Fprintf(w, "example %d %s: inputs %s", i, ex.Name, refs(ex.Inputs))
		if len(ex.SampleOut) > 0 {
			fmt.Fprintf(w, "; sample_out %s", refs(ex.SampleOut))
		}
		fmt.Fprintln(w)
	}
	if info.ModelDescription != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(info.ModelDescription))
	}
}

func refs(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range format.SortedKeys(m) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}
