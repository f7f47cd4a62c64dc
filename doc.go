// Package carton runs machine-learning models packed as cartons from Go,
// in-process, through the model's own framework runtime.
//
// A carton (see the format package) wraps a model file or directory,
// unchanged, with metadata: the runner that runs it and the framework
// versions it needs, its input and output specs, self-tests and examples.
// Load reads the metadata, verifies every file against the MANIFEST, picks a
// runner and runtime (package backend) and opens the model; Infer runs it.
// A carton may be a file, a directory (unpacked), bytes in memory
// (LoadReader) or an http(s) URL, read through range requests.
// When no installed runtime satisfies the carton and none was named
// explicitly, Load downloads one into the cache first (package libfetch:
// verified against a sha256, refused without one unless the caller opts in;
// CARTON_OFFLINE=1 forbids it; WithFetchOptions overrides the environment).
//
// # Lifetimes
//
// A *Model holds its runner session and the carton's file open until Close.
// A Model from LoadReader reads its io.ReaderAt until Close instead (a
// carton embedded in the program, or held in memory), so the reader must
// stay readable, and its bytes unchanged, until then; Close leaves it open.
// One dropped without Close is closed once the collector finds it
// unreachable, which may be late: Close frees the framework's memory when
// the caller is done.
// Inputs passed to Infer stay owned by the caller and are only read during
// the call (they may be shared with the framework without a copy, so do not
// modify them while Infer runs). Outputs belong to the caller: call Release
// on each output tensor when done with it, which frees framework memory
// early (a finalizer is only a safety net), or Model.ReleaseOutputs on the
// map Infer returned, which releases them all and gives the memory they
// occupied back to the model, for a later call's outputs where the runner
// allows (the tensors may not be used afterwards; the map stays the
// caller's, and a second give-back of it does nothing: an InferInto loop
// on one map doing so allocates nothing per call). An output may
// alias an input held in Go memory (a model returning its input comes
// back as a view of it); one the framework hands back in a foreign
// input's memory (another call's output fed in) is copied, so that it
// outlives that input's Release.
// InferInto stores the outputs in a map the caller owns and reuses (it
// holds only the last call's outputs; earlier ones are dropped, not
// released); the map must not be shared by concurrent calls.
//
// # Concurrency and cancellation
//
// A *Model serves concurrent Infer calls from many goroutines. Close waits for
// running Infer calls to return and makes later calls fail with ErrClosed.
// Load and Infer take a context: Load stops between files when it is
// cancelled; Infer checks it before the call reaches the framework, and
// then as far as the framework allows: ONNX Runtime stops a run before its
// next operator when the context is cancelled, TensorFlow stops a step at
// the context's deadline, and a libtorch forward runs to completion. A
// cancelled call returns an error matching the context's (context.Canceled
// or context.DeadlineExceeded). Arming ONNX Runtime's cancellation costs a
// context.AfterFunc per call (about 0.7-1 µs and two allocations on a
// 2-core VM) for a context that can be cancelled; one that cannot
// (context.Background, context.WithoutCancel) costs nothing.
//
// A goroutine that calls Infer in a loop never blocks in Go, so Go's
// scheduler would take it for stuck in native code and take its processor
// during every call. Infer prevents this: at most once per 5 ms, while a
// processor is idle, it yields the goroutine before the call (a few tens
// of microseconds; RATIONALE.md, "Model.Infer renews Go's scheduler
// tick"). Callers need not yield themselves.
//
// The model cache (the cache directory's models/, one directory per
// manifest hash) is checked on every Load that uses it: a stamp written at
// extraction records each file's size and modification time, and a copy
// that no longer matches is extracted again; VerifyCachedModels and
// Verify re-hash it in full. A carton file verified in full once is not
// hashed again while its identity (device, inode, size, modification and
// change times) is unchanged. The cache may be shared by processes: Load extracts into a
// temporary directory renamed into place, and RemoveCachedModel and
// PruneCachedModels rename a model away before deleting it, so a Load never
// finds half a model; a Load that had already opened a model being removed
// may fail reading it.
//
// # Errors
//
// Errors wrap a sentinel to branch on with errors.Is: ErrMalformed,
// ErrChecksum, ErrUnsafePath, ErrLimit (the carton), ErrOffline (a runtime,
// or a file the carton's LINKS point to, needed a download that
// CARTON_OFFLINE=1 or FetchOptions.Offline forbids), ErrUnknownRunner,
// ErrNoRuntime, ErrPlatform (runner selection), ErrInvalidOption and
// ErrModel (Load; Pack too, for a model file its runner could not load),
// ErrInvalidInput (Infer inputs that do not match the
// specs), ErrFramework (the framework itself reported the error, at Load or
// Infer; each runner's own sentinel, such as libtorch.ErrTorch, matches
// it), ErrInvalidTensor, ErrClosed and ErrSelfTest; for a carton read by
// URL, ErrRemoteChanged and ErrRemoteStalled, and fs.ErrNotExist when it
// is not there. An error can match more
// than one: ONNX Runtime refusing a model file is both ErrModel and
// ErrFramework.
package carton
