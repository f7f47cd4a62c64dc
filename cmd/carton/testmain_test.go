package main

import (
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the CLI when re-executed with a
// command (bench --compare runs itself once per runtime version).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(runWithSignals(os.Args[1:]))
	}
	os.Exit(m.Run())
}
