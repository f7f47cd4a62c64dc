// Package backend is the runner machinery: the Runner and Session
// interfaces every framework backend implements, a registry of runners by
// name, and Select, which picks a runner and one of its runtimes from a
// carton's runner_name, required_framework_version and required_platforms.
//
// Concrete backends live in subpackages (onnx, libtorch, tensorflow) and
// register themselves from init; this package imports none of them. The
// noop runner, which echoes its inputs, is built in so that the whole
// load-and-infer path runs without a framework.
//
// Memory: a Session receives input tensors that stay owned by the caller and
// are valid only during Infer; it must not keep them (or pointers into them)
// afterwards. Output tensors belong to the caller, who releases them. A
// BlockSession carves the outputs it copies into Go memory from one block
// per call, which carton hands back to a later call once the caller gave
// the outputs back (Model.ReleaseOutputs); ReuseBlock decides whether that
// block may be written, and KindOf which outputs are copied at all: an
// output in a Go input's memory is a view of it, one in a foreign input's
// memory a copy, since the input's owner may free it before the output.
//
// Concurrency: the registry is safe for concurrent use. A Session must accept
// concurrent Infer calls from many goroutines; Close is called once, after
// every Infer has returned. A Session stops a call when its context is done
// as far as its framework allows, and then returns an error matching the
// context's.
//
// Errors: runners wrap the sentinels here (ErrInvalidInput, ErrInvalidOption,
// ErrModel, ErrNoRuntime ...); errors their framework reports wrap a
// sentinel made by FrameworkSentinel, which also matches ErrFramework.
// ThreadCount checks thread-count options the same way in every runner.
package backend
