//go:build race

package carton_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/tensor"
)

// Under -race an output read after its map was given back is garbage at
// once, not only after a later Infer happened to reuse its memory.
func TestReleaseOutputsPoisonsUnderRace(t *testing.T) {
	ctx := context.Background()
	m := loadCopy(t)
	out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 1, 2)})
	require.NoError(t, err)
	m.ReleaseOutputs(out) // a new map: its block is not known yet
	out, err = m.Infer(ctx, map[string]tensor.Tensor{"x": floats(t, 3, 4)})
	require.NoError(t, err)
	kept := out["x"] // kept past ReleaseOutputs: the misuse this catches
	m.ReleaseOutputs(out)
	assert.Equal(t, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, kept.Bytes())
	assert.Equal(t, tensor.Shape{2}, kept.Shape(), "the shape stays, so a test fails on values")
}
