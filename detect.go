package carton

import (
	"errors"
	"fmt"
	"strings"

	"github.com/carton-run/carton/backend"
)

// DetectRunner names the runner for the model file or directory at
// modelPath, as Pack does when PackOptions.Config names none: the one
// registered runner that recognizes the model (backend.ModelChecker: an
// ONNX file, a TorchScript archive, a SavedModel directory), looked at
// without loading it. Runners that cannot tell (noop) are not asked. None
// recognizing it, or more than one, is an error wrapping ErrModel that
// says what each runner found; a runner that recognizes it but finds it
// unusable as it is (backend.UnusableModelError) has its finding returned.
func DetectRunner(modelPath string) (string, error) {
	var accepted, refusals []string
	for _, name := range backend.Names() {
		runner, _ := backend.Lookup(name)
		checker, ok := runner.(backend.ModelChecker)
		if !ok {
			continue
		}
		err := checkAs(checker, runner, modelPath)
		if err == nil {
			accepted = append(accepted, name)
			continue
		}
		var unusable *backend.UnusableModelError
		if errors.As(err, &unusable) { // the runner's kind of model, which cannot be packed as it is
			return "", fmt.Errorf("%s runner: %w", name, err)
		}
		if !errors.Is(err, ErrModel) { // not a verdict on the model: a missing file, a failed stage
			return "", err
		}
		refusals = append(refusals, fmt.Sprintf("%s: %v", name, err))
	}
	switch len(accepted) {
	case 1:
		return accepted[0], nil
	case 0:
		if len(refusals) == 0 {
			return "", fmt.Errorf("%w: no runner that can recognize a model is registered (import carton/backend/onnx, libtorch or tensorflow); name the runner", ErrModel)
		}
		return "", fmt.Errorf("%w: no runner recognizes %s (%s); name the runner", ErrModel, modelPath, strings.Join(refusals, "; "))
	}
	return "", fmt.Errorf("%w: %s could be a model for %s; name the runner", ErrModel, modelPath, strings.Join(accepted, " or "))
}

// checkAs has checker look at the model laid out as runner would store it.
func checkAs(checker backend.ModelChecker, runner backend.Runner, modelPath string) error {
	entries, err := modelEntries(modelPath, "", runner, true)
	if err != nil {
		return err
	}
	dir, cleanup, err := stageModel(modelPath, entries)
	if err != nil {
		return err
	}
	defer cleanup()
	return checker.CheckModel(dir)
}
