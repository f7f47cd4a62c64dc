package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/atomicfile"
	"github.com/carton-run/carton/internal/cliopt"
	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/tensor"
)

// loadFlags are the Load options every command that runs a model shares.
type loadFlags struct {
	runtimePath, pin, device string
	opts                     multiFlag
}

func (l *loadFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.runtimePath, "runtime", "", "framework library or directory to use")
	fs.StringVar(&l.pin, "framework-version", "", "use a runtime of this version (2.15.0) or requirement (^2, >=1.13), besides the carton's own")
	fs.StringVar(&l.device, "device", "cpu", "cpu or cuda:N")
	fs.Var(&l.opts, "opt", "override a runner option KEY=VALUE, repeatable")
}

// load loads the carton at path with the flags' options.
func (l *loadFlags) load(ctx context.Context, path string) (*carton.Model, error) {
	opts, err := l.options()
	if err != nil {
		return nil, err
	}
	fo, err := fetchOptions(os.Stderr)
	if err != nil {
		return nil, err
	}
	return carton.Load(ctx, path, append(opts, carton.WithFetchOptions(fo))...)
}

func (l *loadFlags) options() ([]carton.Option, error) {
	opts := []carton.Option{carton.WithDevice(l.device)}
	if l.runtimePath != "" {
		opts = append(opts, carton.WithRuntimePath(l.runtimePath))
	}
	if l.pin != "" {
		opts = append(opts, carton.WithFrameworkVersion(l.pin))
	}
	for _, kv := range l.opts {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErr("--opt %q: want KEY=VALUE", kv)
		}
		opts = append(opts, carton.WithRunnerOpt(k, cliopt.Value(v)))
	}
	return opts, nil
}

func runInfer(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("infer", "CARTON --input NAME=FILE.npy ... [--output-dir DIR]", stderr)
	var inputs multiFlag
	fs.Var(&inputs, "input", "input tensor NAME=FILE.npy, repeatable")
	outDir := fs.String("output-dir", ".", "directory for NAME.npy output files")
	var lf loadFlags
	lf.register(fs)
	path, err := parseOneCarton(fs, args)
	if err != nil {
		return err
	}
	in, inputFiles, err := readInputFiles(inputs)
	if err != nil {
		return err
	}
	m, err := lf.load(ctx, path)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := narrowToDeclared(in, m.Info().Inputs); err != nil {
		return err
	}
	// A model may answer with several steps (a streaming python model):
	// each is printed, and written as NAME.STEP.npy; one answer is NAME.npy.
	next, stop := iter.Pull2(m.InferStream(ctx, in))
	defer stop()
	out, err, ok := next()
	if !ok {
		return fmt.Errorf("%w: the model answered nothing", carton.ErrFramework)
	}
	if err != nil {
		return err
	}
	following, ferr, more := next()
	streaming := more // a second step, or an error after the first
	if rt := m.Info().Runtime; rt != nil {
		fmt.Fprintf(stdout, "ran on %s %s (%s%s)\n", rt.Framework, rt.Version, rt.Source, prefixed(" ", rt.Path))
		if rt.Origin != "" {
			fmt.Fprintf(stdout, "  downloaded from %s\n", rt.Origin)
		}
	}
	for step := 1; ; step++ {
		suffix := ""
		if streaming {
			suffix = fmt.Sprintf(".%d", step)
			fmt.Fprintf(stdout, "step %d\n", step)
		}
		if err := writeOutputs(stdout, out, *outDir, suffix, append(inputFiles, path)); err != nil {
			return err
		}
		if !more {
			return nil
		}
		if ferr != nil {
			return ferr
		}
		out = following
		following, ferr, more = next()
	}
}

// writeOutputs writes each output to DIR/NAME<suffix>.npy, refusing a
// file that is one of inputs, and prints a line for each; it releases the
// outputs.
func writeOutputs(stdout io.Writer, out map[string]tensor.Tensor, outDir, suffix string, inputs []string) error {
	defer func() {
		for _, t := range out {
			t.Release()
		}
	}()
	names := format.SortedKeys(out)
	files := map[string]string{} // file name -> output name
	for _, name := range names {
		file := strings.TrimSuffix(outputFileName(name), ".npy") + suffix + ".npy"
		if other, dup := files[file]; dup {
			return fmt.Errorf("outputs %q and %q would both be written to %s", other, name, file)
		}
		files[file] = name
		// Checked before anything is written: an output never replaces an
		// input file or the carton.
		if err := atomicfile.CheckNotInput(filepath.Join(outDir, file), inputs...); err != nil {
			return fmt.Errorf("output %s: %w: %w", name, carton.ErrInvalidInput, err)
		}
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	for _, file := range format.SortedKeys(files) {
		name := files[file]
		t := out[name]
		path := filepath.Join(outDir, file)
		w, widened, err := npyWritable(t)
		if err == nil {
			err = writeNpyFile(path, w)
		}
		if err != nil {
			return fmt.Errorf("output %s: %w", name, err)
		}
		note := ""
		if widened {
			note = " (as float32: .npy has no bfloat16)"
		}
		fmt.Fprintf(stdout, "%s: %s%v %s -> %s%s\n", name, t.DType(), t.Shape(), summarize(t), path, note)
	}
	return nil
}

// outputFileName is the file an output is written to: its name, which
// the carton chooses and may hold path separators (ONNX names such as
// "dense/BiasAdd:0"), with each separator made an underscore, so every
// output lands in the output directory, plus ".npy".
func outputFileName(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name) + ".npy"
}

// writeNpyFile writes through a temporary file so a failure leaves nothing.
func writeNpyFile(path string, t tensor.Tensor) error {
	return atomicfile.Write(path, func(w io.Writer) error { return npy.Write(w, t) })
}

// summarize gives min/max/mean of numeric tensors and the first strings.
func summarize(t tensor.Tensor) string {
	if t.DType() == tensor.String {
		s, _ := t.Strings()
		if len(s) > 3 {
			return fmt.Sprintf("%q...", s[:3])
		}
		return fmt.Sprintf("%q", s)
	}
	v, err := tensor.Float64s(t)
	if err != nil || len(v) == 0 {
		return "(empty)"
	}
	lo, hi, sum := v[0], v[0], 0.0
	for _, x := range v {
		lo, hi, sum = min(lo, x), max(hi, x), sum+x
	}
	return fmt.Sprintf("min=%.6g max=%.6g mean=%.6g", lo, hi, sum/float64(len(v)))
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

// readInputFiles reads --input NAME=FILE.npy flags, and returns the files
// too; a name given twice is refused rather than one of its files
// silently winning.
func readInputFiles(inputs []string) (map[string]tensor.Tensor, []string, error) {
	in := map[string]tensor.Tensor{}
	files := map[string]string{}
	var read []string
	for _, kv := range inputs {
		name, file, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, nil, usageErr("--input %q: want NAME=FILE.npy", kv)
		}
		if first, dup := files[name]; dup {
			return nil, nil, usageErr("--input %s is given twice (%s and %s)", name, first, file)
		}
		files[name] = file
		t, err := npy.ReadFile(file)
		if err != nil {
			return nil, nil, err
		}
		in[name] = t
		read = append(read, file)
	}
	return in, read, nil
}
