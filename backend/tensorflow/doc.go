// Package tensorflow is the "tensorflow" runner: TensorFlow SavedModels run
// in-process through the TensorFlow C API, loaded with purego; no cgo.
//
// Import it for its side effect of registering the runner:
//
//	import _ "github.com/carton-run/carton/backend/tensorflow"
//
// required_framework_version is the TensorFlow version. The model is a
// SavedModel directory at model/saved_model/ (or model/ itself), run
// through one signature: serving_default unless [runner.opts] signature
// names another; the meta graph is the one tagged "serve" unless
// [runner.opts] tags (comma-separated) says otherwise. Carton tensor names
// are the signature's keys. The signature is read from the MetaGraphDef
// TensorFlow returns, with graft's pure-Go protos; `carton pack` reads it
// from saved_model.pb without TensorFlow. At load each output the
// signature declares is checked against the graph that computes it: a
// dtype the graph does not compute is ErrModel, and where the shapes
// differ the graph's is used (a signature is metadata only; outputs are
// read by their shape).
//
// Runtimes: a directory holding libtensorflow.so.2 (the C library archive)
// or libtensorflow_cc.so.2 (the Python package), directly or under lib/,
// from the WithRuntimePath option or $CARTON_TENSORFLOW_DIR, the cache, or
// an installed Python tensorflow / tensorflow-cpu. One TensorFlow per
// process: every release names its core library libtensorflow_framework.so.2,
// so a second release is refused (ErrOtherTensorFlow) rather than silently
// bound to the first. Libraries stay loaded for the process. TensorFlow's
// own logging follows $TF_CPP_MIN_LOG_LEVEL as set when the process started.
//
// Options: signature, tags, intra_op_threads, inter_op_threads (0 lets
// TensorFlow choose; an inter-op size gives the session its own pools;
// -1 runs every op on the calling thread: no hand-off to a pool thread and
// back, which for small graphs is most of the time of a call, and
// concurrent callers each compute on their own thread).
//
// Memory: numeric inputs are shared with TensorFlow, not copied:
// TF_NewTensor wraps the Go memory, pinned for the call, with a
// deallocator that frees nothing. TensorFlow copies inputs that are not
// 64-byte aligned, so allocate them with tensor.New or tensor.Aligned.
// String inputs are passed as TF_TString views over one pinned copy of
// their bytes. Outputs up to 16 KiB are copied into Go memory (one block
// per call, the last call's when the caller gave its outputs back through
// carton's Model.ReleaseOutputs) and their TF_Tensor deleted at once (cheaper than a finalizer over it); larger ones
// stay in TensorFlow's memory, zero-copy, until Release (each holds its own
// TF_Tensor, valid after Close); an output that aliases an input (Identity)
// is handed back as a view of the input's Go memory (copied, whatever its
// size, when the input is foreign: another call's output fed back, whose
// owner may free it first), and string outputs are copied. When Infer returns, TensorFlow holds no Go
// memory.
//
// Concurrency and cancellation: one session serves concurrent Infer calls
// (TF_SessionRun is thread-safe). A context deadline becomes the step's
// RunOptions timeout, so TensorFlow stops a late step itself; a context
// cancelled without a deadline is seen before the step starts only.
package tensorflow
