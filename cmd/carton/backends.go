package main

import (
	"os"

	// The runners this binary offers (noop is built into package backend).
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
	_ "github.com/carton-run/carton/backend/python"
	_ "github.com/carton-run/carton/backend/tensorflow"
)

// TensorFlow logs INFO lines (a CPU feature notice, each SavedModel load
// step) to stderr, which is the CLI's own channel: keep only its warnings
// and errors unless the user chose a level. Set before any runtime loads;
// TensorFlow reads it once.
func init() {
	if _, set := os.LookupEnv("TF_CPP_MIN_LOG_LEVEL"); !set {
		os.Setenv("TF_CPP_MIN_LOG_LEVEL", "1")
	}
}
