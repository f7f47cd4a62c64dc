package carton

import (
	"context"
	"iter"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/tensor"
)

// InferStream runs the model on inputs and yields its outputs step by
// step: a model that streams (a python model returning an iterator of
// dicts) yields each of its steps, any other its one set of outputs. Each
// map is the caller's, as Infer's (ReleaseOutputs gives it back). The
// inputs must stay unchanged until the loop ends. Leaving the loop, or the
// context ending (checked between steps), closes the model's iterator;
// an error ends the sequence. Close waits for streams in progress.
func (m *Model) InferStream(ctx context.Context, inputs map[string]tensor.Tensor) iter.Seq2[map[string]tensor.Tensor, error] {
	return func(yield func(map[string]tensor.Tensor, error) bool) {
		ss, ok := m.session.(backend.StreamSession)
		if !ok {
			yield(m.Infer(ctx, inputs))
			return
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		if err := m.inputs.check(inputs); err != nil {
			yield(nil, err)
			return
		}
		m.mu.RLock()
		defer m.mu.RUnlock()
		if m.closed {
			yield(nil, ErrClosed)
			return
		}
		s, err := ss.InferStream(ctx, inputs)
		if err != nil {
			yield(nil, err)
			return
		}
		defer s.Close()
		for {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			out := make(map[string]tensor.Tensor, len(m.info.Outputs))
			m.tick.Enter()
			more, err := s.Next(ctx, out)
			m.tick.Exit()
			if err != nil {
				yield(nil, err)
				return
			}
			if !more || !yield(out, nil) {
				return
			}
		}
	}
}
