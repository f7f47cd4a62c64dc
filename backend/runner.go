package backend

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

var (
	// ErrUnknownRunner: no runner is registered under the carton's runner_name.
	ErrUnknownRunner = errors.New("unknown runner")
	// ErrNoRuntime: no runtime of the framework satisfies the version
	// requirement on this machine.
	ErrNoRuntime = errors.New("no matching framework runtime")
	// ErrPlatform: the carton's required_platforms excludes this platform.
	ErrPlatform = errors.New("platform not supported by the carton")
	// ErrInvalidInput: inputs that do not match the model (missing,
	// unknown, wrong dtype, rank or size, inconsistent symbols).
	ErrInvalidInput = errors.New("invalid model input")
	// ErrInvalidOption: a runner option the runner does not know, or a
	// value of the wrong type or range.
	ErrInvalidOption = errors.New("invalid runner option")
	// ErrModel: the runner cannot load the model (missing file, a model
	// the framework rejects).
	ErrModel = errors.New("cannot load model")
	// ErrFramework: the framework itself reported an error (at load or
	// while running the model, such as a shape its operators reject).
	// Each runner's own sentinel (libtorch.ErrTorch, onnx.ErrRuntime,
	// tensorflow.ErrTensorFlow) matches it.
	ErrFramework = errors.New("framework error")
)

// FrameworkSentinel returns a runner's sentinel for errors its framework
// reports, named after the framework: errors.Is matches it both by
// identity and as ErrFramework.
func FrameworkSentinel(framework string) error { return &frameworkSentinel{framework} }

type frameworkSentinel struct{ framework string }

func (e *frameworkSentinel) Error() string        { return e.framework }
func (e *frameworkSentinel) Is(target error) bool { return target == ErrFramework }

// Runtime is one installation of a framework that a runner can use.
type Runtime struct {
	Framework string // e.g. "onnxruntime", "libtorch"
	Version   string // the framework's own version, semver-parsable
	Source    string // where it was found: "builtin", "env", "option", "cache", "python", "download"
	Path      string // the library or directory; empty for builtin
	// Origin says where a downloaded runtime came from (its URL, and the
	// package index a wheel was found on); "" for others.
	Origin string `json:",omitempty"`
}

// Hints carry the caller's runtime preferences into discovery.
type Hints struct {
	// RuntimePath is an explicit library or directory for the framework,
	// from a Load option; it takes precedence over the environment.
	RuntimePath string
	// RunnerOpts are the carton's [runner.opts], for inspectors whose
	// reading depends on them (which TensorFlow signature to read).
	RunnerOpts map[string]any
}

// LoadRequest is everything a runner needs to open a model.
type LoadRequest struct {
	Carton   *format.Carton // the opened carton (for metadata and raw files)
	ModelDir string         // a directory holding model/'s verified files
	Runtime  Runtime        // the runtime Select chose
	// Opts are [runner.opts] merged with the caller's overrides; values are
	// int64, float64, string or bool.
	Opts   map[string]any
	Device string // "cpu" or "cuda:N"
}

// Runner loads models of one kind (runner_name).
type Runner interface {
	// Name is the runner_name this runner serves.
	Name() string
	// Framework names the framework whose version required_framework_version constrains.
	Framework() string
	// Runtimes lists the runtimes usable on this machine. Discovery errors
	// for one source do not hide the others; an empty list with a nil error
	// means nothing was found.
	Runtimes(ctx context.Context, hints Hints) ([]Runtime, error)
	// Load opens the model on req.Runtime.
	Load(ctx context.Context, req LoadRequest) (Session, error)
}

// Session is a loaded model.
type Session interface {
	// Infer runs the model and stores its outputs in outputs under their
	// names, which are distinct. Inputs were checked against the declared
	// specs. outputs may still hold the caller's entries from an earlier
	// call (carton.InferInto reuses one map): Infer overwrites the ones it
	// stores, deletes the others (KeepOnly) and releases none of them, as
	// they belong to the caller. On error, Infer releases what it stored
	// (ReleaseStored) and the caller empties outputs.
	Infer(ctx context.Context, inputs, outputs map[string]tensor.Tensor) error
	// Close releases the model. It is called once, after all Infer calls returned.
	Close() error
}

// StreamSession is a Session whose model may answer one call with several
// output maps in turn (a python model returning an iterator).
type StreamSession interface {
	InferStream(ctx context.Context, inputs map[string]tensor.Tensor) (Stream, error)
}

// Stream is one call's outputs, step by step. The inputs must stay alive
// until it is closed.
type Stream interface {
	// Next stores the next step's outputs in outputs; false when the model
	// has no more.
	Next(ctx context.Context, outputs map[string]tensor.Tensor) (bool, error)
	// Close ends the stream, telling the model to stop where it can.
	Close() error
}

// ModelFileNamer is implemented by runners that expect the model at a fixed
// name under model/ (e.g. model.onnx); Pack uses it for single-file models.
type ModelFileNamer interface {
	ModelFileName() string
}

// ModelChecker is implemented by runners that can tell, without the
// framework, whether a model directory (laid out as model/) holds a model
// they could load at all: the file they open, in the framework's format.
// Pack calls it, so a wrong file fails when it is packed instead of at its
// first Load. A nil error does not promise the model loads.
type ModelChecker interface {
	CheckModel(modelDir string) error
}

