// Package testneed is what a test does when the machine lacks something
// it needs (a compiler, a browser, a runtime): under CI=true it fails, as
// CI must have everything; elsewhere it skips, saying what to install. It
// holds no state.
package testneed

import (
	"errors"
	"os"
	"testing"

	"github.com/carton-run/carton/backend"
)

// Need stops t when err says that what it needs is missing.
func Need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: %v", what, err)
	}
	t.Skipf("%s: %v", what, err)
}

// Runtime is Need for an error of carton's that may be ErrNoRuntime (run
// make setup); any other error is left to the caller.
func Runtime(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, backend.ErrNoRuntime) {
		Need(t, "no runtime (run make setup)", err)
	}
}
