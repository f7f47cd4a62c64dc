package main

// The runners this binary offers (noop is built into package backend).
import (
	_ "github.com/carton-run/carton/backend/libtorch"
	_ "github.com/carton-run/carton/backend/onnx"
)
