package main

import (
	"context"
	"fmt"
	"io"

	"github.com/carton-run/carton/tensor"
)

func runSelfTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("selftest", "CARTON [flags]", stderr)
	rtol := fs.Float64("rtol", tensor.DefaultTolerance.Rtol, "relative tolerance for float outputs")
	atol := fs.Float64("atol", tensor.DefaultTolerance.Atol, "absolute tolerance for float outputs")
	var lf loadFlags
	lf.register(fs)
	path, err := parseOneCarton(fs, args)
	if err != nil {
		return err
	}
	m, err := lf.load(ctx, path)
	if err != nil {
		return err
	}
	defer m.Close()
	results, err := m.SelfTest(ctx, tensor.Tolerance{Rtol: *rtol, Atol: *atol})
	if err != nil {
		return err
	}
	if len(results) == 0 {
		fmt.Fprintln(stdout, "no self-tests in this carton")
		return nil
	}
	failed := 0
	for _, r := range results {
		name := r.Name
		if name == "" {
			name = fmt.Sprintf("#%d", r.Index)
		}
		switch {
		case r.Err != nil:
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %v\n", name, r.Err)
		case !r.Passed:
			failed++
			fmt.Fprintf(stdout, "FAIL %s\n", name)
			for _, f := range r.Failures {
				fmt.Fprintf(stdout, "     %s\n", f)
			}
		default:
			fmt.Fprintf(stdout, "ok   %s\n", name)
		}
	}
	fmt.Fprintf(stdout, "%d of %d self-tests passed\n", len(results)-failed, len(results))
	if failed > 0 {
		return errSilent
	}
	return nil
}
