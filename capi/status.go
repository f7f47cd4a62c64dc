package main

import (
	"context"
	"errors"
	"io/fs"

	"github.com/carton-run/carton"
)

// The codes of carton_status (include/carton.h).
const (
	statusOK              = 0
	statusInvalidArgument = 1
	statusInvalidInput    = 2
	statusNoRuntime       = 3
	statusChecksum        = 4
	statusClosed          = 5
	statusMalformed       = 6
	statusModel           = 7
	statusFramework       = 8
	statusInvalidOption   = 9
	statusUnknownRunner   = 10
	statusPlatform        = 11
	statusNotFound        = 12
	statusOffline         = 13
	statusRemote          = 14
	statusOther           = 99
)

// errInvalidArgument marks a misuse of the C API itself.
var errInvalidArgument = errors.New("invalid argument")

// statusOf is the carton_status an error maps to: the first sentinel of
// this list that it wraps (an invalid input before the framework error
// that may carry it).
func statusOf(err error) int {
	for _, m := range []struct {
		target error
		code   int
	}{
		{errInvalidArgument, statusInvalidArgument},
		{carton.ErrClosed, statusClosed},
		{carton.ErrChecksum, statusChecksum},
		{carton.ErrInvalidInput, statusInvalidInput},
		{carton.ErrInvalidTensor, statusInvalidInput},
		{carton.ErrInvalidOption, statusInvalidOption},
		{carton.ErrOffline, statusOffline}, // before the ErrNoRuntime it may come with
		{carton.ErrNoRuntime, statusNoRuntime},
		{carton.ErrUnknownRunner, statusUnknownRunner},
		{carton.ErrPlatform, statusPlatform},
		{carton.ErrRemoteChanged, statusRemote},
		{carton.ErrRemoteStalled, statusRemote},
		{carton.ErrMalformed, statusMalformed},
		{carton.ErrUnsafePath, statusMalformed},
		{carton.ErrLimit, statusMalformed},
		{carton.ErrModel, statusModel},
		{carton.ErrFramework, statusFramework},
		{fs.ErrNotExist, statusNotFound},
		{context.Canceled, statusOther},
	} {
		if errors.Is(err, m.target) {
			return m.code
		}
	}
	if err == nil {
		return statusOK
	}
	return statusOther
}
