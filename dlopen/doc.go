// Package dlopen is a thin layer over purego for loading framework runtimes
// at run time without cgo: open a shared library with RTLD_NOW|RTLD_LOCAL
// (so two versions of one framework can live in one process), bind its
// symbols, call C functions by address, and call through C function tables
// such as ONNX Runtime's OrtApi.
//
// Errors name the library and the symbol, and carry dlerror's text, which
// names a missing dependent library when that is the cause.
//
// Calls: Caller.Call on linux/amd64 and linux/arm64 goes through this
// package's own trampoline (call_linux_*.s: up to 15 integer or pointer
// arguments, an integer result) by way of runtime.cgocall, as cgo and
// purego do; elsewhere through purego.SyscallN. Neither takes float
// arguments.
//
// Memory: the package allocates no C memory. Go memory passed as a call's
// argument must be heap memory kept alive until the call returns; as with
// cgo it needs no pin. Go memory that C reaches through other memory, or
// keeps after the call returns, must be pinned (runtime.Pinner) for as
// long as C may use it.
//
// Concurrency: a Library is safe for concurrent use; Call may be used from
// any goroutine. Close must not race with calls into the library, and a
// library is rarely worth closing: frameworks keep global state and some
// cannot be unloaded safely, so this package never unloads on its own.
package dlopen
