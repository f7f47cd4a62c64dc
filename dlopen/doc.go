// Package dlopen is a thin layer over purego for loading framework runtimes
// at run time without cgo: open a shared library with RTLD_NOW|RTLD_LOCAL
// (so two versions of one framework can live in one process), bind its
// symbols, call C functions by address, and call through C function tables
// such as ONNX Runtime's OrtApi.
//
// Errors name the library and the symbol, and carry dlerror's text, which
// names a missing dependent library when that is the cause.
//
// Memory: the package allocates no C memory. Callers that pass Go memory to
// C must keep it alive and pinned (runtime.Pinner) for the call's duration,
// and must not let C keep such a pointer after the call returns.
//
// Concurrency: a Library is safe for concurrent use; Call may be used from
// any goroutine. Close must not race with calls into the library, and a
// library is rarely worth closing: frameworks keep global state and some
// cannot be unloaded safely, so this package never unloads on its own.
package dlopen
