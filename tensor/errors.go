package tensor

import "errors"

// ErrInvalid is wrapped by every error this package returns: a data length
// that does not match the shape, a negative dimension, a dtype mismatch, or a
// use of a released tensor.
var ErrInvalid = errors.New("invalid tensor")
