package libfetch

import (
	"context"
	"sync"
	"time"
)

// probes runs each probe of the machine (an interpreter's packages, npm's
// global root) once per process for all callers. A probe runs detached
// from any caller's context, under probeTimeout, and each caller waits on
// its own context; only a probe that answered is kept, so one caller's
// cancelled or expired context, or a passing fault, does not decide every
// later Load in the process.
type probes[T any] struct{ m sync.Map } // key -> *probeResult[T]

type probeResult[T any] struct {
	done chan struct{}
	v    T
	err  error
}

// probeTimeout bounds one probe: a program that hangs offers nothing.
const probeTimeout = 30 * time.Second

func (p *probes[T]) get(ctx context.Context, key string, probe func(context.Context) (T, error)) (T, error) {
	fresh := &probeResult[T]{done: make(chan struct{})}
	v, loaded := p.m.LoadOrStore(key, fresh)
	res := v.(*probeResult[T])
	if !loaded {
		go func() {
			pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
			defer cancel()
			res.v, res.err = probe(pctx)
			if res.err != nil {
				p.m.CompareAndDelete(key, res)
			}
			close(res.done)
		}()
	}
	select {
	case <-res.done:
		return res.v, res.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
