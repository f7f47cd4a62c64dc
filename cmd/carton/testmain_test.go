package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary act as the CLI when re-executed with a
// command (bench --compare runs itself once per runtime version).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && !strings.HasPrefix(os.Args[1], "-") {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
