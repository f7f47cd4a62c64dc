package carton_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/internal/schedtick"
	"github.com/carton-run/carton/tensor"
)

// Every way out of Infer, InferInto and InferStream ends the native call
// it counted for the scheduler tick (internal/schedtick): a call left
// counted would make every later Refresh see the Ps as busy and never
// yield again.
func TestInferEndsItsCountedCall(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	in := echoInputsPlain(t)
	require.Zero(t, schedtick.InProgress())

	out, err := m.Infer(ctx, in)
	require.NoError(t, err)
	m.ReleaseOutputs(out)
	require.NoError(t, m.InferInto(ctx, in, map[string]tensor.Tensor{}))
	for out, err := range m.InferStream(ctx, in) {
		require.NoError(t, err)
		m.ReleaseOutputs(out)
	}
	_, err = m.Infer(ctx, map[string]tensor.Tensor{"x": in["x"]}) // an input missing
	require.ErrorIs(t, err, carton.ErrInvalidInput)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = m.Infer(canceled, in)
	require.ErrorIs(t, err, context.Canceled)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				out, err := m.Infer(ctx, in)
				if assert.NoError(t, err) {
					m.ReleaseOutputs(out)
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, schedtick.InProgress(), "after Infer, InferInto, InferStream and failures")

	require.NoError(t, m.Close())
	_, err = m.Infer(ctx, in)
	require.ErrorIs(t, err, carton.ErrClosed)
	assert.Zero(t, schedtick.InProgress(), "after an Infer on a closed model")
}