// UnusableModelError is a ModelChecker's verdict on a model of its own
// framework's kind that cannot be used as it is (an ONNX model whose
// external data files were left out, say), as opposed to a file of another
// kind: carton.DetectRunner reports it instead of trying other runners.
// Err wraps ErrModel.
type UnusableModelError struct{ Err error }

func (e *UnusableModelError) Error() string { return e.Err.Error() }
func (e *UnusableModelError) Unwrap() error { return e.Err }

// OpenModelFile opens a model file for a ModelChecker and returns it with
// its size; its errors wrap ErrModel (and fs.ErrNotExist when missing).
func OpenModelFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrModel, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%w: %w", ErrModel, err)
	}
	return f, st.Size(), nil
}

// ModelCompleter is a runner that adds files of its own to a model it
// packs, besides the model's files: the python runner's lock of the
// model's requirements. CompleteModel gets the model directory and the
// carton's config, and returns files by model-relative, slash-separated
// name; a file the model already has is not replaced.
type ModelCompleter interface {
	CompleteModel(ctx context.Context, modelDir string, cfg *format.Config) (map[string][]byte, error)
}

// SpecInspector is implemented by runners that can read input and output
// specs from the model itself, so that pack fills them when none are given.
type SpecInspector interface {
	InspectSpecs(ctx context.Context, modelDir string, hints Hints) (inputs, outputs []format.TensorSpec, err error)
}

// MemoryLoader is implemented by runners that can load some models straight
// from the carton's bytes (LoadRequest.Carton, through its ReadFile), so a
// packed carton need not be extracted. modelFiles are the MANIFEST paths
// under model/, modelBytes their total size (math.MaxInt64 when some are
// only reachable through LINKS).
//
// Loading from memory reads, inflates and hashes the model before the
// framework sees a byte; from an extracted copy (in the cache, verified
// when it was written) the framework starts at once and the carton is
// verified beside it. Unless the options say otherwise, a runner should
// load from memory only up to MemoryLoadMaxBytes.
type MemoryLoader interface {
	LoadsFromMemory(modelFiles []string, modelBytes int64, opts map[string]any) bool
}

// MemoryLoadMaxBytes is the largest model MemoryLoader runners load from
// memory by default. Below it, reading the model from the zip costs less
// than a file in the cache; above it, the hash that must come before a
// memory load costs a tenth or more of the framework's own load
// (docs/benchmarks-history.md, "Cold load").
const MemoryLoadMaxBytes = 8 << 20

// DeclaredShape turns a framework's dims into a carton shape: sizes >= 0
// are fixed; a dynamic dim (< 0) becomes its symbolic name when names has a
// valid one at that index, else "*".
func DeclaredShape(dims []int64, names []string) format.ShapeSpec {
	shape := format.ShapeSpec{Kind: format.ShapeDims, Dims: make([]format.Dim, len(dims))}
	for j, d := range dims {
		switch {
		case d >= 0:
			shape.Dims[j] = format.Dim{Kind: format.DimFixed, Size: d}
		case j < len(names) && format.ValidSymbol(names[j]):
			shape.Dims[j] = format.Dim{Kind: format.DimSymbol, Symbol: names[j]}
		default:
			shape.Dims[j] = format.Dim{Kind: format.DimAny}
		}
	}
	return shape
}

// KeepOnly deletes the entries of outputs not named in stored, the
// distinct names of the outputs this call stored: the entries a reused map
// kept from an earlier call. It releases none of them (they are the
// caller's) and, when there are none, costs one comparison: overwriting a
// reused map's entries is cheaper than clearing it first (docs/benchmarks-history.md).
func KeepOnly(outputs map[string]tensor.Tensor, stored []string) {
	if len(outputs) != len(stored) {
		dropUnstored(outputs, stored) // out of line: the common path inlines to one comparison
	}
}

func dropUnstored(outputs map[string]tensor.Tensor, stored []string) {
	maps.DeleteFunc(outputs, func(name string, _ tensor.Tensor) bool { return !slices.Contains(stored, name) })
}

// ReleaseStored releases the outputs this call stored, named in stored,
// and deletes them: the error path of a Session. Other entries are the
// caller's; it leaves them alone.
func ReleaseStored(outputs map[string]tensor.Tensor, stored []string) {
	for _, name := range stored {
		outputs[name].Release()
		delete(outputs, name)
	}
}

// SmallOutputBytes is where runners draw the line between outputs held in
// Go memory and outputs left in the framework's: up to it, a fresh Go
// buffer costs less than a Go object over framework memory with its
// finalizer and a native free; above it, the framework's allocator reuses
// its memory while Go's collector would churn through new buffers.
const SmallOutputBytes = 16 << 10

// MaxThreads bounds thread-count options: frameworks take a C int, and a
// pool of more threads than this is a typo, not a configuration.
const MaxThreads = 1 << 16

// ThreadCount checks a thread-count option's value: an integer from 0
// (the framework decides) to MaxThreads.
func ThreadCount(name string, v any) (int64, error) {
	n, ok := v.(int64)
	if !ok || n < 0 || n > MaxThreads {
		return 0, fmt.Errorf("%w: option %s = %v: want an integer from 0 to %d", ErrInvalidOption, name, v, MaxThreads)
	}
	return n, nil
}

// ReverseDTypes inverts a runner's table from carton dtypes to its
// framework's codes.
func ReverseDTypes[C comparable](to map[tensor.DType]C) map[C]tensor.DType {
	from := make(map[C]tensor.DType, len(to))
	for d, c := range to {
		from[c] = d
	}
	return from
}
