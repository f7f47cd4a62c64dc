package onnx

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/internal/pbscan"
)

// CheckModel says whether the model file is an ONNX ModelProto (its
// top-level protobuf fields are well formed and one of them is the graph)
// or an ORT-format model, and whether the files an ONNX model keeps its
// initializers' data in (external data) lie in the model directory.
// It reads the field headers only, skipping their contents, so a model of
// any size costs a few reads; ONNX Runtime judges the rest at Load.
func (Runner) CheckModel(modelDir string) error {
	p, err := modelPath(modelDir)
	if err != nil {
		return err
	}
	f, size, err := backend.OpenModelFile(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if isORTFormat(f) {
		return nil // ONNX Runtime reads it from bytes
	}
	if err := checkModelProto(f, size); err != nil {
		return fmt.Errorf("%w: %s is not an ONNX model: %w", backend.ErrModel, filepath.Base(p), err)
	}
	return checkExternalData(f, size, p)
}

// checkModelProto requires a well-formed message with a graph.
func checkModelProto(r io.ReaderAt, size int64) error {
	graph, err := pbscan.HasMessageField(r, size, modelProtoGraph)
	if err != nil {
		return err
	}
	if !graph {
		return errors.New("it has no graph")
	}
	return nil
}
