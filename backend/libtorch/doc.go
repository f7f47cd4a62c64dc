// Package libtorch is the "torchscript" runner: TorchScript modules run
// in-process by libtorch, through the small C shim in csrc/ (built per
// libtorch version) loaded with purego; no cgo.
//
// Import it for its side effect of registering the runner:
//
//	import _ "github.com/carton-run/carton/backend/libtorch"
//
// Compatible with upstream Carton's runner: required_framework_version is
// the libtorch version, the model is model/model.pt, and a module whose
// forward takes a Dict[str, Tensor] and returns a dict runs unchanged.
// forward over positional tensors works too: inputs in [[input]] order
// (fewer than forward takes leave its trailing arguments to their
// defaults), outputs (a tensor, a tuple or a dict) named by [[output]] or
// output_0...
// String inputs become List[str] (str for a scalar). Where forward
// declares an int, float or bool argument (Optional ones included), a
// one-element tensor passes its value; for a List[int], List[float] or
// List[bool], a 1-D tensor its elements. int, float and bool results
// become 0-d int64, float64 and bool tensors, and lists of them 1-D ones.
//
// Runtimes: a libtorch directory (holding lib/ or being it, an installed
// torch package's torch/lib included) from the WithRuntimePath option or
// $CARTON_LIBTORCH_DIR, its version read from build-version, its headers or
// its library's file name (libfetch.LibTorchVersion), the cache
// (<cache>/runtimes/libtorch/<goos>-<goarch>/<version>), or an installed Python torch. The
// shim for a version is <dir>/<version>/libcarton_torch.so under
// $CARTON_LIBTORCH_SHIM_DIR or <cache>/shims/libtorch; `make shims` builds
// one per libtorch it finds, and Load builds a missing one into the cache
// (from the sources in the binary, with $CXX or g++) for a libtorch in the
// cache or an installed Python torch (Load's context ends such a build). A
// shim built from older sources
// (no ct_revision_<ShimRevision> symbol) counts as missing there, and is
// used as it is where none can be built.
//
// Devices: cpu, or cuda:N on a CUDA build of libtorch (a CUDA torch wheel
// installed with its nvidia-* dependencies, or the vendor's CUDA archive):
// the first such Load loads libc10_cuda and libtorch_cuda from beside
// libtorch_cpu, whose initialisers register the CUDA backend; without them
// Load fails with backend.ErrNoRuntime. Inputs are copied to the device on
// each call and outputs copied back to host memory.
//
// Options: num_threads, num_interop_threads (integers). libtorch keeps
// them per process, not per model; the inter-op pool can be sized once.
//
// Memory: numeric inputs are shared with libtorch (from_blob over Go memory,
// for the call only). The first ten inputs' data go to the shim as call
// arguments, which Go's pointer rules allow without pinning; later inputs
// and strings are pinned for the call (RATIONALE.md). Outputs up to 16 KiB are copied into Go memory
// (one block for all of a call's small outputs: the last call's, when the
// caller gave those back through carton's Model.ReleaseOutputs, else a new
// one) and libtorch's result
// goes back to the shim with the module's next forward, or at Close: no
// native call and no finalizer of its own. Larger outputs stay in
// libtorch's memory, zero-copy, until Release (they stay valid after the
// module is closed). An output that aliases an input (a module returning
// its input, or a view of it) is handed back as a view of the input's Go
// memory; one in a foreign input's memory (another call's output fed back)
// is copied, whatever its size, since that input's owner may free it
// first. String outputs are copied. A dict-mode forward gets the input
// dict of the module's last call refilled, unless it kept that dict or
// changed its keys (RATIONALE.md); the dict's tensors are views of the
// caller's memory, as every input is, valid during the call only.
//
// Concurrency: one module serves concurrent Infer calls (TorchScript's
// forward is thread-safe for inference); libraries stay loaded for the
// process.
package libtorch
