package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/atomicfile"
	"github.com/carton-run/carton/internal/cliopt"
	"github.com/carton-run/carton/internal/npy"
	"github.com/carton-run/carton/tensor"
)

func runPack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pack", "MODEL_PATH -o OUT.carton [--runner NAME] [--framework-version REQ] [flags]", stderr)
	runner := fs.String("runner", "", "runner name: noop, onnx, torchscript, tensorflow (default: the one that recognizes the model)")
	version := fs.String("framework-version", "", "required framework version, a Cargo-style requirement like =1.13 or ^2 (default: any, *)")
	out := fs.String("o", "", "output .carton path (required)")
	name := fs.String("name", "", "model name")
	desc := fs.String("description", "", "short description (at most 100 characters)")
	longDesc := fs.String("model-description", "", "long markdown description; may link or show misc files, as ![diagram](@misc/diagram.png) (each must be given with --misc)")
	license := fs.String("license", "", "license (an SPDX identifier)")
	repo := fs.String("repository", "", "source repository URL")
	homepage := fs.String("homepage", "", "homepage URL")
	var inputs, outputs, opts, misc, platforms, selfTests, examples multiFlag
	fs.Var(&inputs, "input", "input spec NAME:DTYPE:SHAPE, repeatable; SHAPE is comma-separated dims (numbers, names or *), * for any shape, a bare name for a whole-shape symbol, [] for a scalar")
	fs.Var(&outputs, "output", "output spec NAME:DTYPE:SHAPE, repeatable (like --input)")
	fs.Var(&opts, "opt", "runner option KEY=VALUE, repeatable (integers, floats, true/false, else a string)")
	fs.Var(&misc, "misc", "file to store under misc/, repeatable")
	fs.Var(&platforms, "platform", "required platform target triple, repeatable (default: any)")
	fs.Var(&selfTests, "self-test", "self-test tensors NAME=FILE.npy[,NAME=FILE.npy...]; expected outputs as out:NAME=FILE.npy; repeatable, one flag per test")
	fs.Var(&examples, "example", "example tensors, like --self-test (outputs as out:NAME=FILE.npy), or files shown as inputs or outputs as NAME=@FILE (an image, a sound); repeatable")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want exactly one MODEL_PATH, got %d arguments", len(pos))
	}
	if *out == "" {
		return usageErr("-o is required")
	}
	cfg := format.Config{
		ModelName: *name, ShortDescription: *desc, ModelDescription: *longDesc, License: *license,
		Repository: *repo, Homepage: *homepage, RequiredPlatforms: platforms,
		Runner: format.Runner{RunnerName: *runner, RequiredFrameworkVersion: *version},
	}
	if cfg.Inputs, err = parseSpecs(inputs); err != nil {
		return err
	}
	if cfg.Outputs, err = parseSpecs(outputs); err != nil {
		return err
	}
	if len(opts) > 0 {
		cfg.Runner.Opts = map[string]any{}
		for _, kv := range opts {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usageErr("--opt %q: want KEY=VALUE", kv)
			}
			cfg.Runner.Opts[k] = cliopt.Value(v)
		}
	}
	if err := atomicfile.CheckNotInput(*out, tensorFiles(append(selfTests, examples...))...); err != nil {
		return fmt.Errorf("%w: %w", carton.ErrInvalidInput, err)
	}
	fo, err := fetchOptions(stderr)
	if err != nil {
		return err
	}
	po := carton.PackOptions{Config: cfg, Misc: misc, Fetch: &fo}
	for _, spec := range selfTests {
		set, err := loadTensorSet(spec, false)
		if err != nil {
			return fmt.Errorf("--self-test: %w", err)
		}
		po.SelfTests = append(po.SelfTests, carton.PackSelfTest{Inputs: set.in, ExpectedOut: set.out})
	}
	for _, spec := range examples {
		set, err := loadTensorSet(spec, true)
		if err != nil {
			return fmt.Errorf("--example: %w", err)
		}
		po.Examples = append(po.Examples, carton.PackExample{Inputs: set.in, SampleOut: set.out, MiscInputs: set.miscIn, MiscSampleOut: set.miscOut})
	}
	sha, err := carton.Pack(ctx, pos[0], *out, po)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "packed %s (manifest sha256 %s)\n", *out, sha)
	if *runner == "" { // Pack chose it (carton.DetectRunner)
		info, err := carton.ModelInfo(ctx, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  runner %s, recognized from the model\n", info.Runner.RunnerName)
	}
	if *version == "" {
		fmt.Fprintf(stdout, "  any framework version: --framework-version to require one\n")
	}
	return nil
}

func parseSpecs(specs []string) ([]format.TensorSpec, error) {
	var out []format.TensorSpec
	for _, s := range specs {
		parts := strings.SplitN(s, ":", 3)
		if len(parts) != 3 || parts[0] == "" {
			return nil, usageErr("spec %q: want NAME:DTYPE:SHAPE", s)
		}
		dt, err := tensor.ParseDType(parts[1])
		if err != nil {
			return nil, usageErr("spec %q: %v", s, err)
		}
		shape, err := format.ParseShapeSpec(parts[2])
		if err != nil {
			return nil, usageErr("spec %q: %v", s, err)
		}
		out = append(out, format.TensorSpec{Name: parts[0], DType: dt, Shape: shape})
	}
	return out, nil
}

// tensorSet is one --self-test or --example: tensors in and out, and for
// examples files in and out.
type tensorSet struct {
	in, out         map[string]tensor.Tensor
	miscIn, miscOut map[string]string
}

// tensorFiles lists the files --self-test and --example specs name.
func tensorFiles(specs []string) []string {
	var files []string
	for _, spec := range specs {
		for _, item := range strings.Split(spec, ",") {
			if _, file, ok := strings.Cut(item, "="); ok {
				files = append(files, strings.TrimPrefix(file, "@"))
			}
		}
	}
	return files
}

// loadTensorSet reads "a=x.npy,out:y=y.npy" into inputs and outputs; with
// allowMisc, "NAME=@FILE" names a file (an image, a sound) instead of a
// tensor.
func loadTensorSet(spec string, allowMisc bool) (tensorSet, error) {
	set := tensorSet{in: map[string]tensor.Tensor{}, out: map[string]tensor.Tensor{}, miscIn: map[string]string{}, miscOut: map[string]string{}}
	seen := map[string]bool{}
	for _, item := range strings.Split(spec, ",") {
		name, file, ok := strings.Cut(item, "=")
		if !ok || name == "" || file == "" {
			return tensorSet{}, usageErr("%q: want NAME=FILE.npy", item)
		}
		if seen[name] {
			return tensorSet{}, usageErr("%q: %s is given twice", spec, name)
		}
		seen[name] = true
		tensors, files := set.in, set.miscIn
		if n, isOut := strings.CutPrefix(name, "out:"); isOut {
			tensors, files, name = set.out, set.miscOut, n
		}
		if path, isMisc := strings.CutPrefix(file, "@"); isMisc {
			if !allowMisc {
				return tensorSet{}, usageErr("%q: only examples take files (@FILE); self-tests take .npy tensors", item)
			}
			files[name] = path
			continue
		}
		t, err := npy.ReadFile(file)
		if err != nil {
			return tensorSet{}, err
		}
		tensors[name] = t
	}
	if len(set.out) == 0 {
		set.out = nil
	}
	return set, nil
}
