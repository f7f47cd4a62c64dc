package carton

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/atomicfile"
	"github.com/carton-run/carton/libfetch"
	"github.com/carton-run/carton/tensor"
)

// PackOptions describe the carton Pack writes around a model.
type PackOptions struct {
	// Config is carton.toml without self-tests and examples (those come from
	// SelfTests and Examples). SpecVersion 0 means the current version, and
	// Runner.RunnerCompatVersion 0 means 1.
	Config format.Config
	// Misc files are stored as misc/<base name>.
	Misc []string
	// SelfTests and Examples carry tensors that Pack stores in tensor_data/.
	SelfTests []PackSelfTest
	Examples  []PackExample
	// Fetch says how a runtime is downloaded when Pack needs one to read
	// the model's input and output specs and none is installed; nil
	// means the environment's (libfetch.OptionsFromEnv).
	Fetch *libfetch.FetchOptions
}

// PackSelfTest is a self-test with its tensors.
type PackSelfTest struct {
	Name, Description string
	Inputs            map[string]tensor.Tensor
	ExpectedOut       map[string]tensor.Tensor // optional
}

// PackExample is an example with its tensors, and files (an image, a
// sound) for inputs or outputs better shown than given as tensors.
type PackExample struct {
	Name, Description string
	Inputs            map[string]tensor.Tensor
	SampleOut         map[string]tensor.Tensor // optional
	// MiscInputs and MiscSampleOut map names to files on disk, stored as
	// misc/_example_misc_file_N (upstream's naming) and referenced as
	// "@misc/..." in place of a tensor. A name may not be both.
	MiscInputs, MiscSampleOut map[string]string
}

// AnyFrameworkVersion is the requirement Pack writes when the config gives
// none: any version of the runner's framework (upstream Carton reads it as
// Cargo's "*" too).
const AnyFrameworkVersion = "*"

