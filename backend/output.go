package backend

import "github.com/carton-run/carton/tensor"

// OutputKind is how a runner hands one output over to the caller.
type OutputKind uint8

const (
	OutputCopied  OutputKind = iota // copied into the call's Go block (tensor.Carve; see ReuseBlock)
	OutputStrings                   // copied into Go strings
	OutputAlias                     // a view of the input whose Go memory holds it (AliasOfInput)
	OutputForeign                   // left in the framework's memory until Release
)

// KindOf sorts one output of dtype whose data is the nbytes at data: up to
// SmallOutputBytes a copy costs less than a Go object over framework
// memory with its finalizer and native free, so only larger outputs stay
// where the framework put them, unless they lie in an input's memory: a
// view of an input in Go memory, a copy of any size of one in foreign
// memory (a framework's output fed back), whose owner may release it
// before the output, and nothing in the framework's result holds it.
func KindOf(inputs []tensor.Tensor, dtype tensor.DType, data uintptr, nbytes int) OutputKind {
	if dtype == tensor.String {
		return OutputStrings
	}
	if in, _, held := InputHolding(inputs, data, nbytes); held {
		if in.IsForeign() {
			return OutputCopied
		}
		return OutputAlias
	}
	if nbytes > SmallOutputBytes {
		return OutputForeign
	}
	return OutputCopied
}
