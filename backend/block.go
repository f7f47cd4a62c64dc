package backend

import (
	"context"
	"unsafe"

	"github.com/carton-run/carton/tensor"
)

// BlockSession is a Session that copies a call's small outputs into one Go
// block (tensor.Carve) and can take that block from the caller instead of
// allocating it. carton offers it the block of an earlier call whose
// outputs the caller gave back (Model.ReleaseOutputs): memory that is warm
// in the cache and costs no allocation.
type BlockSession interface {
	Session
	// InferBlock is Infer with spare as the block for the outputs held in
	// Go memory, when ReuseBlock allows it, and returns the block those
	// outputs occupy (spare, a new one, or nil when none needed Go
	// memory). spare may be nil. Outputs held elsewhere (framework memory,
	// a view of an input, strings) are made as Infer makes them.
	InferBlock(ctx context.Context, inputs, outputs map[string]tensor.Tensor, spare []byte) ([]byte, error)
}

// ReuseBlock returns size bytes for a call's outputs: the start of spare
// when it holds them and none of inputs lies in it, else a new block. An
// input in spare is a tensor of the earlier call fed back in (a recurrent
// state, say), which its caller released yet kept: carving over it would
// change the input under the framework, or an output aliasing it. Both
// its data and its shape are checked, since Carve puts shapes in the
// block too.
func ReuseBlock(spare []byte, size int, inputs []tensor.Tensor) []byte {
	switch {
	case size == 0:
		return nil
	case size > cap(spare):
		return make([]byte, size)
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(spare)))
	hi := lo + uintptr(cap(spare))
	within := func(p unsafe.Pointer) bool { return uintptr(p) >= lo && uintptr(p) < hi }
	for _, in := range inputs {
		if within(in.Pointer()) {
			return make([]byte, size)
		}
		if shape := in.Shape(); len(shape) > 0 && within(unsafe.Pointer(&shape[0])) {
			return make([]byte, size)
		}
	}
	return spare[:size]
}
