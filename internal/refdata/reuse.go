package refdata

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

// Model is what CheckOutputMemoryReuse drives (a *carton.Model).
type Model interface {
	Infer(ctx context.Context, inputs map[string]tensor.Tensor) (map[string]tensor.Tensor, error)
	ReleaseOutputs(outputs map[string]tensor.Tensor)
}

// CheckOutputMemoryReuse runs the check each runner makes of
// Model.ReleaseOutputs: a map given back has the next Infer write its small
// outputs over the memory they occupied, unless an input lies there. It
// gives back a first map (whose block is not known yet), runs inputs(10)
// and notes where output probe lies, gives that map back and runs
// inputs(20): probe must land at the same address, and check sees those
// outputs. Then it feeds them back as inputs (feed maps each input name to
// the output it takes), which ReleaseOutputs forbids, after giving the map
// back: probe must land elsewhere. It returns that last call's outputs,
// whose values the race detector poisons (racebuild).
func CheckOutputMemoryReuse(t testing.TB, m Model, inputs func(start int64) map[string]tensor.Tensor, probe string,
	check func(out map[string]tensor.Tensor), feed map[string]string) map[string]tensor.Tensor {
	t.Helper()
	ctx := context.Background()
	infer := func(in map[string]tensor.Tensor) map[string]tensor.Tensor {
		out, err := m.Infer(ctx, in)
		require.NoError(t, err)
		return out
	}
	m.ReleaseOutputs(infer(inputs(0)))
	out := infer(inputs(10))
	at := out[probe].Pointer()
	m.ReleaseOutputs(out)
	out = infer(inputs(20))
	assert.Equal(t, at, out[probe].Pointer(), "copied into the memory given back")
	check(out)

	fedBack := map[string]tensor.Tensor{}
	for input, output := range feed {
		fedBack[input] = out[output]
	}
	m.ReleaseOutputs(out)
	out = infer(fedBack)
	assert.NotEqual(t, at, out[probe].Pointer(), "inputs in the memory given back: not reused")
	return out
}