// Pack wraps the model file or directory at modelPath, unchanged, into a
// carton at out and returns its manifest hash. A single file is stored as
// model/<the runner's model file name> when the runner has one, else under
// its own name. Symlinks inside the model directory stay symlinks; ones
// pointing outside are stored as copies. The runner, when it can, looks at
// the model first: a file it could not load at all (an ONNX file packed
// for torchscript, a torch.save pickle instead of TorchScript) fails with
// ErrModel. A config naming no runner gets the one DetectRunner finds, and
// one requiring no framework version gets AnyFrameworkVersion. When the
// carton declares no inputs and outputs and the runner
// can read them from the model, they are filled in. out is written
// through a temporary file renamed into place, so a failure never leaves
// a partial carton.
func Pack(ctx context.Context, modelPath, out string, opts PackOptions) (string, error) {
	cfg := opts.Config
	if cfg.SpecVersion == 0 {
		cfg.SpecVersion = format.SpecVersion
	}
	if cfg.Runner.RunnerCompatVersion == 0 {
		cfg.Runner.RunnerCompatVersion = 1
	}
	if n := utf8.RuneCountInString(cfg.ShortDescription); n > 100 {
		return "", fmt.Errorf("%w: short_description is %d characters (at most 100)", ErrMalformed, n)
	}
	if err := checkModelPath(modelPath); err != nil {
		return "", err
	}
	if err := atomicfile.CheckNotInput(out, append([]string{modelPath}, opts.inputFiles()...)...); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	detected := cfg.Runner.RunnerName == ""
	if detected {
		name, err := DetectRunner(modelPath) // the runner's CheckModel accepted the model
		if err != nil {
			return "", err
		}
		cfg.Runner.RunnerName = name
	}
	if cfg.Runner.RequiredFrameworkVersion == "" {
		cfg.Runner.RequiredFrameworkVersion = AnyFrameworkVersion
	}
	runner, known := backend.Lookup(cfg.Runner.RunnerName)
	entries, err := modelEntries(modelPath, out, runner, known)
	if err != nil {
		return "", err
	}
	if known {
		if err := checkModel(ctx, runner, modelPath, entries, &cfg, !detected, opts.Fetch); err != nil {
			return "", err
		}
		if entries, err = completeModel(ctx, runner, modelPath, entries, &cfg); err != nil {
			return "", err
		}
	}
	tensors := map[string]tensor.Tensor{}
	cfg.SelfTests = nil
	for i, st := range opts.SelfTests {
		in, exp, err := addTensorPair(tensors, &cfg, fmt.Sprintf("self-test %d", i), fmt.Sprintf("self_test_%d", i), "expected", st.Inputs, st.ExpectedOut)
		if err != nil {
			return "", err
		}
		cfg.SelfTests = append(cfg.SelfTests, format.SelfTest{Name: st.Name, Description: st.Description, Inputs: in, ExpectedOut: exp})
	}
	cfg.Examples = nil
	var exampleMisc []format.Entry
	for i, ex := range opts.Examples {
		what := fmt.Sprintf("example %d", i)
		in, sample, err := addTensorPair(tensors, &cfg, what, fmt.Sprintf("example_%d", i), "out", ex.Inputs, ex.SampleOut)
		if err != nil {
			return "", err
		}
		if in, exampleMisc, err = addMiscRefs(in, exampleMisc, ex.MiscInputs, cfg.Inputs); err != nil {
			return "", fmt.Errorf("%s: %w", what, err)
		}
		if sample, exampleMisc, err = addMiscRefs(sample, exampleMisc, ex.MiscSampleOut, cfg.Outputs); err != nil {
			return "", fmt.Errorf("%s output: %w", what, err)
		}
		cfg.Examples = append(cfg.Examples, format.Example{Name: ex.Name, Description: ex.Description, Inputs: in, SampleOut: sample})
	}
	tdFiles, err := format.EncodeTensorData(tensors)
	if err != nil {
		return "", err
	}
	for _, name := range format.SortedKeys(tdFiles) {
		entries = append(entries, format.Entry{Name: name, Data: tdFiles[name]})
	}
	miscNames := map[string]bool{}
	for _, e := range exampleMisc {
		miscNames[e.Name] = true
	}
	for _, p := range opts.Misc {
		if err := checkRegular(p); err != nil {
			return "", err
		}
		name := "misc/" + filepath.Base(p)
		if miscNames[name] {
			return "", fmt.Errorf("%w: two misc files would be stored as %s", ErrMalformed, name)
		}
		miscNames[name] = true
		entries = append(entries, format.Entry{Name: name, File: p})
	}
	entries = append(entries, exampleMisc...)
	if err := checkDescriptionRefs(cfg.ModelDescription, miscNames); err != nil {
		return "", err
	}
	return writeAtomically(ctx, out, &cfg, entries, nil)
}

// miscLinkPattern finds a markdown link or image whose target is a misc
// file, "](@misc/FILE)", and codePattern the code that may show such text
// without linking it (upstream's own example description does).
var (
	miscLinkPattern = regexp.MustCompile(`\]\(\s*<?@misc/([^\s)>]+)`)
	codePattern     = regexp.MustCompile("(?s)```.*?```|`[^`\n]*`")
)

// checkDescriptionRefs makes sure every misc file model_description links
// or shows (as "![diagram](@misc/diagram.png)") is stored under misc/.
func checkDescriptionRefs(description string, stored map[string]bool) error {
	text := codePattern.ReplaceAllString(description, "")
	for _, m := range miscLinkPattern.FindAllStringSubmatch(text, -1) {
		if name := "misc/" + m[1]; !stored[name] {
			return fmt.Errorf("%w: model_description shows @%s, but the carton holds no %s (add the file to the misc files)", ErrInvalidInput, name, name)
		}
	}
	return nil
}

// addTensorPair records a self-test's or example's inputs (as prefix_NAME)
// and outputs (as prefix_outTag_NAME), checked against the specs, and
// returns their references.
func addTensorPair(all map[string]tensor.Tensor, cfg *format.Config, what, prefix, outTag string, in, out map[string]tensor.Tensor) (inRefs, outRefs map[string]string, err error) {
	if inRefs, err = addTensors(all, prefix, in, cfg.Inputs); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	if outRefs, err = addTensors(all, prefix+"_"+outTag, out, cfg.Outputs); err != nil {
		return nil, nil, fmt.Errorf("%s %s output: %w", what, outTag, err)
	}
	return inRefs, outRefs, nil
}

