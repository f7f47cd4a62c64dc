// Package tensor holds the n-dimensional arrays that flow in and out of a
// carton model: a dtype, a shape and a flat, C-ordered buffer.
//
// # Memory ownership
//
// A Tensor either views Go memory or framework memory:
//
//   - From, FromStrings and New return tensors over Go memory. From wraps the
//     caller's slice without copying it, so the caller must not modify the
//     slice while a call that received the tensor is running. The garbage
//     collector keeps the memory alive for as long as any copy of the Tensor
//     value is reachable.
//   - Foreign returns a tensor over memory owned elsewhere (a framework's
//     output buffer). Release hands it back; after Release every view taken
//     from the tensor is invalid. Copies of a Tensor value share one release,
//     which runs at most once. A finalizer is only a safety net, never the plan.
//
// Views (View, Bytes, Strings) never copy: they alias the tensor's buffer.
//
// BlockSize and Carve let a backend allocate several tensors (each with its
// shape) in one []byte: every tensor carved from a block keeps the whole
// block alive. A Tensor value is 40 bytes and is meant to be copied.
//
// # Alignment
//
// New and Aligned return buffers aligned to [Alignment] bytes (64), which is
// what TensorFlow needs to share memory instead of copying it. A slice the
// caller allocated with make is aligned only by chance; backends that need
// alignment copy such a slice once.
//
// # Concurrency
//
// A Tensor is an immutable value: its dtype, shape and buffer identity never
// change. Reading one from many goroutines is safe; writing its elements while
// another goroutine reads them is a data race, as with any slice. Release must
// not race with readers of that tensor.
//
// # dtypes in carton.toml
//
// The names a dtype has in carton.toml are those returned by [DType.String]:
// float32 float64 string int8 int16 int32 int64 uint8 uint16 uint32 uint64,
// which are upstream Carton's, plus bool, float16 and bfloat16, which are ours
// (upstream has none of them; an upstream reader rejects a carton using them).
// In tensor_data a bool is one byte (0 or 1) and float16/bfloat16 are two
// bytes, little-endian, like every numeric dtype.
package tensor
