package backend

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/semver"
)

// Selection is what Select chose.
type Selection struct {
	Runner  Runner
	Runtime Runtime
	// Candidates are all runtimes found, newest first, matching or not.
	Candidates []Runtime
}

// Select picks the runner for runnerName and the newest runtime whose
// version satisfies requirement, after checking required_platforms against
// this process's platform. A runtime given explicitly (Source "option",
// else "env") is the only candidate when present. With pin set, only that
// exact version is taken.
func Select(ctx context.Context, runnerName, requirement string, platforms []string, hints Hints, pin string) (Selection, error) {
	if err := CheckPlatform(platforms, format.HostTriple()); err != nil {
		return Selection{}, err
	}
	r, ok := Lookup(runnerName)
	if !ok {
		return Selection{}, fmt.Errorf("%w %q (available: %s)", ErrUnknownRunner, runnerName, strings.Join(Names(), ", "))
	}
	req, err := semver.ParseReq(requirement)
	if err != nil {
		return Selection{}, fmt.Errorf("%w: required_framework_version: %v", format.ErrMalformed, err)
	}
	pinned, err := semver.ParsePin(pin)
	if err != nil {
		return Selection{}, fmt.Errorf("pinned runtime version: %w", err)
	}
	found, err := r.Runtimes(ctx, hints)
	if err != nil {
		return Selection{}, fmt.Errorf("runner %s: finding %s runtimes: %w", runnerName, r.Framework(), err)
	}
	type cand struct {
		rt Runtime
		v  semver.Version
	}
	var cands []cand
	for _, rt := range found {
		v, err := semver.Parse(rt.Version)
		if err != nil {
			continue // a runtime with an unreadable version can never be chosen
		}
		cands = append(cands, cand{rt, v})
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].v.Compare(cands[j].v) > 0 })
	sel := Selection{Runner: r}
	for _, c := range cands {
		sel.Candidates = append(sel.Candidates, c.rt)
	}
	// A runtime named explicitly (Load option, then environment variable)
	// is the only one considered: the caller asked for it.
	for _, explicit := range []string{"option", "env"} {
		var only []cand
		for _, c := range cands {
			if c.rt.Source == explicit {
				only = append(only, c)
			}
		}
		if len(only) > 0 {
			cands = only
			break
		}
	}
	for _, c := range cands {
		if req.Matches(c.v) && pinned.Matches(c.v) {
			sel.Runtime = c.rt
			return sel, nil
		}
	}
	return sel, &NoRuntimeError{Runner: runnerName, Framework: r.Framework(), Requirement: requirement, Pin: pin, Found: sel.Candidates}
}

// NoRuntimeError lists what was found when nothing matched.
type NoRuntimeError struct {
	Runner, Framework, Requirement, Pin string
	Found                               []Runtime
}

func (e *NoRuntimeError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v: runner %s needs %s %s", ErrNoRuntime, e.Runner, e.Framework, e.Requirement)
	if e.Pin != "" {
		fmt.Fprintf(&b, " pinned to %s", e.Pin)
	}
	if len(e.Found) == 0 {
		b.WriteString("; none is installed here")
		return b.String()
	}
	b.WriteString("; found: ")
	for i, rt := range e.Found {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s", rt.Version, rt.Source)
		if rt.Path != "" {
			fmt.Fprintf(&b, " %s", rt.Path)
		}
		b.WriteString(")")
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNoRuntime) true.
func (e *NoRuntimeError) Is(target error) bool { return target == ErrNoRuntime }

// CheckPlatform returns ErrPlatform if platforms is not empty and lacks host.
func CheckPlatform(platforms []string, host string) error {
	if len(platforms) == 0 || slices.Contains(platforms, host) {
		return nil
	}
	if host == "" {
		host = "this platform"
	}
	return fmt.Errorf("%w: it supports %s, not %s", ErrPlatform, strings.Join(platforms, ", "), host)
}
