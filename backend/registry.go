package backend

import (
	"fmt"
	"sort"
	"sync"
)

var registry = struct {
	sync.RWMutex
	runners map[string]Runner
}{runners: map[string]Runner{}}

// Register makes a runner available under r.Name(). Backends call it from
// init. Registering a name twice is a programming error and panics.
func Register(r Runner) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.runners[r.Name()]; dup {
		panic(fmt.Sprintf("backend: runner %q registered twice", r.Name()))
	}
	registry.runners[r.Name()] = r
}

// Lookup returns the runner registered under name.
func Lookup(name string) (Runner, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.runners[name]
	return r, ok
}

// Names lists the registered runner names, sorted.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	names := make([]string, 0, len(registry.runners))
	for n := range registry.runners {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
