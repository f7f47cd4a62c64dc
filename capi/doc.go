// Command capi is libcarton, carton's C ABI (include/carton.h), built with
// `make libcarton`: go build -buildmode=c-shared into build/lib/libcarton.so
// (.dylib on macOS). It is the one artifact built with cgo; the Go library
// and the commands stay CGO_ENABLED=0, and without cgo this package is an
// empty program.
//
// # Memory
//
// C never holds a Go pointer. A model, a caller's tensor and an outputs
// object are C structs (malloc'd) holding a cgo.Handle to their Go side,
// and copies in C memory of what their getters return (names, shapes,
// string elements), so that those getters are plain C (abi.c) and cost no
// call into Go. A tensor's data is the caller's memory (carton_tensor_wrap,
// used in place), memory carton malloc'd (carton_tensor_new), or an
// output's: the framework's memory, or Go memory pinned (runtime.Pinner)
// until carton_outputs_free gives the outputs back to the model.
//
// # Concurrency
//
// carton_infer may run on many C threads on one model at once, as
// carton.Model.Infer allows; each call runs on the calling thread.
// carton_close must not race with calls on the same model, nor
// carton_tensor_free with calls using that tensor: the header says so.
// Every export recovers a panic into CARTON_ERR_OTHER, so that none
// crosses into C.
package main
