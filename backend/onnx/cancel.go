package onnx

import (
	"context"
	"fmt"
	"runtime"

	"github.com/carton-run/carton/dlopen"
)

// run calls Run. With a context that can be cancelled it passes the call
// state's OrtRunOptions and sets their terminate flag when the context is
// done, so ONNX Runtime stops before the next operator; the call then
// returns the context's error wrapped around ORT's. A context that can
// never be cancelled (context.Background, context.WithoutCancel) costs
// nothing here; one that can costs a context.AfterFunc per call.
func (s *session) run(ctx context.Context, cs *callState) error {
	if ctx.Done() == nil {
		return s.runWith(cs, 0)
	}
	runOpts, err := s.runOptions(cs)
	if err != nil {
		return err
	}
	cs.terminating.Add(1)
	stop := context.AfterFunc(ctx, cs.terminate)
	err = s.runWith(cs, runOpts)
	if stop() { // not cancelled during the run: terminate will never run
		cs.terminating.Done()
		return err
	}
	cs.terminating.Wait() // the flag is set, or being set: clear it only after
	if uerr := s.lib.api.callC(&cs.Caller, fnRunOptionsUnsetTerminate, runOpts); uerr != nil {
		cs.runOpts = 0 // still set: leave it to the call state's cleanup
	}
	if err != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return nil // Run finished before it saw the flag: its outputs stand
}

// runOptions returns cs's OrtRunOptions, made on first use.
func (s *session) runOptions(cs *callState) (uintptr, error) {
	if cs.runOpts != 0 {
		return cs.runOpts, nil
	}
	a := s.lib.api
	if err := a.callC(&cs.Caller, fnCreateRunOptions, ptr(&cs.value)); err != nil {
		return 0, err
	}
	cs.runOpts = cs.value
	setTerminate, runOpts := a.table.Fn(fnRunOptionsSetTerminate), cs.runOpts
	// Made once per call state, so a call allocates only what
	// context.AfterFunc does. It runs on another goroutine than the
	// call's (not cs.Caller); ORT allows setting the flag while Run reads
	// it.
	cs.terminate = func() {
		defer cs.terminating.Done()
		_ = a.check(dlopen.Call(setTerminate, runOpts))
	}
	release := a.table.Fn(fnReleaseRunOptions)
	// Call states live in a sync.Pool, which drops them silently: free the
	// options with the call state (the library stays loaded, so this may
	// run after the session closed).
	runtime.AddCleanup(cs, func(h uintptr) { dlopen.Call(release, h) }, cs.runOpts)
	return cs.runOpts, nil
}