// addMiscRefs adds to refs a "@misc/_example_misc_file_N" reference for
// each of files (name -> path on disk), numbered after those in entries,
// and returns both. A name must be declared when specs are, and must not
// already have a tensor.
func addMiscRefs(refs map[string]string, entries []format.Entry, files map[string]string, specs []format.TensorSpec) (map[string]string, []format.Entry, error) {
	for _, name := range format.SortedKeys(files) {
		if _, dup := refs[name]; dup {
			return nil, nil, fmt.Errorf("%w: %q is given both as a tensor and as a file", ErrInvalidInput, name)
		}
		if _, err := declaredSpec(specs, name); err != nil {
			return nil, nil, err
		}
		if err := checkRegular(files[name]); err != nil {
			return nil, nil, err
		}
		misc := fmt.Sprintf("_example_misc_file_%d", len(entries))
		entries = append(entries, format.Entry{Name: "misc/" + misc, File: files[name]})
		if refs == nil {
			refs = map[string]string{}
		}
		refs[name] = format.MiscRef + misc
	}
	return refs, entries, nil
}

// declaredSpec returns name's spec among specs, nil when none are
// declared, and an ErrInvalidInput error when some are but not name.
func declaredSpec(specs []format.TensorSpec, name string) (*format.TensorSpec, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	if i := slices.IndexFunc(specs, func(s format.TensorSpec) bool { return s.Name == name }); i >= 0 {
		return &specs[i], nil
	}
	return nil, fmt.Errorf("%w: %q is not declared", ErrInvalidInput, name)
}

// completeModel adds the files a runner makes for the model it packs
// (backend.ModelCompleter), where the model has none of that name.
func completeModel(ctx context.Context, runner backend.Runner, modelPath string, entries []format.Entry, cfg *format.Config) ([]format.Entry, error) {
	c, ok := runner.(backend.ModelCompleter)
	if !ok {
		return entries, nil
	}
	if st, err := os.Stat(modelPath); err != nil || !st.IsDir() {
		return entries, err
	}
	extra, err := c.CompleteModel(ctx, modelPath, cfg)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name] = true
	}
	for _, name := range format.SortedKeys(extra) {
		if full := "model/" + name; !have[full] {
			entries = append(entries, format.Entry{Name: full, Data: extra[name]})
		}
	}
	return entries, nil
}

// checkModelPath refuses a model that is neither a regular file nor a
// directory: reading a FIFO or a device (/dev/zero) blocks or never ends.
func checkModelPath(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.IsDir() && !st.Mode().IsRegular() {
		return fmt.Errorf("%w: model %s is not a regular file or a directory (%s)", ErrInvalidInput, path, st.Mode().Type())
	}
	return nil
}

// inputFiles are the files Pack reads besides the model.
func (o PackOptions) inputFiles() []string {
	files := slices.Clone(o.Misc)
	for _, ex := range o.Examples {
		for _, m := range []map[string]string{ex.MiscInputs, ex.MiscSampleOut} {
			for _, f := range m {
				files = append(files, f)
			}
		}
	}
	return files
}

// checkRegular makes sure a file to store under misc/ is a regular file.
func checkRegular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: misc file %s is not a regular file", ErrMalformed, path)
	}
	return nil
}

// addTensors records tensors under prefix_<name> and returns the references.
func addTensors(all map[string]tensor.Tensor, prefix string, ts map[string]tensor.Tensor, specs []format.TensorSpec) (map[string]string, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	refs := map[string]string{}
	for name, t := range ts {
		if !t.Valid() {
			return nil, fmt.Errorf("%w: %q is not a valid tensor", ErrInvalidTensor, name)
		}
		spec, err := declaredSpec(specs, name)
		if err != nil {
			return nil, err
		}
		if spec != nil && spec.DType != t.DType() {
			return nil, fmt.Errorf("%w: %q is %s but declared %s", ErrInvalidInput, name, t.DType(), spec.DType)
		}
		key := prefix + "_" + name
		all[key] = t
		refs[name] = format.TensorDataRef + key
	}
	return refs, nil
}

