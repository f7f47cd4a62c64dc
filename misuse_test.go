package carton_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/tensor"
)

// Every method of a closed Model answers without panicking: ErrClosed
// where it would run the model, nothing where there is nothing to do.
func TestClosedModelMisuse(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	out, err := m.Infer(ctx, echoInputsPlain(t))
	require.NoError(t, err)
	require.NoError(t, m.Close())
	require.NoError(t, m.Close(), "Close is idempotent")

	_, err = m.Infer(ctx, echoInputsPlain(t))
	require.ErrorIs(t, err, carton.ErrClosed)
	require.ErrorIs(t, m.InferInto(ctx, echoInputsPlain(t), map[string]tensor.Tensor{}), carton.ErrClosed)
	assert.NotPanics(t, func() { m.ReleaseOutputs(out) }, "outputs of a closed model may still be given back")
	assert.NotPanics(t, func() { m.ReleaseOutputs(out) })
	assert.Equal(t, "echo", m.Info().ModelName)
	assert.NotPanics(t, func() { _, _ = m.TensorData() })
}

// Inputs that are not the model's: nil, empty, unknown names, wrong
// dtypes, shapes that contradict a symbol; each is ErrInvalidInput.
func TestInferInputMisuse(t *testing.T) {
	ctx := context.Background()
	m := loadNoop(t)
	defer m.Close()
	good := echoInputsPlain(t)
	str, _ := tensor.FromStrings(tensor.Shape{2, 3}, make([]string, 6))
	wrongBatch, _ := tensor.From(tensor.Shape{3}, []int64{1, 2, 3})
	for name, in := range map[string]map[string]tensor.Tensor{
		"nil":         nil,
		"empty":       {},
		"unknown":     {"x": good["x"], "ids": good["ids"], "z": good["x"]},
		"wrong dtype": {"x": str, "ids": good["ids"]},
		"symbol":      {"x": good["x"], "ids": wrongBatch},
		"zero tensor": {"x": {}, "ids": good["ids"]},
	} {
		_, err := m.Infer(ctx, in)
		assert.ErrorIs(t, err, carton.ErrInvalidInput, name)
	}
	require.ErrorIs(t, m.InferInto(ctx, good, nil), carton.ErrInvalidInput)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := m.Infer(cancelled, good)
	require.ErrorIs(t, err, context.Canceled)
}

func echoInputsPlain(t *testing.T) map[string]tensor.Tensor {
	x, err := tensor.From(tensor.Shape{2, 3}, []float32{1, 2, 3, 4, 5, 6})
	require.NoError(t, err)
	ids, err := tensor.From(tensor.Shape{2}, []int64{7, 8})
	require.NoError(t, err)
	return map[string]tensor.Tensor{"x": x, "ids": ids}
}
