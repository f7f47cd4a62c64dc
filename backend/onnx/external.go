package onnx

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/internal/pbscan"
)

// Field numbers in onnx.proto that externalDataFiles reads.
const (
	graphProtoInitializer       = 5  // GraphProto.initializer: TensorProto
	graphProtoSparseInitializer = 15 // GraphProto.sparse_initializer: SparseTensorProto
	sparseTensorValues          = 1  // SparseTensorProto.values: TensorProto
	sparseTensorIndices         = 2  // SparseTensorProto.indices: TensorProto
	tensorProtoExternalData     = 13 // TensorProto.external_data: StringStringEntryProto
	stringEntryKey              = 1
	stringEntryValue            = 2
)

// externalDataFiles lists the files, relative to the model file, that the
// graph's initializers keep their data in (ONNX external data), each once,
// in the order first met. It reads the initializers' field headers and
// their external_data entries only.
func externalDataFiles(r io.ReaderAt, size int64) ([]string, error) {
	var files []string
	tensor := func(f pbscan.Field) error {
		return pbscan.Walk(r, f.Off, f.Len, func(t pbscan.Field) error {
			if t.Num != tensorProtoExternalData || t.Wire != 2 {
				return nil
			}
			b, err := readSmall(r, t)
			if b == nil {
				return err
			}
			var key, value string
			if err := fields(b, func(num protowire.Number, v []byte) error {
				switch num {
				case stringEntryKey:
					key = string(v)
				case stringEntryValue:
					value = string(v)
				}
				return nil
			}); err != nil {
				return err
			}
			if key == "location" && !slices.Contains(files, value) {
				files = append(files, value)
			}
			return nil
		})
	}
	err := walkGraph(r, size, func(g pbscan.Field) error {
		switch g.Num {
		case graphProtoInitializer:
			return tensor(g)
		case graphProtoSparseInitializer:
			return pbscan.Walk(r, g.Off, g.Len, func(s pbscan.Field) error {
				if (s.Num == sparseTensorValues || s.Num == sparseTensorIndices) && s.Wire == 2 {
					return tensor(s)
				}
				return nil
			})
		}
		return nil
	})
	return files, err
}

// checkExternalData requires every file the model at path keeps
// initializer data in to lie in the model's directory, beside or below
// the model file: a carton holds the model directory, and ONNX Runtime
// refuses paths that leave it.
func checkExternalData(r io.ReaderAt, size int64, path string) error {
	files, err := externalDataFiles(r, size)
	if err != nil {
		return fmt.Errorf("%w: %s is not an ONNX model: %w", backend.ErrModel, filepath.Base(path), err)
	}
	dir := filepath.Dir(path)
	for _, f := range files {
		clean := filepath.Clean(filepath.FromSlash(f))
		if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
			return &backend.UnusableModelError{Err: fmt.Errorf("%w: %s keeps initializer data in %s, outside its directory; ONNX Runtime reads external data only beside or below the model",
				backend.ErrModel, filepath.Base(path), f)}
		}
		if _, err := os.Lstat(filepath.Join(dir, clean)); err != nil {
			return &backend.UnusableModelError{Err: fmt.Errorf("%w: %s keeps initializer data in %s, which is not beside it; pack the directory holding %s and its data files",
				backend.ErrModel, filepath.Base(path), f, filepath.Base(path))}
		}
	}
	return nil
}
