package carton

import (
	"errors"

	"github.com/carton-run/carton/backend"
	"github.com/carton-run/carton/format"
	"github.com/carton-run/carton/internal/httpfile"
	"github.com/carton-run/carton/tensor"
)

// Sentinels, re-exported from the packages that return them so that callers
// need import only this one.
var (
	ErrMalformed     = format.ErrMalformed
	ErrChecksum      = format.ErrChecksum
	ErrUnsafePath    = format.ErrUnsafePath
	ErrLimit         = format.ErrLimit
	ErrOffline       = format.ErrOffline
	ErrUnknownRunner = backend.ErrUnknownRunner
	ErrNoRuntime     = backend.ErrNoRuntime
	ErrPlatform      = backend.ErrPlatform
	ErrInvalidTensor = tensor.ErrInvalid

	ErrInvalidInput  = backend.ErrInvalidInput
	ErrInvalidOption = backend.ErrInvalidOption
	ErrModel         = backend.ErrModel
	ErrFramework     = backend.ErrFramework

	// ErrRemoteChanged: a carton read by URL changed on the server while
	// it was being read. ErrRemoteStalled: its server sent nothing for
	// FetchOptions.StallTimeout. A URL that is not there wraps fs.ErrNotExist.
	ErrRemoteChanged = httpfile.ErrChanged
	ErrRemoteStalled = httpfile.ErrStalled

	// ErrClosed: the model was closed.
	ErrClosed = errors.New("model closed")
	// ErrSelfTest: a self-test failed or could not run.
	ErrSelfTest = errors.New("self-test failed")
)
