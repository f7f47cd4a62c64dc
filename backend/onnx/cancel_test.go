package onnx_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/backend/onnx"
	"github.com/carton-run/carton/tensor"
)

// Cancelling the context stops ONNX Runtime mid-run, on every release: the
// compute model's first MatMul over 16384 rows takes a good part of a
// second on one thread, and ORT checks the terminate flag before each
// operator, so a run cancelled inside it can only end in the
// cancellation error (a run that finished returns nil). Later calls with
// cancellable contexts run normally: the flag was cleared.
func TestCancelStopsRun(t *testing.T) {
	for _, rt := range runtimes(t) {
		t.Run(rt.Version, func(t *testing.T) {
			m, err := carton.Load(context.Background(), pack(t, filepath.Join(models, "compute.onnx"), map[string]any{"intra_op_threads": int64(1)}),
				carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
			require.NoError(t, err)
			defer m.Close()
			big, err := tensor.New(tensor.Float32, tensor.Shape{16384, 512})
			require.NoError(t, err)
			small, err := tensor.New(tensor.Float32, tensor.Shape{4, 512})
			require.NoError(t, err)

			t0 := time.Now()
			out, err := m.Infer(context.Background(), map[string]tensor.Tensor{"x": big})
			require.NoError(t, err)
			full := time.Since(t0)
			out["y"].Release()

			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(full/20, cancel)
			t0 = time.Now()
			out, err = m.Infer(ctx, map[string]tensor.Tensor{"x": big})
			cancelled := time.Since(t0)
			t.Logf("full run %v, cancelled after %v: returned after %v", full, full/20, cancelled)
			require.Error(t, err, "a run cancelled in its first operator cannot finish")
			assert.Nil(t, out)
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorIs(t, err, onnx.ErrRuntime, "ORT's own terminate error, wrapped")

			for range 4 {
				ctx, cancel := context.WithCancel(context.Background())
				out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": small})
				cancel()
				require.NoError(t, err, "a call state's terminate flag is cleared after a cancellation")
				assert.Equal(t, tensor.Shape{4, 512}, out["y"].Shape())
				out["y"].Release()
			}
		})
	}
}

// Cancellations racing calls on small inputs: each call either completes
// or reports the cancellation, nothing else, and calls after it are fine.
func TestCancelRacingCalls(t *testing.T) {
	rt := runtimes(t)[0]
	m, err := carton.Load(context.Background(), pack(t, filepath.Join(models, "compute.onnx"), nil),
		carton.WithRuntimePath(rt.Path), carton.WithCacheDir(t.TempDir()))
	require.NoError(t, err)
	defer m.Close()
	x, err := tensor.New(tensor.Float32, tensor.Shape{8, 512})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				ctx, cancel := context.WithCancel(context.Background())
				time.AfterFunc(time.Duration((g*50+i)%7)*20*time.Microsecond, cancel)
				out, err := m.Infer(ctx, map[string]tensor.Tensor{"x": x})
				cancel()
				if err != nil {
					if !assert.True(t, errors.Is(err, context.Canceled), "%v", err) {
						return
					}
					continue
				}
				out["y"].Release()
			}
		})
	}
	wg.Wait()
	out, err := m.Infer(context.Background(), map[string]tensor.Tensor{"x": x})
	require.NoError(t, err)
	out["y"].Release()
}
