package backend

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/tensor"
)

// versions is a selection-only runner: it offers fixed runtimes and cannot load.
type versions struct {
	name string
	rts  []Runtime
}

func (v versions) Name() string      { return v.name }
func (v versions) Framework() string { return "fakefw" }
func (v versions) Runtimes(context.Context, Hints) ([]Runtime, error) {
	return v.rts, nil
}
func (v versions) Load(context.Context, LoadRequest) (Session, error) {
	return nil, errors.New("selection-only runner")
}

func init() {
	Register(versions{name: "test-multi", rts: []Runtime{
		{Version: "1.13.1", Source: "python", Path: "/deb"},
		{Version: "2.1.0", Source: "cache", Path: "/c/2.1"},
		{Version: "2.5.1", Source: "cache", Path: "/e/2.5"},
		{Version: "not-a-version", Source: "python"},
	}})
	Register(versions{name: "test-explicit", rts: []Runtime{
		{Version: "2.5.1", Source: "python", Path: "/py"},
		{Version: "1.13.1", Source: "env", Path: "/env"},
		{Version: "1.12.0", Source: "option", Path: "/opt"},
	}})
}

func TestSelectByRequirement(t *testing.T) {
	cases := []struct{ req, pin, want string }{
		{"=1.13", "", "1.13.1"},
		{"^2", "", "2.5.1"},
		{"*", "", "2.5.1"},
		{">=2, <2.5", "", "2.1.0"},
		{"~2.1", "", "2.1.0"},
		{"2", "2.1.0", "2.1.0"},
		{"1.13.1", "", "1.13.1"},
		{"*", "^2", "2.5.1"}, // a requirement as the pin: the newest of both
		{"*", "<2.5", "2.1.0"},
		{"*", ">=1, <2", "1.13.1"},
		{"*", "1.13", "1.13.1"}, // fewer than three numbers: every 1.13.x
		{"*", "2", "2.5.1"},
	}
	for _, c := range cases {
		sel, err := Select(context.Background(), "test-multi", c.req, nil, Hints{}, c.pin)
		require.NoError(t, err, c.req)
		assert.Equal(t, c.want, sel.Runtime.Version, c.req)
		assert.Len(t, sel.Candidates, 3)
	}
}

func TestSelectErrors(t *testing.T) {
	_, err := Select(context.Background(), "nope", "*", nil, Hints{}, "")
	require.ErrorIs(t, err, ErrUnknownRunner)
	assert.Contains(t, err.Error(), "noop")
	assert.Contains(t, err.Error(), "test-multi")

	_, err = Select(context.Background(), "test-multi", "=3.0", nil, Hints{}, "")
	require.ErrorIs(t, err, ErrNoRuntime)
	assert.Contains(t, err.Error(), "1.13.1 (python /deb)")
	assert.Contains(t, err.Error(), "2.5.1 (cache /e/2.5)")

	_, err = Select(context.Background(), "test-multi", "^2", nil, Hints{}, "2.2.0")
	require.ErrorIs(t, err, ErrNoRuntime)

	_, err = Select(context.Background(), "noop", "=0.5", nil, Hints{}, "")
	require.ErrorIs(t, err, ErrNoRuntime)

	_, err = Select(context.Background(), "noop", "*", []string{"aarch64-unknown-nothing"}, Hints{}, "")
	require.ErrorIs(t, err, ErrPlatform)

	_, err = Select(context.Background(), "noop", ">>", nil, Hints{}, "")
	require.ErrorIs(t, err, format.ErrMalformed)
}

func TestPlatform(t *testing.T) {
	host := format.HostTriple()
	require.NotEmpty(t, host)
	assert.NoError(t, CheckPlatform(nil, host))
	assert.NoError(t, CheckPlatform([]string{"x", host}, host))
	assert.ErrorIs(t, CheckPlatform([]string{"aarch64-apple-darwin"}, "x86_64-unknown-linux-gnu"), ErrPlatform)
	assert.Equal(t, "aarch64-apple-darwin", format.TargetTriple("darwin", "arm64"))
	assert.Equal(t, "x86_64-unknown-linux-gnu", format.TargetTriple("linux", "amd64"))
}

func TestNoopEchoes(t *testing.T) {
	sel, err := Select(context.Background(), "noop", "*", nil, Hints{}, "")
	require.NoError(t, err)
	s, err := sel.Runner.Load(context.Background(), LoadRequest{Runtime: sel.Runtime})
	require.NoError(t, err)
	defer s.Close()
	x := tensor.Scalar(int8(3))
	out := map[string]tensor.Tensor{}
	require.NoError(t, s.Infer(context.Background(), map[string]tensor.Tensor{"x": x}, out))
	assert.Equal(t, x.Pointer(), out["x"].Pointer())
}

func TestRegisterTwicePanics(t *testing.T) {
	assert.Panics(t, func() { Register(noop{}) })
}

func TestExplicitRuntimeWins(t *testing.T) {
	sel, err := Select(context.Background(), "test-explicit", "*", nil, Hints{}, "")
	require.NoError(t, err)
	assert.Equal(t, "/opt", sel.Runtime.Path)
	_, err = Select(context.Background(), "test-explicit", "^2", nil, Hints{}, "")
	require.ErrorIs(t, err, ErrNoRuntime, "an explicit runtime that does not match is an error, not a fallback")
}
