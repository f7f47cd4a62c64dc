package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton"
	"github.com/carton-run/carton/tensor"
)

// carton bench counts the calls' allocations only: the same figure
// testing.AllocsPerRun gives for the call alone, however many calls the
// harness records.
func TestBenchCountsOnlyTheCallsAllocations(t *testing.T) {
	_, path := packEcho(t, "--input", "x:float32:[2,3]", "--input", "ids:int64:[2]")

	ctx := context.Background()
	m, err := carton.Load(ctx, path)
	require.NoError(t, err)
	defer m.Close()
	x, _ := tensor.From(tensor.Shape{2, 3}, make([]float32, 6))
	ids, _ := tensor.From(tensor.Shape{2}, make([]int64, 2))
	in := map[string]tensor.Tensor{"x": x, "ids": ids}
	for _, reuse := range []bool{false, true} {
		call := caller(m, in, reuse)
		want := testing.AllocsPerRun(100, func() { require.NoError(t, call(ctx)) })
		for _, n := range []string{"100", "20000"} { // 20,000 calls fill three latency chunks
			args := []string{"bench", path, "--random", "-n", n, "--json"}
			if reuse {
				args = append(args, "--reuse-outputs")
			}
			code, stdout, stderr := cli(t, args...)
			require.Equal(t, 0, code, stderr)
			var res benchResult
			require.NoError(t, json.Unmarshal([]byte(stdout), &res))
			assert.InDelta(t, want, res.AllocsPerCall, 0.03, "reuse=%v n=%s", reuse, n)
		}
	}
}

func TestLatencyLog(t *testing.T) {
	var l latencyLog
	l.grow()
	var want []time.Duration
	for i := range 2*len(l.first.d) + 5 {
		l.add(time.Duration(i))
		want = append(want, time.Duration(i))
	}
	assert.Equal(t, 3, l.chunks)
	assert.Equal(t, want, l.appendTo(nil))
}
