package libtorch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"strings"

	"github.com/carton-run/carton/backend"
)

// CheckModel says whether model.pt is TorchScript: a zip archive whose
// top-level directory holds constants.pkl (or a pre-1.3 model.json), or a
// flatbuffer module, the two forms torch::jit::load reads. A zip with a
// data.pkl and neither is what torch.save writes for an eager module or a
// state dict, which libtorch cannot run: the error says so.
func (Runner) CheckModel(modelDir string) error {
	f, size, err := backend.OpenModelFile(filepath.Join(modelDir, "model.pt"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: no model.pt in the model directory", backend.ErrModel)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := checkTorchScript(f, size); err != nil {
		return fmt.Errorf("%w: %w", backend.ErrModel, err)
	}
	return nil
}

// checkTorchScript says why model.pt, size bytes in r, is not TorchScript.
func checkTorchScript(r io.ReaderAt, size int64) error {
	var head [8]byte
	if n, _ := r.ReadAt(head[:], 0); n == len(head) && string(head[4:]) == "PTMF" {
		return nil // a flatbuffer module (torch.jit.save with _use_flatbuffer)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return fmt.Errorf("model.pt is not TorchScript (neither a zip archive nor a flatbuffer module): %v", err)
	}
	pickled := false
	for _, e := range zr.File {
		dir, base := path.Split(e.Name)
		if strings.Count(dir, "/") != 1 {
			continue
		}
		switch base {
		case "constants.pkl", "model.json":
			return nil
		case "data.pkl":
			pickled = true
		}
	}
	if pickled {
		return errors.New("model.pt was written by torch.save (an eager module or a state dict), which libtorch cannot run: " +
			"make it TorchScript with torch.jit.script or torch.jit.trace and save it with torch.jit.save")
	}
	return errors.New("model.pt is a zip archive but not TorchScript (no constants.pkl)")
}

// explainLoadFailure adds to libtorch's error for a model it could not
// load (model's bytes, or else the file at path) what checkTorchScript
// finds wrong with it, if anything: for a torch.save pickle libtorch says
// only that constants.pkl is missing. (Pack refuses such files; cartons
// from elsewhere may hold them.)
func explainLoadFailure(err error, path string, model []byte) error {
	var r io.ReaderAt = bytes.NewReader(model)
	size := int64(len(model))
	if model == nil {
		f, n, ferr := backend.OpenModelFile(path)
		if ferr != nil {
			return err
		}
		defer f.Close()
		r, size = f, n
	}
	if why := checkTorchScript(r, size); why != nil {
		return fmt.Errorf("%w (%v)", err, why)
	}
	return err
}
