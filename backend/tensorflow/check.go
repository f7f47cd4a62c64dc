package tensorflow

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/carton-run/carton/backend"
)

// CheckModel says whether modelDir holds a SavedModel whose
// saved_model.pb parses and holds a MetaGraphDef (a saved_model.pbtxt
// is only looked for).
func (Runner) CheckModel(modelDir string) error {
	dir, err := savedModelDir(modelDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "saved_model.pb")); err != nil {
		return nil // saved_model.pbtxt: left to TensorFlow
	}
	sm, err := readSavedModel(dir)
	if err != nil {
		return err
	}
	if len(sm.GetMetaGraphs()) == 0 {
		return fmt.Errorf("%w: %s/saved_model.pb holds no MetaGraphDef: not a SavedModel", backend.ErrModel, dir)
	}
	return nil
}
