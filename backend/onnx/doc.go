// Package onnx is the "onnx" runner: ONNX models run in-process by ONNX
// Runtime's C API, loaded at run time through purego (no cgo).
//
// Import it for its side effect of registering the runner:
//
//	import _ "github.com/carton-run/carton/backend/onnx"
//
// The carton's required_framework_version is the ONNX Runtime version; the
// model is model/model.onnx (external-data files beside it work). The
// runtime comes from the WithRuntimePath option, $CARTON_ONNXRUNTIME_LIB, an
// installed Python onnxruntime, or the npm package onnxruntime-node (see
// libfetch). The runner asks ONNX Runtime for API version MinAPIVersion, the
// lowest it needs, so every release from 1.MinAPIVersion on works.
//
// Options ([runner.opts], overridable at load): intra_op_threads,
// inter_op_threads (integers; 0 lets ORT decide), graph_optimization_level
// ("disable", "basic", "extended", "all"), and load_from ("auto", "file",
// "bytes": bytes creates the session from model.onnx's bytes read from the
// carton, without extracting it; auto does that when model/ holds only
// model.onnx, of up to backend.MemoryLoadMaxBytes (8 MiB): a larger one is
// extracted into the cache once, and later loads read that copy while the
// carton is verified beside them, which is faster than hashing it first).
//
// Memory: inputs made from Go memory are handed to ORT without a copy
// (CreateTensorWithDataAsOrtValue over memory pinned for the call only);
// string inputs are copied, as ORT stores strings its own way (whole,
// NUL bytes included, from ORT 1.15 on; an older ORT refuses a string
// holding one rather than cut it short). Numeric
// outputs up to 16 KiB whose shape follows from the inputs' are written by
// ORT into Go memory carved before the run from one block per call (the
// block of the last call's outputs when the caller gave them back through
// carton's Model.ReleaseOutputs); other numeric outputs are tensors over
// ORT's memory that Release frees; string outputs are copied into Go
// strings. A graph input that is also an output comes back as a view of
// the input's Go memory (copied when the input is foreign: its owner may
// free it first).
//
// Outputs that are not tensors (sequences, maps, optionals: skl2onnx's
// ZipMap gives a sequence of maps beside its labels) are left out of the
// carton's specs and of every run, and the tensor outputs served; export
// with zipmap=False for the probabilities as a tensor. Such inputs, and a
// model with no tensor output, fail Load.
//
// Shapes: ORT reports a value declared without a shape (any rank) as rank
// 0, like a scalar; when some input or output looks scalar, the model's
// graph inputs and outputs are read from model.onnx (the rest of the file
// skipped unread) to tell the two apart, and the former take any rank
// (carton pack declares them "*"). An ORT-format model is taken at ORT's
// word. The shape of an output ORT allocates is always asked of ORT, never
// taken from the model: ORT only warns when a run breaks a declared shape.
// An output pre-allocated with its declared shape that a run breaks fails
// that run inside ORT (which logs the error once), and the session retries
// it, and every later call, with ORT allocating.
//
// Concurrency and cancellation: one session serves concurrent Infer calls
// (ORT's Run is thread-safe). When Infer's context is cancelled during a
// run, the run's OrtRunOptions get their terminate flag (set from the
// context.AfterFunc goroutine), ORT stops before its next operator, and
// Infer returns the context's error wrapped around ORT's; an operator in
// progress finishes first. A library, once loaded, stays loaded for the
// life of the process, shared by every session using it.
package onnx
