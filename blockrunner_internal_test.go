package carton

import (
	"context"
	"maps"
	"unsafe"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/tensor"
)

// copyRunnerName is a runner registered for this package's tests: it
// copies its numeric inputs into one Go block, as libtorch's runner copies
// small outputs, so the Model's handling of blocks (backend.BlockSession)
// is tested without a framework. Strings come back as they went in.
const copyRunnerName = "test-copy"

func init() { backend.Register(copyRunner{}) }

type copyRunner struct{}

func (copyRunner) Name() string      { return copyRunnerName }
func (copyRunner) Framework() string { return copyRunnerName }

func (copyRunner) Runtimes(context.Context, backend.Hints) ([]backend.Runtime, error) {
	return []backend.Runtime{{Framework: copyRunnerName, Version: "1.0.0", Source: "builtin"}}, nil
}

func (copyRunner) Load(context.Context, backend.LoadRequest) (backend.Session, error) {
	return &copySession{}, nil
}

type copySession struct{}

func (s *copySession) Infer(ctx context.Context, in, out map[string]tensor.Tensor) error {
	_, err := s.InferBlock(ctx, in, out, nil)
	return err
}

func (s *copySession) InferBlock(_ context.Context, in, out map[string]tensor.Tensor, spare []byte) ([]byte, error) {
	ins := make([]tensor.Tensor, 0, 4) // on the stack: these tests count the Model's allocations
	size := 0
	for _, t := range in {
		ins = append(ins, t)
		if t.DType() != tensor.String {
			n, err := tensor.BlockSize(t.DType(), t.Shape())
			if err != nil {
				return nil, err
			}
			size += n
		}
	}
	block := backend.ReuseBlock(spare, size, ins)
	rest := block
	for k, t := range in {
		if t.DType() == tensor.String {
			out[k] = t
			continue
		}
		c, r, err := tensor.Carve(rest, t.DType(), t.Shape())
		if err != nil {
			return nil, err
		}
		rest = r
		copy(unsafe.Slice((*byte)(c.Pointer()), c.ByteLen()), unsafe.Slice((*byte)(t.Pointer()), t.ByteLen()))
		out[k] = c
	}
	if len(out) != len(in) {
		maps.DeleteFunc(out, func(k string, _ tensor.Tensor) bool { _, ok := in[k]; return !ok })
	}
	return block, nil
}

func (*copySession) Close() error { return nil }