// checkModel has the runner look at the model (backend.ModelChecker; not
// when look is false, as after DetectRunner, which did) and, when the
// carton declares no inputs and outputs, read them from it
// (backend.SpecInspector).
func checkModel(ctx context.Context, runner backend.Runner, modelPath string, entries []format.Entry, cfg *format.Config, look bool, fetch *libfetch.FetchOptions) error {
	checker, check := runner.(backend.ModelChecker)
	check = check && look
	insp, inspect := runner.(backend.SpecInspector)
	declared := len(cfg.Inputs) > 0 || len(cfg.Outputs) > 0
	if !check && !inspect {
		return nil
	}
	dir, cleanup, err := stageModel(modelPath, entries)
	if err != nil {
		return err
	}
	defer cleanup()
	if check {
		if err := checker.CheckModel(dir); err != nil {
			return fmt.Errorf("%s runner: %w", cfg.Runner.RunnerName, err)
		}
	}
	if !inspect {
		return nil
	}
	hints := backend.Hints{RunnerOpts: cfg.Runner.Opts}
	in, out, err := insp.InspectSpecs(ctx, dir, hints)
	if errors.Is(err, backend.ErrNoRuntime) && !declared {
		// As Load does: download a runtime that can read the model.
		if fetched, ferr := fetchForPack(ctx, runner, cfg.Runner.RequiredFrameworkVersion, fetch); ferr == nil {
			hints.RuntimePath = fetched
			in, out, err = insp.InspectSpecs(ctx, dir, hints)
		} else {
			err = fmt.Errorf("%w; downloading one: %w", err, ferr)
		}
	}
	switch {
	case declared && errors.Is(err, backend.ErrNoRuntime):
		return nil // declared specs need no runtime; Load checks them against the model
	case errors.Is(err, backend.ErrNoRuntime):
		return fmt.Errorf("reading input/output specs from the model: %w (or declare the inputs and outputs, which needs no runtime)", err)
	case err != nil:
		return fmt.Errorf("reading input/output specs from the model: %w", err)
	case declared:
		// A carton whose specs contradict its model would fail every Load.
		return backend.CheckDeclared(cfg.Inputs, cfg.Outputs, in, out)
	}
	cfg.Inputs, cfg.Outputs = in, out
	return nil
}

// stageModel gives a ModelChecker or SpecInspector a directory laid out as model/ will be.
func stageModel(modelPath string, entries []format.Entry) (string, func(), error) {
	if st, err := os.Stat(modelPath); err == nil && st.IsDir() {
		return modelPath, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "carton-pack-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	dst := filepath.Join(dir, strings.TrimPrefix(entries[0].Name, "model/"))
	src, err := filepath.Abs(entries[0].File)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	if err := os.Symlink(src, dst); err != nil {
		cleanup()
		return "", nil, err
	}
	return dir, cleanup, nil
}

func writeAtomically(ctx context.Context, out string, cfg *format.Config, entries []format.Entry, links *format.Links) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var sha string
	err := atomicfile.Write(out, func(w io.Writer) (err error) {
		sha, err = format.Write(ctxWriter{ctx, w}, cfg, entries, links)
		return err
	})
	return sha, err
}

// ctxWriter stops a long write when the context ends (the CLI's on
// SIGINT or SIGTERM): atomicfile then removes the unfinished file.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// fetchForPack downloads the runner's framework at the newest version
// requirement allows, into the runtime cache, and returns its path.
func fetchForPack(ctx context.Context, runner backend.Runner, requirement string, fetch *libfetch.FetchOptions) (string, error) {
	fw := runner.Framework()
	if fw == "" {
		return "", fmt.Errorf("%w: runner %s has no framework to download", ErrNoRuntime, runner.Name())
	}
	var o libfetch.FetchOptions
	if fetch != nil {
		o = *fetch
	} else {
		env, err := libfetch.OptionsFromEnv()
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrInvalidOption, err)
		}
		o = env
	}
	c, err := libfetch.FetchMatching(ctx, libfetch.Framework(fw), requirement, "", o)
	if err != nil {
		return "", err
	}
	return c.Path, nil
}
