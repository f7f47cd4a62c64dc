package backend

import (
	"context"
	"maps"

	"github.com/carton-run/carton/tensor"
)

// NoopVersion is the framework version the noop runner reports.
const NoopVersion = "1.0.0"

// noop echoes its inputs: the whole load and infer path with no framework.
type noop struct{}

func init() { Register(noop{}) }

func (noop) Name() string      { return "noop" }
func (noop) Framework() string { return "noop" }

func (noop) Runtimes(context.Context, Hints) ([]Runtime, error) {
	return []Runtime{{Framework: "noop", Version: NoopVersion, Source: "builtin"}}, nil
}

func (noop) Load(context.Context, LoadRequest) (Session, error) { return noopSession{}, nil }

type noopSession struct{}

// Infer returns the inputs themselves: outputs alias inputs, which the
// Session contract allows and callers must already tolerate.
func (noopSession) Infer(_ context.Context, in, out map[string]tensor.Tensor) error {
	for k, v := range in {
		out[k] = v
	}
	if len(out) != len(in) { // a reused map's other entries
		maps.DeleteFunc(out, func(k string, _ tensor.Tensor) bool { _, ok := in[k]; return !ok })
	}
	return nil
}

func (noopSession) Close() error { return nil }
